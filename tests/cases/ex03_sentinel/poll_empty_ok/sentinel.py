"""Exercise 3 (solution): a None sentinel, put after the producer is joined."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`."""
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    """Forward items from `q` to `results` until the None sentinel."""
    while True:
        item = q.get()
        if item is None:  # `is None`, not `not item`: 0, "" and [] are real items
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
    while len(out) < len(items):  # counted: an empty queue only means "not yet"
        if not results.empty():
            out.append(results.get())
        else:
            time.sleep(0.001)
    c.join()
    return out
