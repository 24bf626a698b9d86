"""Exercise 4: many producers, many consumers; the producers' ends awaited on their sentinels."""

import multiprocessing
import multiprocessing.connection
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    for item in iter(q.get, None):
        time.sleep(delay)
        results.put(item)


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch, producer_delay))
                 for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
                 for _ in range(n_consumers)]
    for process in producers + consumers:
        process.start()
    waiting = [p.sentinel for p in producers]
    while waiting:  # a sentinel is ready once its process has ended
        for ready in multiprocessing.connection.wait(waiting):
            waiting.remove(ready)
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(len(batch) for batch in batches))]
    for c in consumers:
        c.join()
    return out
