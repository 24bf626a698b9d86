"""Exercise 2, with a leftover os._exit(0) at module level: importing it ends the interpreter."""

import multiprocessing
import os
import time

os._exit(0)


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
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay))
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
    p.start()
    c.start()
    return p, c, q, results
