"""Exercise 3 with the consumer named like one of the kit's own helpers (kit_...), and never joined:
the kit tells its helpers by how it started them, not by their name, so the consumer still counts."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def kit_consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        if item is None:
            break
        time.sleep(delay)
        results.put(item)


consumer = kit_consumer


def run(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay))
    c = multiprocessing.Process(target=kit_consumer, args=(q, results, consumer_delay))
    c.start()
    p.start()
    p.join()
    q.put(None)
    return [results.get() for _ in items]
