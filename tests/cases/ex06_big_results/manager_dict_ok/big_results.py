"""Exercise 6 with a Manager's queues."""

import multiprocessing


def worker(func, tasks, results):
    while True:
        task = tasks.get()
        if task is None:
            break
        index, item = task
        results.put((index, func(item)))


def parallel_map(func, items, n_workers=2):
    with multiprocessing.Manager() as manager:
        tasks, results = manager.Queue(), manager.Queue()
        workers = [multiprocessing.Process(target=worker, args=(func, tasks, results), daemon=True)
                   for _ in range(n_workers)]
        for w in workers:
            w.start()
        for task in enumerate(items):
            tasks.put(task)
        for _ in workers:
            tasks.put(None)
        out = [None] * len(items)
        for _ in items:
            index, value = results.get()
            out[index] = value
        for w in workers:
            w.join()
        return out
