"""Items for the checks: baozi orders from Faker (Chinese and English), plus the values that break
careless code: falsy items (0, "", [], False, 0.0), unicode, nested containers and, on request,
large ones. Everything is seeded, so a failure can be replayed with ``--seed``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from functools import lru_cache

EDGE_ITEMS = (0, "", [], False, 0.0, "🥟 包子", {"filling": ["猪肉", "白菜"], "steamed": (1, None)})
FALSY_ITEMS = (0, "", [], False, 0.0, ())


# The one Faker is seeded for each call, then drawn from: a call must have it to itself, or the grader's
# checks, which make their items at the same time in threads of one process, draw from each other's
# seeds, and the same seed gives other items from one run to the next.
_FAKER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _faker():
    from faker import Faker  # imported on first use: it takes a moment

    # Only the providers _order draws from (names, words): every grader's runner makes one, and
    # Faker's full set of providers takes 35 ms of CPU to set up, these two under 1 ms, for the
    # same items.
    return Faker(["zh_CN", "en_US"], providers=["faker.providers.person", "faker.providers.lorem"])


def _order(fake, rng: random.Random, number: int):
    """One baozi order, in one of a few shapes (all picklable, none None)."""
    locale = rng.choice(["zh_CN", "en_US"])
    person = fake[locale].name()
    shape = rng.randrange(4)
    if shape == 0:
        return f"包子 #{number} for {person}"
    if shape == 1:
        return {"order": number, "customer": person, "fillings": [fake[locale].word() for _ in range(2)]}
    if shape == 2:
        return (number, person, rng.randint(1, 12))
    return number * 1000 + rng.randint(1, 999)


def items(seed: int, count: int, *, salt: str = "", edge: bool = True, large: int = 0) -> list:
    """`count` items (count >= 1): orders from Faker, with the edge values mixed in when `edge`.

    `large` adds that many items of about 100 kB each (a nested, unicode-heavy string list).
    Every item is distinct by repr, so a lost or doubled one is always visible.
    """
    rng = random.Random(f"{seed}:{salt}:{count}")
    with _FAKER_LOCK:
        fake = _faker()
        fake.seed_instance(rng.randrange(2**32))
        chosen = list(EDGE_ITEMS[: min(len(EDGE_ITEMS), count // 2)]) if edge else []
        chosen += [["大包子", f"{rng.getrandbits(64):x}", "馅" * 50_000] for _ in range(large)]
        number = 1
        seen = {repr(item) for item in chosen}
        while len(chosen) < count:
            candidate = _order(fake, rng, number)
            number += 1
            if repr(candidate) not in seen:
                seen.add(repr(candidate))
                chosen.append(candidate)
    rng.shuffle(chosen)
    return chosen


EDGE_TEXTS = ("", "0", "None", "False", " ", "🥟 包子", "猪肉\n白菜")


def texts(seed: int, count: int, *, salt: str = "") -> list[str]:
    """`count` distinct strings (message bodies for RabbitMQ): orders from Faker as text, with the
    strings careless code mistakes for "nothing" mixed in ("", "0", "None", ...)."""
    chosen = list(EDGE_TEXTS[: min(len(EDGE_TEXTS), count // 2)])
    seen = set(chosen)
    for item in items(seed, count * 2 + 2, salt=f"texts:{salt}", edge=False):
        if len(chosen) == count:
            break
        text = item if isinstance(item, str) else repr(item)
        if text not in seen:
            seen.add(text)
            chosen.append(text)
    random.Random(f"{seed}:{salt}:texts").shuffle(chosen)
    return chosen


def text_batches(seed: int, sizes: list[int], *, salt: str = "") -> list[list[str]]:
    """One list of strings per publisher, all distinct across batches."""
    pool = texts(seed, max(1, sum(sizes)), salt=salt)
    return [pool[sum(sizes[:i]):sum(sizes[:i + 1])] for i in range(len(sizes))]


def batches(seed: int, sizes: list[int], *, salt: str = "") -> list[list]:
    """One list of items per producer, all items distinct across batches."""
    pool = items(seed, max(1, sum(sizes)), salt=salt)
    out, start = [], 0
    for size in sizes:
        out.append(pool[start:start + size])
        start += size
    return out


def key(item) -> str:
    """A hashable stand-in for any item (lists and dicts are not hashable)."""
    return repr(item)


def short(item, width: int = 40) -> str:
    text = repr(item)
    return text if len(text) <= width else text[: width - 1] + "…"


def compare(expected: list, got: list) -> tuple[list, list, list]:
    """Multiset difference: (never consumed, consumed too often, never expected), each with repeats."""
    want = Counter(key(x) for x in expected)
    have = Counter(key(x) for x in got)
    originals = {key(x): x for x in [*expected, *got]}
    missing = [originals[k] for k, n in (want - have).items() for _ in range(n)]
    extra = have - want
    doubled = [originals[k] for k, n in extra.items() if k in want for _ in range(n)]
    unknown = [originals[k] for k, n in extra.items() if k not in want for _ in range(n)]
    return missing, doubled, unknown
