"""Hidden checks for ex06_big_results."""

from grader.checking.scenarios.ex06_big_results import MAP_ITEMS, MB
from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)

# What a failure says to look at is a name of the words in grader/checking/catalogue/<language>.toml.
LOOK_AT = "ex06.take-then-index"


def _map(kit, items, n_workers, *, size=0, staged=False):
    seen = kit.run(MAP_ITEMS, items=items, n_workers=n_workers, size=size, staged=staged).value
    if isinstance(seen.value, list):
        kit.expect_clean_shutdown(seen, what="parallel_map()")
    # The order of several workers' results is judged only where staging fixes it (see the visible
    # checks' _same).
    kit.expect_items(seen.value, items, what="parallel_map()", ordered=staged or n_workers == 1,
                     look_at=LOOK_AT)
    return seen


# The first hidden check of an exercise runs under the dearest start method, spawn
# (grader.grading.checklist.Plan): it is the one that starts the fewest processes.
@points(1)
def check_many_small_items(kit):
    _map(kit, kit.items(60, salt="many"), 2)


@points(2)
def check_many_big_results_three_workers(kit):
    _map(kit, kit.items(7, edge=False, salt="big"), 3, size=2 * MB)


@points(1)
def check_order_with_three_workers(kit):
    seen = _map(kit, kit.items(9, salt="order"), 3, staged=True)
    if seen.held_waited is False:
        kit.fail("ex06.not-parallel-briefly", mistake="ex06.workers-not-parallel")
