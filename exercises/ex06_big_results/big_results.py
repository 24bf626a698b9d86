"""Exercise 6: a parallel map whose results are big. Collect before you join.

parallel_map(func, items, n_workers) computes [func(x) for x in items] with worker processes: a
task queue feeds them, a result queue brings the answers back. The answers may be megabytes each,
much more than a pipe holds, and they come back in the order the workers finish. Read README.md in
this folder first.

Run the checks:  pytest exercises/ex06_big_results
"""

import multiprocessing


def worker(func, tasks, results):
    """Take tasks from `tasks` until the stop value; for each, put func(item) on `results`, with
    what parallel_map() needs to put it back in its place."""
    # TODO: loop: take a task; stop at the stop value; otherwise compute func(item) and put it,
    # with its index, on results.
    raise NotImplementedError("worker(): compute func(item) for every task until the stop value")


def parallel_map(func, items, n_workers=2):
    """Return [func(x) for x in items], computed by `n_workers` worker processes.

    The results are in the order of `items`. Every worker must have ended when it returns.
    """
    # TODO: a task queue and a result queue; start n_workers workers; put every item with its
    # index, then one stop value per worker; take len(items) results and put each at its index;
    # only then join the workers.
    raise NotImplementedError("parallel_map(): task queue, workers, result queue")
