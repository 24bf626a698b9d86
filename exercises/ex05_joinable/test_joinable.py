"""Visible checks for exercise 5. Run: pytest exercises/ex05_joinable"""

from grader.checking.mistakes import Joined, Words
from grader.checking.roles import CONSUMER, plays
from grader.checking.scenarios.ex05_joinable import CONSUMER_ACKS, RUN_JOINABLE

# What a failure says to look at is a name of the words in grader/checking/catalogue/<language>.toml.
LOOK_AT_TASK_DONE = "ex05.task-done-once-after-result"
LOOK_AT_RESULTS = "ex05.results-on-their-way"


def _run(kit, batches, n_consumers, *, producer_delay=0.0, consumer_delay=0.0, at_exit=False):
    """run(batches, n_consumers, ...) in a fresh process tree; with `at_exit`, the program then
    ends as a real one would (daemon children terminated, the others joined)."""
    total = sum(len(b) for b in batches)
    longest = max((len(b) for b in batches), default=0)
    outcome = kit.run(RUN_JOINABLE, batches=batches, n_consumers=n_consumers, producer_delay=producer_delay,
                      consumer_delay=consumer_delay, at_exit=at_exit)
    seen = outcome.value
    kit.expect_no_crash(outcome, seen.exitcodes, what=Words("during-run"))
    if isinstance(seen.value, list):  # a list came back: now check how it was made and ended
        if total:
            kit.expect_processes(seen, at_least=2, what="run()")
        _expect_producers_joined(kit, seen)
        kit.expect_task_done_after_the_work(seen)
        kit.expect_results_awaited(seen, [item for batch in batches for item in batch], what="run()",
                                   look_at=LOOK_AT_RESULTS)
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


def _expect_producers_joined(kit, seen):
    """The producers were joined and returned; the consumers may still run (they are daemons)."""
    unjoined = [name for name in seen.unjoined if not plays(name, CONSUMER)]
    if unjoined:
        kit.fail("ex05.producers-not-joined", names=", ".join(unjoined), mistake="any.process-left-running")
    killed = {name: code for name, code in seen.exitcodes.items()
              if code and not plays(name, CONSUMER)}
    if killed:
        kit.fail("ex05.producer-killed",
                 codes=Joined(tuple(Words("exit-code-of", name=n, code=c) for n, c in killed.items())))


def _every_item(kit, batches, seen, look_at):
    expected = [item for batch in batches for item in batch]
    kit.expect_items(seen.value, expected, what="run()", ordered=False, look_at=look_at)


def _acks(kit, items, *, delay=0.0, n_consumers=1):
    """consumer(q, results, delay) alone, in daemon processes the check starts and feeds."""
    outcome = kit.run(CONSUMER_ACKS, items=items, delay=delay, n_consumers=n_consumers)
    seen = outcome.value
    kit.expect_no_crash(outcome, {f"consumer-{i}": code for i, code in enumerate(seen.exitcodes, 1)},
                        what=Words("ex05.while-consuming"))
    if seen.slow:
        kit.fail("ex05.consumer-too-slow", count=len(items), seconds=seen.join_seconds)
    if not seen.joined and len(seen.got) == len(items):
        kit.fail("ex05.join-never-returned", count=len(items), seconds=seen.join_seconds,
                 mistake="ex05.task-done-missing")
    if not seen.joined:
        kit.fail("ex05.consumer-stalled", got=len(seen.got), count=len(items), seconds=seen.join_seconds)
    return seen


def test_every_item_consumed_exactly_once(kit):
    batches = kit.batches([6, 6, 6])
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "one-result-per-item")


def test_consumer_marks_every_item_done(kit):
    items = kit.items(8)
    seen = _acks(kit, items)
    kit.expect_items(seen.got, items, what=Words("ex05.what-consumer-put"), ordered=True,
                     look_at="ex05.forward-in-order")


