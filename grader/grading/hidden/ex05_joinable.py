"""Hidden checks for ex05_joinable."""

from grader.checking.mistakes import Words
from grader.checking.scenarios.ex05_joinable import CONSUMER_ACKS, RUN_JOINABLE
from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)


# What a failure says to look at is a name of the words in grader/checking/catalogue/<language>.toml.
LOOK_AT = "ex05.join-producers-then-queue"


def _run(kit, batches, n_consumers, producer_delay=0.0, consumer_delay=0.0, at_exit=False):
    outcome = kit.run(RUN_JOINABLE, batches=batches, n_consumers=n_consumers, producer_delay=producer_delay,
                      consumer_delay=consumer_delay, at_exit=at_exit)
    seen = outcome.value
    kit.expect_no_crash(outcome, seen.exitcodes, what=Words("during-run"))
    expected = [item for batch in batches for item in batch]
    if expected and isinstance(seen.value, list):
        kit.expect_processes(seen, at_least=2, what="run()")
    kit.expect_task_done_after_the_work(seen)
    kit.expect_results_awaited(seen, expected, what="run()")
    kit.expect_items(seen.value, expected, what="run()", ordered=False, look_at=LOOK_AT)
    return seen


# The first hidden check of an exercise runs under the dearest start method, spawn
# (grader.grading.checklist.Plan): it is the one that starts the fewest processes.
@points(2)
def check_task_done_with_several_consumers(kit):
    """Three consumers share the items: each must mark exactly its own items done, after the work."""
    items = kit.items(12, salt="acks")
    outcome = kit.run(CONSUMER_ACKS, items=items, delay=0.02, n_consumers=3)
    seen = outcome.value
    kit.expect_no_crash(outcome, {f"consumer-{i}": c for i, c in enumerate(seen.exitcodes, 1)},
                        what=Words("ex05.while-consuming"))
    if not seen.joined and not seen.slow:
        # Every result in and still no join: items were never marked done, the mistake a deadlock
        # names when the consumers finish before the check's deadline rather than after it. A
        # join that returned late is no mistake: a busy machine makes right consumers late.
        missing = len(seen.got) == len(items) and seen.waiting
        kit.fail("ex05.three-join-missing", count=len(items), got=len(seen.got),
                 mistake="ex05.task-done-missing" if missing else None)
    if seen.late:
        kit.fail("ex05.consumer-done-before-put", late=seen.late, mistake="ex05.task-done-before-work")
    kit.expect_items(seen.got, items, what=Words("ex05.what-consumers-put"), ordered=False,
                     look_at="ex05.forward-once")


@points(2)
def check_staggered_producers_and_slow_consumers(kit):
    seen = _run(kit, kit.batches([1, 12, 3]), 3, producer_delay=0.02, consumer_delay=0.01)
    early = [call["running"] for call in seen.joins if call["running"]]
    if early:
        kit.fail("ex05.queue-join-before-joins", running=", ".join(early[0]),
                 mistake="ex05.queue-join-before-producers")


@points(1)
def check_the_program_ends_after_slow_work(kit):
    seen = _run(kit, kit.batches([4, 4, 4]), 2, consumer_delay=0.02, at_exit=True)
    if seen.after_exit:
        kit.fail("ex05.outlived-slow-work", names=", ".join(seen.after_exit),
                 mistake="ex05.consumers-not-daemon")


@points(1)
def check_large_items_with_many_consumers(kit):
    _run(kit, [kit.items(4, large=2, salt=f"b{i}") for i in range(2)], 3)
