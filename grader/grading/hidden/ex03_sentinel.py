"""Hidden checks for ex03_sentinel."""

from grader.checking.mistakes import Words
from grader.checking.scenarios.ex03_sentinel import RUN_ITEMS
from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)


def _run(kit, items, producer_delay=0.0, consumer_delay=0.0):
    seen = kit.run(RUN_ITEMS, items=items, producer_delay=producer_delay, consumer_delay=consumer_delay).value
    if items and isinstance(seen.value, list):
        kit.expect_processes(seen, at_least=2, what="run()")
    kit.expect_sentinels_after_producers(seen, what="run()")
    kit.expect_results_awaited(seen, items, what="run()")
    return seen.value


# The first hidden check of an exercise runs under the dearest start method, spawn
# (grader.grading.checklist.Plan): it is the one that starts the fewest processes.
@points(1)
def check_a_long_stream(kit):
    items = kit.items(80, salt="long")
    kit.expect_items(_run(kit, items), items, what=Words("ex03.run-with-items", count=len(items)),
                     ordered=True, look_at="ex03.one-result-per-item-in-order")


@points(2)
def check_a_bursty_producer_and_a_slow_consumer(kit):
    items = kit.items(12, salt="bursty")
    kit.expect_items(_run(kit, items, producer_delay=0.02, consumer_delay=0.01), items,
                     what=Words("ex03.run-both-slow"), ordered=True,
                     look_at="ex03.sentinel-after-producer-join")


@points(1)
def check_many_large_items(kit):
    items = kit.items(10, large=6, salt="large")
    kit.expect_items(_run(kit, items), items, what=Words("ex03.run-six-large-items"), ordered=True,
                     look_at="ex03.take-results-first")
