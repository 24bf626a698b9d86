"""Visible checks for exercise 6. Run: pytest exercises/ex06_big_results

The func these checks pass to parallel_map() returns, for each item, a dict holding the item and a
block of bytes (several megabytes in some checks); the checks then compare what came back with
[func(x) for x in items]. The order counts where it cannot be luck: in the staged checks, which make
the first result arrive after another one in every run, and with a single worker.
"""

from grader.checking.mistakes import Words
from grader.checking.scenarios.ex06_big_results import MAP_ITEMS, MB

# What a failure says to look at is a name of the words in grader/checking/catalogue/<language>.toml.
LOOK_AT_ORDER = "ex06.order"


def _map(kit, items, n_workers, *, size=0, staged=False):
    """parallel_map(func, items, n_workers) in a fresh process tree."""
    outcome = kit.run(MAP_ITEMS, items=items, n_workers=n_workers, size=size, staged=staged)
    seen = outcome.value
    if isinstance(seen.value, list):  # a list came back: now check how it ended
        kit.expect_clean_shutdown(seen, what="parallel_map()")
    return seen


def _same(kit, seen, items, look_at=LOOK_AT_ORDER, *, ordered=False):
    """Every result, once each; in the items' order too when `ordered`. Unstaged, results of several
    workers may arrive in the items' order or not, as the scheduler decides: only the staged checks
    judge the order of several workers."""
    kit.expect_items(seen.value, items, what="parallel_map()", ordered=ordered, look_at=look_at,
                     order_mistake="ex06.completion-order")


def test_returns_func_of_every_item(kit):
    items = kit.items(10)
    seen = _map(kit, items, 2)
    _same(kit, seen, items, look_at="ex06.one-result-per-item")


def test_results_come_back_in_input_order(kit):
    items = kit.items(6)
    seen = _map(kit, items, 2, staged=True)
    _same(kit, seen, items, ordered=True)


def test_workers_run_at_the_same_time(kit):
    items = kit.items(5)
    seen = _map(kit, items, 2, staged=True)
    _same(kit, seen, items, ordered=True)
    if seen.held_waited is False:
        kit.fail("ex06.not-parallel", count=len(seen.pids), mistake="ex06.workers-not-parallel")


def test_big_results_are_collected_before_joining(kit):
    items = kit.items(4, edge=False)
    seen = _map(kit, items, 2, size=3 * MB)
    _same(kit, seen, items, look_at="ex06.take-before-join")


def test_n_worker_processes(kit):
    items = kit.items(6)
    seen = _map(kit, items, 3)
    if seen.threads:
        kit.fail("threads", what="parallel_map()", threads=", ".join(seen.threads),
                 mistake="any.threads-not-processes")
    if seen.pids and seen.main_pid in seen.pids:
        kit.fail("ex06.func-in-main")
    if len(seen.processes) != 3:
        kit.fail("ex06.process-count", n_workers=3, count=len(seen.processes),
                 names=", ".join(seen.processes) or Words("ex06.none"),
                 mistake="ex06.pool-instead-of-processes" if not seen.processes else None)
    _same(kit, seen, items)


def test_more_workers_than_items(kit):
    items = kit.items(2)
    seen = _map(kit, items, 4)
    _same(kit, seen, items, look_at="ex06.stop-even-without-tasks")


def test_no_items_at_all(kit):
    seen = _map(kit, [], 2)
    _same(kit, seen, [], look_at="ex06.no-items")


def test_a_single_worker(kit):
    items = kit.items(5)
    seen = _map(kit, items, 1, size=MB)
    _same(kit, seen, items, look_at="ex06.one-worker", ordered=True)
