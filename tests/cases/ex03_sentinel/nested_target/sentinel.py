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
            break
        time.sleep(delay)
        results.put(item)


def run(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()

    def produce():
        producer(q, items, producer_delay)

    def consume():
        consumer(q, results, consumer_delay)

    p = multiprocessing.Process(target=produce)
    c = multiprocessing.Process(target=consume)
    p.start()
    c.start()
    p.join()
    q.put(None)
    out = [results.get() for _ in range(len(items))]
    c.join()
    return out
