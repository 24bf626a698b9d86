"""Visible checks for exercise 3. Run: pytest exercises/ex03_sentinel"""

from grader.checking.mistakes import Words
from grader.checking.payloads import FALSY_ITEMS, short
from grader.checking.scenarios.ex03_sentinel import CONSUMER_STOPS, PRODUCER_ONLY_ITEMS, RUN_ITEMS

# What a failure says to look at is a name of the words in grader/checking/catalogue/<language>.toml.
LOOK_AT_SENTINEL = "ex03.sentinel-after-join"
# The item the kit puts behind the None (grader.checking.scenarios.common.consumer_stops): data, not words.
BEHIND_THE_NONE = "after the sentinel"


def _run(kit, items, *, producer_delay=0.0, consumer_delay=0.0):
    """run(items, ...) in a fresh process tree; the outcome's value holds what it returned and
    which processes it started."""
    outcome = kit.run(RUN_ITEMS, items=items, producer_delay=producer_delay, consumer_delay=consumer_delay)
    seen = outcome.value
    if isinstance(seen.value, list):  # a list came back: now check how it was made and ended
        if items:
            kit.expect_processes(seen, at_least=2, what="run()")
        kit.expect_clean_shutdown(seen, what="run()")
        kit.expect_sentinels_after_producers(seen, what="run()")
        kit.expect_results_awaited(seen, items, what="run()")
    if producer_delay:
        kit.expect_took_at_least(seen, len(items) * producer_delay, what="run()",
                                 why=Words("items-with-producer-delay", count=len(items),
                                           delay=producer_delay),
                                 delay=producer_delay, by="producer")
        kit.expect_overlap(seen, what="run()")
    if consumer_delay:
        kit.expect_took_at_least(seen, len(items) * consumer_delay, what="run()",
                                 why=Words("items-with-consumer-delay", count=len(items),
                                           delay=consumer_delay),
                                 delay=consumer_delay, by="consumer")
    return outcome


def _stopped_at_falsy(got, items) -> bool:
    """Whether the items stopped coming right before a falsy one (0, '', []): taken for the sentinel."""
    return isinstance(got, list) and len(got) < len(items) and got == items[:len(got)] and not items[len(got)]


def test_run_returns_every_item_in_order(kit):
    items = kit.items(12)
    seen = _run(kit, items).value
    kit.expect_items(seen.value, items, what="run()", ordered=True,
                     look_at="ex03.len-items-results")


def test_run_waits_for_a_slow_producer(kit):
    items = kit.items(10)
    seen = _run(kit, items, producer_delay=0.03).value
    kit.expect_items(seen.value, items, what=Words("ex03.run-slow-producer"), ordered=True,
                     look_at="ex03.sentinel-after-join-not-empty")


def test_run_with_a_slow_consumer(kit):
    items = kit.items(10)
    seen = _run(kit, items, consumer_delay=0.03).value
    kit.expect_items(seen.value, items, what=Words("ex03.run-slow-consumer"), ordered=True,
                     look_at="wait-for-every-result")


def test_falsy_items_are_items_not_sentinels(kit):
    items = [*FALSY_ITEMS, *kit.items(3, edge=False)]
    seen = _run(kit, items).value
    kit.expect_items(seen.value, items, what=Words("ex03.run-falsy-items"), ordered=True,
                     look_at="ex03.is-none-not-falsy",
                     mistake="ex03.falsy-item-taken-for-sentinel" if _stopped_at_falsy(seen.value, items) else None)


def test_large_items_pass_through(kit):
    items = kit.items(6, large=3)
    seen = _run(kit, items).value
    kit.expect_items(seen.value, items, what=Words("ex03.run-large-items"), ordered=True,
                     look_at="ex03.take-before-join")


def test_consumer_returns_at_the_sentinel(kit):
    items = kit.items(6)
    seen = kit.run(CONSUMER_STOPS, items=items).value
    kit.expect_items(seen.got, items, what=Words("ex03.what-consumer-forwarded"), ordered=True,
                     look_at="ex03.forward-before-none",
                     mistake="ex03.falsy-item-taken-for-sentinel" if _stopped_at_falsy(seen.got, items) else None)
    if seen.extra:
        kit.fail("ex03.sentinel-forwarded", extra=short(seen.extra[0]),
                 mistake="ex03.sentinel-forwarded")
    if seen.behind != BEHIND_THE_NONE:
        kit.fail("ex03.stop-at-none", behind=short(seen.behind))


def test_producer_puts_only_the_items(kit):
    items = kit.items(6)
    seen = kit.run(PRODUCER_ONLY_ITEMS, items=items).value
    kit.expect_items(seen.got, items, what=Words("ex03.what-producer-put"), ordered=True,
                     look_at="ex03.put-every-item")
    if seen.extra:
        kit.fail("ex03.producer-put-more", extra=short(seen.extra[0]),
                 mistake="ex03.producer-puts-sentinel")


def test_run_starts_one_producer_and_one_consumer_process(kit):
    seen = _run(kit, kit.items(4)).value
    if seen.threads:
        kit.fail("threads", what="run()", threads=", ".join(seen.threads), mistake="any.threads-not-processes")
    if len(seen.processes) != 2:
        kit.fail("ex03.process-count", count=len(seen.processes), names=", ".join(seen.processes))


def test_consumer_blocks_instead_of_spinning(kit):
    items = kit.items(14)
    outcome = _run(kit, items, producer_delay=0.05)
    kit.expect_items(outcome.value.value, items, what=Words("ex03.run-slow-producer"), ordered=True,
                     look_at=LOOK_AT_SENTINEL)
    kit.expect_no_spin(outcome, while_=Words("waiting-for-slow-producer"))
