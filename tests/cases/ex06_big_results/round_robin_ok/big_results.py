"""Exercise 6 with one task queue per worker, dealt round-robin, and a shared result queue."""

import multiprocessing


def worker(func, tasks, results):
    for index, item in iter(tasks.get, None):
        results.put((index, func(item)))


def parallel_map(func, items, n_workers=2):
    inboxes = [multiprocessing.Queue() for _ in range(n_workers)]
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=worker, args=(func, inbox, results))
               for inbox in inboxes]
    for w in workers:
        w.start()
    for index, item in enumerate(items):
        inboxes[index % n_workers].put((index, item))
    for inbox in inboxes:
        inbox.put(None)
    out = [None] * len(items)
    for _ in items:
        index, value = results.get()
        out[index] = value
    for w in workers:
        w.join()
    return out
