"""Exercise 4: many producers, many consumers."""

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
            item = q.get(timeout=1)
        except queue.Empty:
            break  # the queue stayed empty for a second: all done
        if item is None:
            break
        time.sleep(delay)
        results.put(item)


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch, producer_delay))
                 for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
                 for _ in range(n_consumers)]
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    out = []
    while any(c.is_alive() for c in consumers) or not results.empty():
        try:
            out.append(results.get(timeout=0.1))
        except queue.Empty:
            pass
    for c in consumers:
        c.join()
    return out
