"""The mistakes the kit recognises: stable keys, and their words in each language; and the words
of the kit's reports (the likely causes of a hang, the report of a check that cannot go on).

The code that judges a run decides *which* mistake a failure shows (``kit.fail(..., mistake=KEY)``,
``diagnose.causes``); what the mistake is called lives in the catalogue, ``catalogue/<lang>.toml``,
one file per language with the same keys (TOML: the standard library reads it, and a translator
edits one short table per key). A key travels with a failed check's result out of the sandbox into
``results.json`` (its ``tags``) and ``summary.md``: that crossing is untrusted data, so a reader keeps
only keys the catalogue knows (``known``).
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATALOGUE = Path(__file__).with_name("catalogue")
LANGUAGES = ("en", "zh_CN")
DEFAULT_LANGUAGE = "en"
PER_CHECK = 2  # keys a failed check carries at most (the contract's "Mistake keys")
KEY_PATTERN = re.compile(r"(any|ex\d\d)\.[a-z0-9]+(-[a-z0-9]+)*")


@functools.lru_cache(maxsize=None)
def catalogue(language: str = DEFAULT_LANGUAGE) -> dict[str, dict]:
    """Every key of `language`'s catalogue, with its texts."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalogue for {language!r} (there are: {', '.join(LANGUAGES)})")
    with open(CATALOGUE / f"{language}.toml", "rb") as handle:
        return tomllib.load(handle)


@functools.lru_cache(maxsize=None)
def keys() -> frozenset[str]:
    return frozenset(key for key in catalogue(DEFAULT_LANGUAGE) if KEY_PATTERN.fullmatch(key))


def say(section: str, name: str, language: str = DEFAULT_LANGUAGE, **params) -> str:
    """The text `name` of the catalogue's table `section` ("cause", "report") in `language`, its
    placeholders filled from `params`. A text one language lacks is said in English."""
    entry = catalogue(language).get(section, {}).get(name) or catalogue(DEFAULT_LANGUAGE)[section][name]
    return entry["text"].format(**params)


def title(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    entry = catalogue(language).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or {}
    return entry.get("title", key)


def known(values, limit: int = PER_CHECK) -> tuple[str, ...]:
    """The keys among `values` (untrusted: anything) that the catalogue knows, each once, in order,
    at most `limit` of them."""
    if not isinstance(values, (list, tuple)):
        return ()
    every = keys()
    return first([value for value in values if isinstance(value, str) and value in every], limit)


def first(found, limit: int = PER_CHECK) -> tuple[str, ...]:
    """The first `limit` distinct keys of `found`, in order (the most telling comes first)."""
    return tuple(dict.fromkeys(found))[:limit]


def of(mistake) -> tuple[str, ...]:
    """A `mistake=` argument (None, a key, or several) as keys; a key the catalogue lacks is the
    kit's own bug, and fails loudly where it was written."""
    found = () if mistake is None else (mistake,) if isinstance(mistake, str) else tuple(mistake)
    unknown = [key for key in found if key not in keys()]
    if unknown:
        raise ValueError(f"mistake keys not in {CATALOGUE / (DEFAULT_LANGUAGE + '.toml')}: {unknown}")
    return found
