"""Exercise 6 with a context object, a Process subclass and a string stop value."""

import multiprocessing

ctx = multiprocessing.get_context()  # the default start method, as an object
STOP = "STOP"  # tasks are (index, item) tuples, so no task equals it


def worker(func, tasks, results):
    while (task := tasks.get()) != STOP:
        index, item = task
        results.put((index, func(item)))


class Worker(ctx.Process):
    def __init__(self, func, tasks, results):
        super().__init__()
        self.args = (func, tasks, results)

    def run(self):
        worker(*self.args)


def parallel_map(func, items, n_workers=2):
    tasks = ctx.Queue()
    results = ctx.Queue()
    workers = [Worker(func, tasks, results) for _ in range(n_workers)]
    for w in workers:
        w.start()
    count = 0
    for count, item in enumerate(items, 1):
        tasks.put((count - 1, item))
    for _ in workers:
        tasks.put(STOP)
    got = {}
    while len(got) < count:
        index, value = results.get()
        got[index] = value
    for w in workers:
        w.join()
    return [got[i] for i in range(count)]
