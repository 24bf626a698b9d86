"""Exercise 3: stop the consumer with a None sentinel."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        q.put(item)


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        if item is None:
            break
        results.put(item)


def run(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue(maxsize=2)  # a small steamer: the producer waits when it is full
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay), name="producer")
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay), name="consumer")
    c.start()
    p.start()
    p.join()
    q.put(None)
    out = [results.get() for _ in items]
    c.join()
    return out
