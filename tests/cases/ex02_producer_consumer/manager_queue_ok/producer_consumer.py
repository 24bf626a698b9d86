"""Exercise 2: a producer and a consumer, with Manager queues."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        time.sleep(delay)
        results.put(item)


def start(items, producer_delay=0.0, consumer_delay=0.0):
    manager = multiprocessing.Manager()  # the proxies keep it alive
    q = manager.Queue()
    results = manager.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay))
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
    p.start()
    c.start()
    return p, c, q, results
