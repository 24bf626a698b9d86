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
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch, producer_delay))
                 for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
                 for _ in range(n_consumers)]
    for p in producers:
        p.start()
    for c in consumers:
        c.start()
    for p in producers:
        p.join()
    for _ in range(n_consumers):
        q.put(None)
    for c in consumers:
        c.join()  # every consumer has finished: now the results are complete
    total = sum(len(batch) for batch in batches)
    return [results.get() for _ in range(total)]
