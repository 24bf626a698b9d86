"""Exercise 3: stop the consumer with a None sentinel."""

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
            item = q.get(timeout=60)
        except queue.Empty:
            raise RuntimeError("no item for a minute: is the producer alive?")
        if item is None:
            return
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
    q.put(None)
    out = []
    while c.is_alive() or not results.empty():
        try:
            out.append(results.get(timeout=0.1))
        except queue.Empty:
            pass
    c.join()
    return out
