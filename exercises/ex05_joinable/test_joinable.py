"""Visible checks for exercise 5. Run: pytest exercises/ex05_joinable"""


LOOK_AT_TASK_DONE = "one q.task_done() per item taken, after its result is on `results`"
LOOK_AT_RESULTS = ("after q.join() every result has been put, but may still be on its way to `results`: "
                   "take exactly one result per item with results.get() instead of asking "
                   "results.empty() (whether the items were there in one run is luck)")


def _run(kit, batches, n_consumers, *, producer_delay=0.0, consumer_delay=0.0, at_exit=False):
    """run(batches, n_consumers, ...) in a fresh process tree; with `at_exit`, the program then
    ends as a real one would (daemon children terminated, the others joined)."""
    total = sum(len(b) for b in batches)
    longest = max((len(b) for b in batches), default=0)
    work = kit.pipeline_work(batches, n_consumers, producer_delay, consumer_delay)
    outcome = kit.run("run_joinable", action=f"run(batches, {n_consumers})", batches=batches,
                      n_consumers=n_consumers, producer_delay=producer_delay,
                      consumer_delay=consumer_delay, at_exit=at_exit, work=work,
                      processes=len(batches) + n_consumers)
    seen = outcome.value
    kit.expect_no_crash(outcome, seen["exitcodes"], what="during run()")
    if not isinstance(seen["value"], dict):  # a list came back: now check how it was made and ended
        if total:
            kit.expect_processes(seen, at_least=2, what="run()")
        _expect_producers_joined(kit, seen)
        kit.expect_task_done_after_the_work(seen)
        kit.expect_results_awaited(seen, [item for batch in batches for item in batch], what="run()",
                                   look_at=LOOK_AT_RESULTS)
    if producer_delay:
        kit.expect_took_at_least(seen, longest * producer_delay, what="run()",
                                 why=f"the longest batch has {longest} items, producer_delay={producer_delay}",
                                 delay=producer_delay, by="producer")
        kit.expect_overlap(seen, what="run()")
    if consumer_delay:
        kit.expect_took_at_least(seen, total * consumer_delay / max(1, n_consumers), what="run()",
                                 why=f"{total} items shared by {n_consumers} consumers, "
                                     f"consumer_delay={consumer_delay}",
                                 delay=consumer_delay, by="consumer")
    return outcome


def _expect_producers_joined(kit, seen):
    """The producers were joined and returned; the consumers may still run (they are daemons)."""
    unjoined = [name for name in seen["unjoined"] if "consum" not in name.lower()]
    if unjoined:
        kit.fail(f"run() returned without joining {', '.join(unjoined)}.",
                 expected="every producer joined before q.join()",
                 got=f"{', '.join(unjoined)} never waited for",
                 look_at="join every producer first: only then is every item on the queue, and "
                         "counted, so that q.join() waits for all of them", mistake="any.process-left-running")
    killed = {name: code for name, code in seen["exitcodes"].items()
              if code and "consum" not in name.lower()}
    if killed:
        kit.fail("A producer did not end by returning.", expected="exit code 0",
                 got=", ".join(f"{n}: exit code {c}" for n, c in killed.items()),
                 look_at="let the producers finish and join them; only idle consumers may be ended")


def _every_item(kit, batches, seen, look_at):
    expected = [item for batch in batches for item in batch]
    kit.expect_items(seen["value"], expected, what="run()", ordered=False, look_at=look_at)


def _acks(kit, items, *, delay=0.0, n_consumers=1):
    """consumer(q, results, delay) alone, in daemon processes the check starts and feeds."""
    outcome = kit.run("consumer_acks", action=f"consumer(q, results, delay={delay})", items=items,
                      delay=delay, n_consumers=n_consumers, work=len(items) * delay / n_consumers,
                      processes=n_consumers)
    seen = outcome.value
    kit.expect_no_crash(outcome, {f"consumer-{i}": code for i, code in enumerate(seen["exitcodes"], 1)},
                        what="while it consumed")
    if seen["slow"]:
        kit.fail(f"consumer() handled all {len(items)} items, but only after the check's time had "
                 "run out.", expected=f"{len(items)} results within the budget",
                 got=f"q.join() returned only after {seen['join_seconds']:.1f} s",
                 look_at="sleep `delay` once per item, no more; on a very busy machine, rerun with "
                         "--budget-scale 2")
    if not seen["joined"] and len(seen["got"]) == len(items):
        kit.fail(f"q.join() never returned, though consumer() had put all {len(items)} results.",
                 expected="q.join() returns once every item taken has been marked done",
                 got=f"still waiting after {seen['join_seconds']:.1f} s: some items were never "
                     "marked done",
                 look_at="call q.task_done() after each item: a JoinableQueue counts every put() "
                         "as unfinished until a task_done() marks it done", mistake="ex05.task-done-missing")
    if not seen["joined"]:
        kit.fail(f"consumer() forwarded only {len(seen['got'])} of {len(items)} items in "
                 f"{seen['join_seconds']:.1f} s, and q.join() did not return.",
                 expected=f"{len(items)} results, then q.join() returns",
                 got=f"{len(seen['got'])} results",
                 look_at="the consumer must keep taking items forever (no timeout, no early return) "
                         "and mark each one done; on a very busy machine, rerun with --budget-scale 2")
    return seen


def test_every_item_consumed_exactly_once(kit):
    batches = kit.batches([6, 6, 6])
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "collect exactly one result per item")


