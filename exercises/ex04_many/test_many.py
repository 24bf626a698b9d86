"""Visible checks for exercise 4. Run: pytest exercises/ex04_many"""

from grader.checking.mistakes import Words
from grader.checking.roles import PRODUCER, plays
from grader.checking.scenarios.ex04_many import RUN_BATCHES

# What a failure says to look at is a name of the words in grader/checking/catalogue/<language>.toml.
LOOK_AT_COUNT = "ex04.count"


def _run(kit, batches, n_consumers, *, producer_delay=0.0, consumer_delay=0.0):
    """run(batches, n_consumers, ...) in a fresh process tree."""
    total = sum(len(b) for b in batches)
    longest = max((len(b) for b in batches), default=0)
    outcome = kit.run(RUN_BATCHES, batches=batches, n_consumers=n_consumers, producer_delay=producer_delay,
                      consumer_delay=consumer_delay)
    seen = outcome.value
    if isinstance(seen.value, list):  # a list came back: now check how it was made and ended
        if total:
            kit.expect_processes(seen, at_least=2, what="run()")
        kit.expect_clean_shutdown(seen, what="run()")
        kit.expect_sentinels_after_producers(seen, what="run()")
        kit.expect_results_awaited(seen, [item for batch in batches for item in batch], what="run()")
    if producer_delay:
        kit.expect_took_at_least(seen, longest * producer_delay, what="run()",
                                 why=Words("longest-batch", longest=longest, delay=producer_delay),
                                 delay=producer_delay, by="producer")
        kit.expect_overlap(seen, what="run()")
    if consumer_delay:
        kit.expect_took_at_least(seen, total * consumer_delay / max(1, n_consumers), what="run()",
                                 why=Words("shared-by-consumers", total=total, consumers=n_consumers,
                                           delay=consumer_delay),
                                 delay=consumer_delay, by="consumer")
    return outcome


def _every_item(kit, batches, seen, look_at):
    expected = [item for batch in batches for item in batch]
    kit.expect_items(seen.value, expected, what="run()", ordered=False, look_at=look_at)


def test_every_item_consumed_exactly_once(kit):
    batches = kit.batches([6, 6, 6])
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "one-result-per-item")


def test_one_sentinel_per_consumer(kit):
    batches = kit.batches([9])
    seen = _run(kit, batches, 3).value
    _every_item(kit, batches, seen, LOOK_AT_COUNT)


def test_sentinels_wait_for_every_producer(kit):
    batches = kit.batches([2, 10, 4])
    seen = _run(kit, batches, 2, producer_delay=0.03).value
    _every_item(kit, batches, seen, "ex04.sentinels-wait")


def test_large_items_pass_through(kit):
    batches = [kit.items(3, large=2), kit.items(3, large=2, salt="second")]
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "ex04.take-before-join")


def test_more_consumers_than_items(kit):
    batches = kit.batches([1, 1])
    seen = _run(kit, batches, 4).value
    _every_item(kit, batches, seen, "ex04.none-even-without-items")


def test_no_items_at_all(kit):
    seen = _run(kit, [[], []], 2).value
    _every_item(kit, [[], []], seen, "ex04.stop-with-nothing")


def test_slow_consumers(kit):
    batches = kit.batches([8, 8])
    seen = _run(kit, batches, 3, consumer_delay=0.02).value
    _every_item(kit, batches, seen, "wait-for-every-result")


def test_one_producer_process_per_batch(kit):
    batches = kit.batches([3, 3])
    seen = _run(kit, batches, 3).value
    if seen.threads:
        kit.fail("threads", what="run()", threads=", ".join(seen.threads), mistake="any.threads-not-processes")
    if len(seen.processes) != len(batches) + 3:
        producers = [name for name in seen.processes if plays(name, PRODUCER)]
        kit.fail("process-per-batch", producers=len(batches), consumers=3, total=len(batches) + 3,
                 count=len(seen.processes), names=", ".join(seen.processes),
                 mistake="ex04.single-producer" if len(producers) == 1 else None)


def test_consumers_block_instead_of_spinning(kit):
    batches = kit.batches([18])
    outcome = _run(kit, batches, 2, producer_delay=0.05)
    _every_item(kit, batches, outcome.value, LOOK_AT_COUNT)
    kit.expect_no_spin(outcome, while_=Words("waiting-for-slow-producer"))
