"""Exercise 6: pairs collected in arrival order, sorted by index at the end; iter() worker loop."""

import multiprocessing


def worker(func, tasks, results):
    for index, item in iter(tasks.get, None):
        results.put((index, func(item)))


def parallel_map(func, items, n_workers=2):
    items = list(items)
    tasks, results = multiprocessing.Queue(), multiprocessing.Queue()
    procs = []
    for _ in range(n_workers):
        p = multiprocessing.Process(target=worker, args=(func, tasks, results))
        p.start()
        procs.append(p)
    for pair in enumerate(items):
        tasks.put(pair)
    for _ in procs:
        tasks.put(None)
    pairs = sorted((results.get() for _ in items), key=lambda pair: pair[0])
    for p in procs:
        p.join()
    return [value for _, value in pairs]
