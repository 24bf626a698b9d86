"""Visible checks for exercise 3. Run: pytest exercises/ex03_sentinel"""

from grader.checking.payloads import FALSY_ITEMS, short

LOOK_AT_SENTINEL = ("join the producer first, then put None: a sentinel put earlier can overtake items "
                    "the producer has not put yet")


def _run(kit, items, *, producer_delay=0.0, consumer_delay=0.0):
    """run(items, ...) in a fresh process tree; the outcome's value holds what it returned and
    which processes it started."""
    work = len(items) * (producer_delay + consumer_delay)
    outcome = kit.run("run_items", action="run(items)", items=items, producer_delay=producer_delay,
                      consumer_delay=consumer_delay, work=work, processes=2)
    seen = outcome.value
    if not isinstance(seen["value"], dict):  # a list came back: now check how it was made and ended
        if items:
            kit.expect_processes(seen, at_least=2, what="run()")
        kit.expect_clean_shutdown(seen, what="run()")
        kit.expect_sentinels_after_producers(seen, what="run()")
        kit.expect_results_awaited(seen, items, what="run()")
    if producer_delay:
        kit.expect_took_at_least(seen, len(items) * producer_delay, what="run()",
                                 why=f"{len(items)} items, producer_delay={producer_delay}",
                                 delay=producer_delay, by="producer")
        kit.expect_overlap(seen, what="run()")
    if consumer_delay:
        kit.expect_took_at_least(seen, len(items) * consumer_delay, what="run()",
                                 why=f"{len(items)} items, consumer_delay={consumer_delay}",
                                 delay=consumer_delay, by="consumer")
    return outcome


def _stopped_at_falsy(got, items) -> bool:
    """Whether the items stopped coming right before a falsy one (0, '', []): taken for the sentinel."""
    return isinstance(got, list) and len(got) < len(items) and got == items[:len(got)] and not items[len(got)]


def test_run_returns_every_item_in_order(kit):
    items = kit.items(12)
    seen = _run(kit, items).value
    kit.expect_items(seen["value"], items, what="run()", ordered=True,
                     look_at="take exactly len(items) results, and return them as a list")


def test_run_waits_for_a_slow_producer(kit):
    items = kit.items(10)
    seen = _run(kit, items, producer_delay=0.03).value
    kit.expect_items(seen["value"], items, what="run() with a slow producer", ordered=True,
                     look_at=LOOK_AT_SENTINEL + "; and an empty queue does not mean the end")


def test_run_with_a_slow_consumer(kit):
    items = kit.items(10)
    seen = _run(kit, items, consumer_delay=0.03).value
    kit.expect_items(seen["value"], items, what="run() with a slow consumer", ordered=True,
                     look_at="wait for every result before you return")


def test_falsy_items_are_items_not_sentinels(kit):
    items = [*FALSY_ITEMS, *kit.items(3, edge=False)]
    seen = _run(kit, items).value
    kit.expect_items(seen["value"], items, what="run() with falsy items", ordered=True,
                     look_at="stop on `item is None`; `if not item` also stops on 0, '' and []",
                     mistake="ex03.falsy-item-taken-for-sentinel" if _stopped_at_falsy(seen["value"], items) else None)


def test_large_items_pass_through(kit):
    items = kit.items(6, large=3)
    seen = _run(kit, items).value
    kit.expect_items(seen["value"], items, what="run() with items of 100 kB", ordered=True,
                     look_at="take the results before you join the consumer: a process that put "
                             "more than a pipe holds cannot end until someone reads it")


def test_consumer_returns_at_the_sentinel(kit):
    items = kit.items(6)
    seen = kit.run("consumer_stops", action="consumer(q, results) with [items..., None, more]",
                   items=items).value
    kit.expect_items(seen["got"], items, what="what consumer() forwarded", ordered=True,
                     look_at="forward every item before the None",
                     mistake="ex03.falsy-item-taken-for-sentinel" if _stopped_at_falsy(seen["got"], items) else None)
    if seen["extra"]:
        kit.fail("consumer() forwarded the sentinel too.", expected="None is not forwarded",
                 got=f"results also held {short(seen['extra'][0])}",
                 look_at="check for None before you put on results", mistake="ex03.sentinel-forwarded")
    if seen["behind"] != "after the sentinel":
        kit.fail("consumer() must stop at the None and leave what comes after it.",
                 expected="the item behind the None still on the queue",
                 got=f"{short(seen['behind'])}", look_at="return right after taking None")


def test_producer_puts_only_the_items(kit):
    items = kit.items(6)
    seen = kit.run("producer_only_items", action="producer(q, items)", items=items).value
    kit.expect_items(seen["got"], items, what="what producer() put", ordered=True,
                     look_at="put every item, in order")
    if seen["extra"]:
        kit.fail("producer() put something after the items.", expected="only the items",
                 got=f"also {short(seen['extra'][0])}",
                 look_at="the sentinel is run()'s job, after producer.join(): with several producers "
                         "a sentinel from each would stop the consumers too early",
                 mistake="ex03.producer-puts-sentinel")


def test_run_starts_one_producer_and_one_consumer_process(kit):
    seen = _run(kit, kit.items(4)).value
    if seen["threads"]:
        kit.fail("run() used threads; this lesson is about processes.",
                 expected="multiprocessing.Process", got=f"threads running {', '.join(seen['threads'])}",
                 mistake="any.threads-not-processes")
    if len(seen["processes"]) != 2:
        kit.fail("run() must start one producer process and one consumer process.",
                 expected="2 processes", got=f"{len(seen['processes'])}: {', '.join(seen['processes'])}",
                 look_at="multiprocessing.Process(target=producer, ...) and (target=consumer, ...)")


def test_consumer_blocks_instead_of_spinning(kit):
    items = kit.items(14)
    outcome = _run(kit, items, producer_delay=0.05)
    kit.expect_items(outcome.value["value"], items, what="run() with a slow producer", ordered=True,
                     look_at=LOOK_AT_SENTINEL)
    kit.expect_no_spin(outcome, while_="waiting for a slow producer")