def test_task_done_comes_after_the_work(kit):
    items = kit.items(4)
    seen = _acks(kit, items, delay=0.05)
    if seen.late:
        kit.fail("ex05.done-before-finished", late=seen.late, put=seen.puts_at_join, count=len(items),
                 mistake="ex05.task-done-before-work")
    kit.expect_items(seen.got, items, what=Words("ex05.what-consumer-put"), ordered=True,
                     look_at="ex05.sleep-put-then-done")


def test_consumers_are_daemon_processes(kit):
    batches = kit.batches([4, 4])
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "one-result-per-item")
    flags = seen.consumer_daemons or [d for d in seen.daemons if d]
    if len(flags) < 2 or not all(flags):
        kit.fail("ex05.consumers-not-daemons", wanted=2, daemons=sum(flags), count=len(flags),
                 flags=", ".join(f"{r}: daemon={d}" for r, d in zip(seen.processes, seen.daemons)),
                 mistake="ex05.consumers-not-daemon")


def test_the_program_ends_after_run(kit):
    batches = kit.batches([5, 5])
    seen = _run(kit, batches, 3, at_exit=True).value
    _every_item(kit, batches, seen, "one-result-per-item")
    if seen.after_exit:
        kit.fail("ex05.outlived-program", names=", ".join(seen.after_exit), mistake="ex05.consumers-not-daemon")


def test_shutdown_comes_from_q_join(kit):
    batches = kit.batches([5, 5])
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "one-result-per-item")
    # Two shapes are right: run() joins the producers, then calls q.join(); or each producer calls
    # q.join() after its puts, and run() joins the producers.
    producers = {name: n for name, n in seen.queue_joins.items() if not plays(name, CONSUMER)}
    if not seen.joins and not (producers and all(producers.values())):
        missing = [name for name, n in producers.items() if not n]
        kit.fail("ex05.neither-called-join", nor=Words("ex05.nor-in", names=", ".join(missing)) if missing else "",
                 mistake="ex05.no-queue-join")


def test_join_waits_for_every_producer(kit):
    batches = kit.batches([2, 10, 4])
    seen = _run(kit, batches, 2, producer_delay=0.03).value
    early = [call["running"] for call in seen.joins if call["running"]]
    if early:
        kit.fail("ex05.queue-join-early", running=", ".join(early[0]), mistake="ex05.queue-join-before-producers")
    _every_item(kit, batches, seen, "ex05.join-producers-then-queue")


def test_slow_consumers(kit):
    batches = kit.batches([8, 8])
    seen = _run(kit, batches, 3, consumer_delay=0.02).value
    _every_item(kit, batches, seen, "wait-for-every-result")


def test_large_items_pass_through(kit):
    batches = [kit.items(3, large=2), kit.items(3, large=2, salt="second")]
    seen = _run(kit, batches, 2).value
    _every_item(kit, batches, seen, "ex05.one-result-from-results")


def test_more_consumers_than_items(kit):
    batches = kit.batches([1, 1])
    seen = _run(kit, batches, 4).value
    _every_item(kit, batches, seen, "ex05.idle-consumers-do-not-matter")


def test_no_items_at_all(kit):
    seen = _run(kit, [[], []], 2).value
    _every_item(kit, [[], []], seen, "ex05.nothing-put")


def test_one_producer_process_per_batch(kit):
    batches = kit.batches([3, 3])
    seen = _run(kit, batches, 3).value
    if seen.threads:
        kit.fail("threads", what="run()", threads=", ".join(seen.threads), mistake="any.threads-not-processes")
    if len(seen.processes) != len(batches) + 3:
        kit.fail("process-per-batch", producers=len(batches), consumers=3, total=len(batches) + 3,
                 count=len(seen.processes), names=", ".join(seen.processes))


def test_consumers_block_instead_of_spinning(kit):
    batches = kit.batches([16])
    outcome = _run(kit, batches, 2, producer_delay=0.05)
    _every_item(kit, batches, outcome.value, "ex05.block-in-get")
    kit.expect_no_spin(outcome, while_=Words("waiting-for-slow-producer"))
