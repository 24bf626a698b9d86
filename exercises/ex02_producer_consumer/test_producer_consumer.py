"""Visible checks for exercise 2. Run: pytest exercises/ex02_producer_consumer"""

from grader.checking.mistakes import Words
from grader.checking.scenarios.ex02_producer_consumer import DELIVER, lost_results

LINGER = 0.5  # a consumer that asks to wait longer than this for the next item (or forever) keeps waiting


def _deliver(kit, items, *, producer_delay=0.0, consumer_delay=0.0, linger=0.0):
    """start(items, ...): the outcome, whose value is everything observed about the two processes."""
    outcome = kit.run(DELIVER, items=items, producer_delay=producer_delay, consumer_delay=consumer_delay,
                      linger=linger)
    seen = outcome.value
    if seen.threads:
        kit.fail("ex02.threads", threads=", ".join(seen.threads), mistake="any.threads-not-processes")
    if seen.shape != "ok":
        kinds = ", ".join(seen.kinds or []) or seen.shape
        kit.fail("ex02.wrong-return", kinds=kinds)
    kit.expect_results_awaited(seen, items, what=Words("ex02.the-consumer"))
    return outcome


def test_start_returns_two_processes_and_two_queues(kit):
    seen = _deliver(kit, kit.items(6)).value
    if not seen.started or not seen.distinct:
        kit.fail("ex02.not-started")
    if len(seen.processes) != 2:
        kit.fail("ex02.process-count", count=len(seen.processes), names=", ".join(seen.processes))


def test_consumer_forwards_every_item_in_order(kit):
    items = kit.items(12)
    seen = _deliver(kit, items).value
    kit.expect_items(seen.got, items, what=Words("the-results-queue"), ordered=True,
                     look_at="ex02.forward-every-item", mistake=lost_results(seen.got))


def test_consumer_waits_for_a_slow_producer(kit):
    items = kit.items(10)
    seen = _deliver(kit, items, producer_delay=0.03).value
    kit.expect_items(seen.got, items, what=Words("ex02.results-slow-producer"), ordered=True,
                     look_at="ex02.empty-is-not-the-end", mistake=lost_results(seen.got))
    kit.expect_took_at_least(seen, len(items) * 0.03, what=Words("ex02.the-producer"),
                             why=Words("items-with-producer-delay", count=len(items), delay=0.03),
                             delay=0.03, by="producer")
    if seen.producer_exitcode != 0:
        kit.fail("ex02.producer-did-not-end", code=seen.producer_exitcode)


def test_consumer_never_returns(kit):
    items = kit.items(6)
    seen = _deliver(kit, items, linger=LINGER).value
    if not seen.consumer_alive:
        kit.fail("ex02.consumer-ended", linger=LINGER, code=seen.consumer_exitcode,
                 mistake="ex02.consumer-gives-up")


def test_slow_consumer_keeps_order(kit):
    items = kit.items(10)
    seen = _deliver(kit, items, consumer_delay=0.02).value
    kit.expect_items(seen.got, items, what=Words("ex02.results-slow-consumer"), ordered=True,
                     look_at="ex02.sleep-then-forward", mistake=lost_results(seen.got))
    kit.expect_took_at_least(seen, len(items) * 0.02, what=Words("ex02.the-consumer"),
                             why=Words("items-with-consumer-delay", count=len(items), delay=0.02),
                             delay=0.02, by="consumer")


def test_consumer_blocks_instead_of_spinning(kit):
    items = kit.items(12)
    outcome = _deliver(kit, items, producer_delay=0.05, linger=0.1)
    kit.expect_items(outcome.value.got, items, what=Words("the-results-queue"), ordered=True,
                     look_at="ex02.block-in-get", mistake=lost_results(outcome.value.got))
    kit.expect_no_spin(outcome, while_=Words("waiting-for-slow-producer"))
