"""Visible checks for exercise 2. Run: pytest exercises/ex02_producer_consumer"""

from grader.checking.scenarios.ex02_producer_consumer import lost_results

LINGER = 0.5  # a consumer that asks to wait longer than this for the next item (or forever) keeps waiting


def _deliver(kit, items, *, producer_delay=0.0, consumer_delay=0.0, linger=0.0):
    """start(items, ...): the outcome, whose value is everything observed about the two processes."""
    work = len(items) * (producer_delay + consumer_delay) + linger
    outcome = kit.run("deliver", action="start(items)", items=items, producer_delay=producer_delay,
                      consumer_delay=consumer_delay, linger=linger, work=work, processes=2)
    seen = outcome.value
    if seen["threads"]:
        kit.fail("start() used threads; this lesson is about processes.",
                 expected="multiprocessing.Process for the producer and the consumer",
                 got=f"threading.Thread running {', '.join(seen['threads'])}",
                 look_at="multiprocessing.Process(target=producer, args=(q, items, delay))",
                 mistake="any.threads-not-processes")
    if seen["shape"] != "ok":
        kinds = ", ".join(seen.get("kinds", [])) or seen["shape"]
        kit.fail("start() must return (producer_process, consumer_process, q, results).",
                 expected="a 4-tuple: two started multiprocessing.Process objects and two queues",
                 got=kinds, look_at="return p, c, q, results")
    kit.expect_results_awaited(seen, items, what="the consumer")
    return outcome


def test_start_returns_two_processes_and_two_queues(kit):
    seen = _deliver(kit, kit.items(6)).value
    if not seen["started"] or not seen["distinct"]:
        kit.fail("Both processes must be started, and be two different processes.",
                 expected="p.start() and c.start() before returning", got="a process that never started")
    if len(seen["processes"]) != 2:
        kit.fail("start() must start exactly two processes: one producer, one consumer.",
                 expected="2 processes", got=f"{len(seen['processes'])}: {', '.join(seen['processes'])}")


def test_consumer_forwards_every_item_in_order(kit):
    items = kit.items(12)
    seen = _deliver(kit, items).value
    kit.expect_items(seen["got"], items, what="the results queue", ordered=True,
                     look_at="the consumer puts every item it takes on results, falsy ones too",
                     mistake=lost_results(seen["got"]))


def test_consumer_waits_for_a_slow_producer(kit):
    items = kit.items(10)
    seen = _deliver(kit, items, producer_delay=0.03).value
    kit.expect_items(seen["got"], items, what="the results queue (slow producer)", ordered=True,
                     look_at="an empty queue does not mean the end: block in q.get() until an item "
                             "comes (a loop on `while not q.empty()` stops too early)", mistake=lost_results(seen["got"]))
    kit.expect_took_at_least(seen, len(items) * 0.03, what="the producer",
                             why=f"{len(items)} items, producer_delay=0.03", delay=0.03, by="producer")
    if seen["producer_exitcode"] != 0:
        kit.fail("The producer must end by itself once every item is put.", expected="exit code 0",
                 got=f"exit code {seen['producer_exitcode']}")


def test_consumer_never_returns(kit):
    items = kit.items(6)
    seen = _deliver(kit, items, linger=LINGER).value
    if not seen["consumer_alive"]:
        kit.fail("The consumer of this demo must keep waiting for more items.",
                 expected=f"still waiting for items after the last one (longer than {LINGER} s of timeouts)",
                 got=f"it ended (exit code {seen['consumer_exitcode']})",
                 look_at="while True: item = q.get() ... (exercise 3 adds the way to stop it)",
                 mistake="ex02.consumer-gives-up")


def test_slow_consumer_keeps_order(kit):
    items = kit.items(10)
    seen = _deliver(kit, items, consumer_delay=0.02).value
    kit.expect_items(seen["got"], items, what="the results queue (slow consumer)", ordered=True,
                     look_at="sleep `delay`, then put the item on results", mistake=lost_results(seen["got"]))
    kit.expect_took_at_least(seen, len(items) * 0.02, what="the consumer",
                             why=f"{len(items)} items, consumer_delay=0.02", delay=0.02, by="consumer")


def test_consumer_blocks_instead_of_spinning(kit):
    items = kit.items(12)
    outcome = _deliver(kit, items, producer_delay=0.05, linger=0.1)
    kit.expect_items(outcome.value["got"], items, what="the results queue", ordered=True,
                     look_at="block in q.get() until an item comes", mistake=lost_results(outcome.value["got"]))
    kit.expect_no_spin(outcome, while_="waiting for a slow producer")
