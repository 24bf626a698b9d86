"""Exercise 4: many producers, many consumers."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        if item is None:
            return
        time.sleep(delay)
        results.put(item)


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    with multiprocessing.Manager() as manager:
        q = manager.Queue()
        results = manager.Queue()
        producers = [multiprocessing.Process(target=producer, args=(q, b, producer_delay)) for b in batches]
        consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
                     for _ in range(n_consumers)]
        for proc in producers + consumers:
            proc.start()
        for p in producers:
            p.join()
        for _ in consumers:
            q.put(None)
        out = [results.get() for _ in range(sum(len(b) for b in batches))]
        for c in consumers:
            c.join()
    return out
