import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

from grader.checking import payloads


def test_items_are_seeded_distinct_and_hold_the_edge_values():
    first = payloads.items(7, 20)
    assert first == payloads.items(7, 20)
    assert first != payloads.items(8, 20)
    assert len({payloads.key(x) for x in first}) == 20
    assert None not in first
    for edge in (0, "", [], False, 0.0):
        assert any(payloads.key(x) == payloads.key(edge) for x in first)
    assert any(isinstance(x, str) and any("\u4e00" <= ch <= "\u9fff" for ch in x) for x in first)


def test_a_seed_gives_the_same_items_when_many_threads_draw_at_once():
    """The grader's runner makes each check's items in a thread of its own, several at once: a seed
    must give the same items there as alone (the --seed of a report replays them)."""
    calls = [(seed, 20 + seed % 7, f"check-{seed}") for seed in range(48)]
    alone = [payloads.items(seed, count, salt=salt) for seed, count, salt in calls]
    start = threading.Barrier(8)

    def draw(call):
        seed, count, salt = call
        if seed < 8:
            start.wait(timeout=30)  # the first eight start together
        return payloads.items(seed, count, salt=salt)

    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(draw, calls))
    differ = [seed for (seed, _, _), a, b in zip(calls, alone, together) if a != b]
    assert not differ, f"these seeds gave other items in threads: {differ}"


def test_large_items_are_large():
    big = [x for x in payloads.items(1, 4, large=2) if len(pickle.dumps(x)) > 100_000]
    assert len(big) == 2


def test_batches_share_no_item():
    batches = payloads.batches(3, [4, 0, 6])
    assert [len(b) for b in batches] == [4, 0, 6]
    flat = [payloads.key(x) for b in batches for x in b]
    assert len(set(flat)) == len(flat)


def test_compare_reports_missing_doubled_and_unknown_as_multisets():
    missing, doubled, unknown = payloads.compare([0, "", [1], "a"], [0, 0, [1], "zz"])
    assert missing == ["", "a"]
    assert doubled == [0]
    assert unknown == ["zz"]
    assert payloads.compare([False, 0], [0, False]) == ([], [], [])
