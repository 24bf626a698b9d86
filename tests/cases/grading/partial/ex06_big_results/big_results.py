"""Exercise 6 (solution): parallel_map with a task queue, a result queue, and big results."""

import multiprocessing


def worker(func, tasks, results):
    """Take (index, item) tasks until None; put (index, func(item)) on `results` for each."""
    while True:
        task = tasks.get()
        if task is None:  # the stop value; items themselves travel inside a tuple, so no clash
            return
        index, item = task
        results.put((index, func(item)))  # the index says where the result belongs


def parallel_map(func, items, n_workers=2):
    """[func(x) for x in items], computed by `n_workers` worker processes."""
    tasks = multiprocessing.Queue()
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=worker, args=(func, tasks, results), name=f"worker-{i}")
               for i in range(1, n_workers + 1)]
    for w in workers:
        w.start()  # before the first put: fork must not copy this process's feeder thread
    for task in enumerate(items):
        tasks.put(task)
    for _ in workers:  # one stop value per worker: each stops at the first it takes
        tasks.put(None)
    for w in workers:  # wait until every worker has finished its tasks...
        w.join()
    out = [None] * len(items)
    # Take every result BEFORE joining: a worker that has put a result bigger than the pipe holds
    # cannot end until someone reads it (its feeder thread is still writing), so join() first
    # would wait for it forever. Results arrive in the order the workers finish: the index puts
    # each one back in its place.
    for _ in range(len(items)):
        index, value = results.get()
        out[index] = value
    return out


def _big(n):
    return str(n) * 1_000_000  # a result of a few megabytes


if __name__ == "__main__":
    sizes = [len(r) for r in parallel_map(_big, [1, 22, 333], n_workers=2)]
    print(sizes)  # [1000000, 2000000, 3000000]
