"""Exercise 4 (solution): many producers, many consumers, one sentinel per consumer."""

import multiprocessing
import queue
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
        if item is None:
            return
        time.sleep(delay)
        results.put(item)


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch, producer_delay))
                 for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
                 for _ in range(n_consumers)]
    for process in producers + consumers:
        process.start()
    while any(p.exitcode is None for p in producers):  # the producers' end, seen another way
        time.sleep(0.005)
    for _ in consumers:
        q.put(None)
    out = []
    # Take results while any process still runs, and what is left once none does.
    while multiprocessing.active_children() or not results.empty():
        try:
            out.append(results.get(timeout=0.05))
        except queue.Empty:
            pass
    return out
