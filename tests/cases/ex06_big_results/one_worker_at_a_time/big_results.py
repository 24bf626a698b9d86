"""Exercise 6, but each worker gets its share and is finished before the next one starts."""

import multiprocessing


def worker(func, tasks, results):
    for index, item in iter(tasks.get, None):
        results.put((index, func(item)))


def parallel_map(func, items, n_workers=2):
    out = [None] * len(items)
    for w in range(n_workers):
        tasks, results = multiprocessing.Queue(), multiprocessing.Queue()
        p = multiprocessing.Process(target=worker, args=(func, tasks, results))
        p.start()
        share = list(range(w, len(items), n_workers))
        for index in share:
            tasks.put((index, items[index]))
        tasks.put(None)
        for _ in share:
            index, value = results.get()
            out[index] = value
        p.join()  # done with this one: on to the next
    return out
