"""Exercise 2: a producer and a consumer; the consumer wakes up now and then, but never gives up."""

import multiprocessing
import queue
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    while True:
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            continue  # nothing yet: wait again
        time.sleep(delay)
        results.put(item)


def start(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay))
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
    p.start()
    c.start()
    return p, c, q, results
