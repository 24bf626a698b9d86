"""Exercise 5 with a context object and a daemon Process subclass for the consumers."""

import multiprocessing
import time

mp = multiprocessing.get_context()  # the default start method, as an object


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        try:
            time.sleep(delay)
            results.put(item)
        finally:
            q.task_done()  # once per item, even if the work failed


class Consumer(mp.Process):
    def __init__(self, q, results, delay):
        super().__init__(daemon=True)
        self.q, self.results, self.delay = q, results, delay

    def run(self):
        consumer(self.q, self.results, self.delay)


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    q = mp.JoinableQueue()
    results = mp.Queue()
    consumers = [Consumer(q, results, consumer_delay) for _ in range(n_consumers)]
    producers = [mp.Process(target=producer, args=(q, list(b), producer_delay)) for b in batches]
    for c in consumers:
        c.start()
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    q.join()
    return [results.get() for _ in range(sum(len(b) for b in batches))]
