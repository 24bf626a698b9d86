"""Hidden checks for ex04_many."""

from grader.checking.scenarios.ex04_many import RUN_BATCHES
from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)


def _run(kit, batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    seen = kit.run(RUN_BATCHES, batches=batches, n_consumers=n_consumers, producer_delay=producer_delay,
                   consumer_delay=consumer_delay).value
    expected = [item for batch in batches for item in batch]
    if expected and isinstance(seen.value, list):
        kit.expect_processes(seen, at_least=2, what="run()")
    kit.expect_sentinels_after_producers(seen, what="run()")
    kit.expect_results_awaited(seen, expected, what="run()")
    kit.expect_items(seen.value, expected, what="run()", ordered=False,
                     look_at="ex04.none-per-consumer-after-joins")


# The first hidden check of an exercise runs under the dearest start method, spawn
# (grader.grading.checklist.Plan): it is the one that starts the fewest processes.
@points(1)
def check_large_items_with_many_consumers(kit):
    _run(kit, [kit.items(4, large=2, salt=f"b{i}") for i in range(2)], 3)


@points(2)
def check_five_producers_three_consumers(kit):
    _run(kit, kit.batches([5, 0, 9, 1, 7]), 3, consumer_delay=0.005)


@points(2)
def check_staggered_producers_and_slow_consumers(kit):
    _run(kit, kit.batches([1, 14, 3]), 3, producer_delay=0.02, consumer_delay=0.01)