def test_consumer_marks_every_item_done(kit):
    items = kit.items(8)
    seen = _acks(kit, items)
    kit.expect_items(seen["got"], items, what="what consumer() put on results", ordered=True,
                     look_at="forward every item, in the order taken")


def test_task_done_comes_after_the_work(kit):
    items = kit.items(4)
    seen = _acks(kit, items, delay=0.05)
    if seen["late"]:
        kit.fail("consumer() marked an item done before it had finished with it: q.join() "
                 "returned while the last item was still being worked on.",
                 expected="results.put(item), then q.task_done()",
                 got=f"{seen['late']} result(s) put after their item was marked done; when q.join() "
                     f"returned, {seen['puts_at_join']} of {len(items)} results had been put",
                 look_at="q.task_done() must be the last thing done with an item. The program ends "
                         "right after q.join() and kills its daemon consumers: an item marked done "
                         "too early is lost", mistake="ex05.task-done-before-work")
    kit.expect_items(seen["got"], items, what="what consumer() put on results", ordered=True,
                     look_at="sleep delay, put the item on results, then q.task_done()")


def test_consumers_are_daemon_processes(kit):
    batches = kit.batches([4, 4])
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "collect exactly one result per item")
    flags = seen["consumer_daemons"] or [d for d in seen["daemons"] if d]
    if len(flags) < 2 or not all(flags):
        kit.fail("The consumers must be daemon processes.",
                 expected="2 consumers started with daemon=True",
                 got=f"{sum(flags)} daemon of {len(flags)} consumers "
                     f"({', '.join(f'{r}: daemon={d}' for r, d in zip(seen['processes'], seen['daemons']))})",
                 look_at="Process(target=consumer, ..., daemon=True), set before start(): nothing "
                         "tells a consumer to stop, so only a daemon lets the program end",
                 mistake="ex05.consumers-not-daemon")


def test_the_program_ends_after_run(kit):
    batches = kit.batches([5, 5])
    seen = _run(kit, batches, 3, at_exit=True).value
    _every_item(kit, batches, seen, "collect exactly one result per item")
    if seen["after_exit"]:
        kit.fail("Processes outlived the end of the program.", expected="nothing left running",
                 got=", ".join(seen["after_exit"]), look_at="make the consumers daemons",
                 mistake="ex05.consumers-not-daemon")


def test_shutdown_comes_from_q_join(kit):
    batches = kit.batches([5, 5])
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "collect exactly one result per item")
    # Two shapes are right: run() joins the producers, then calls q.join(); or each producer calls
    # q.join() after its puts, and run() joins the producers.
    producers = {name: n for name, n in seen["queue_joins"].items() if "consum" not in name}
    if not seen["joins"] and not (producers and all(producers.values())):
        missing = [name for name, n in producers.items() if not n]
        kit.fail("Neither run() nor every producer called q.join().",
                 expected="q.join() on the JoinableQueue: in run() after the producers were joined, "
                          "or in each producer after its puts",
                 got="no JoinableQueue.join() in run()" + (f", nor in {', '.join(missing)}" if missing else ""),
                 look_at="q.join() is how the program knows every item has been handled: it returns "
                         "once each item put has been marked done with task_done()", mistake="ex05.no-queue-join")


def test_join_waits_for_every_producer(kit):
    batches = kit.batches([2, 10, 4])
    seen = _run(kit, batches, 2, producer_delay=0.03).value
    early = [call["running"] for call in seen["joins"] if call["running"]]
    if early:
        kit.fail("run() called q.join() while producers were still running.",
                 expected="q.join() after every producer has been joined",
                 got=f"q.join() called while {', '.join(early[0])} still ran",
                 look_at="q.join() returns as soon as no item is unfinished, which happens every "
                         "time the consumers catch up with a slow producer: join every producer first",
                 mistake="ex05.queue-join-before-producers")
    _every_item(kit, batches, seen, "join every producer, then q.join(), then take one result per item")


def test_slow_consumers(kit):
    batches = kit.batches([8, 8])
    seen = _run(kit, batches, 3, consumer_delay=0.02).value
    _every_item(kit, batches, seen, "wait for every result before you return")


def test_large_items_pass_through(kit):
    batches = [kit.items(3, large=2), kit.items(3, large=2, salt="second")]
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "take one result per item from the results queue")


def test_more_consumers_than_items(kit):
    batches = kit.batches([1, 1])
    seen = _run(kit, batches, 4).value
    _every_item(kit, batches, seen, "q.join() does not care how many consumers never got an item")


def test_no_items_at_all(kit):
    seen = _run(kit, [[], []], 2).value
    _every_item(kit, [[], []], seen, "with nothing put, q.join() returns at once")


def test_one_producer_process_per_batch(kit):
    batches = kit.batches([3, 3])
    seen = _run(kit, batches, 3).value
    if seen["threads"]:
        kit.fail("run() used threads; this lesson is about processes.",
                 expected="multiprocessing.Process", got=f"threads running {', '.join(seen['threads'])}",
                 mistake="any.threads-not-processes")
    if len(seen["processes"]) != len(batches) + 3:
        kit.fail("run() must start one producer process per batch and n_consumers consumer processes.",
                 expected=f"{len(batches)} producers + 3 consumers = {len(batches) + 3} processes",
                 got=f"{len(seen['processes'])}: {', '.join(seen['processes'])}")


def test_consumers_block_instead_of_spinning(kit):
    batches = kit.batches([16])
    outcome = _run(kit, batches, 2, producer_delay=0.05)
    _every_item(kit, batches, outcome.value, "block in q.get()")
    kit.expect_no_spin(outcome, while_="waiting for a slow producer")
