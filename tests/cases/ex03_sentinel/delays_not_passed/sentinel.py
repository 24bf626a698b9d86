"""Exercise 3: stop the consumer with a None sentinel."""

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


def run(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items))  # the delay stays at 0
    c = multiprocessing.Process(target=consumer, args=(q, results))
    p.start()
    c.start()
    p.join()
    q.put(None)
    out = [results.get() for _ in items]
    c.join()
    return out
