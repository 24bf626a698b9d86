"""Exercise 3: stop the consumer with a None sentinel."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)
    q.put(None)  # done: tell the consumer


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        if item is None:
            break
        time.sleep(delay)
        results.put(item)


def run(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay))
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
    p.start()
    c.start()
    p.join()
    out = [results.get() for _ in range(len(items))]
    c.join()
    return out
