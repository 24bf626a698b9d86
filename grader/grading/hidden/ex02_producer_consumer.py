"""Hidden checks for ex02_producer_consumer."""

from grader.checking.mistakes import Words
from grader.checking.scenarios.ex02_producer_consumer import DELIVER, lost_results
from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)


def _deliver(kit, items, **options):
    seen = kit.run(DELIVER, items=items, **options).value
    if seen.shape != "ok":
        kit.fail("ex02.wrong-return-kinds", kinds=", ".join(seen.kinds or []) or seen.shape)
    kit.expect_results_awaited(seen, items, what=Words("ex02.the-consumer"))
    return seen


# The first hidden check of an exercise runs under the dearest start method, spawn
# (grader.grading.checklist.Plan): it is the one that starts the fewest processes.
@points(2)
def check_consumer_keeps_waiting_for_a_second(kit):
    seen = _deliver(kit, kit.items(4, salt="idle"), linger=1.0)
    if not seen.consumer_alive:
        kit.fail("ex02.consumer-gave-up-idle", code=seen.consumer_exitcode, mistake="ex02.consumer-gives-up")


@points(1)
def check_many_items_both_slow(kit):
    items = kit.items(30, salt="many")
    seen = _deliver(kit, items, producer_delay=0.005, consumer_delay=0.005)
    kit.expect_items(seen.got, items, what=Words("the-results-queue"), ordered=True,
                     look_at="ex02.forward-in-order", mistake=lost_results(seen.got))


@points(1)
def check_large_items(kit):
    items = kit.items(6, large=3, salt="large")
    seen = _deliver(kit, items)
    kit.expect_items(seen.got, items, what=Words("ex02.results-large-items"), ordered=True,
                     look_at="ex02.forward-in-order", mistake=lost_results(seen.got))
