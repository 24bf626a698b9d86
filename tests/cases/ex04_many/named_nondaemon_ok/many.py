"""Exercise 4: many producers, many consumers."""

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


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    producers = []
    for i, batch in enumerate(batches):
        p = multiprocessing.Process(target=producer, args=(q, batch, producer_delay),
                                    name=f"蒸笼-{i}", daemon=False)
        producers.append(p)
    consumers = []
    for i in range(n_consumers):
        c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay),
                                    name=f"食客-{i}", daemon=False)
        consumers.append(c)
    for c in consumers:
        c.start()
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    for c in consumers:
        q.put(None)
    expected = 0
    for batch in batches:
        expected += len(batch)
    out = []
    while len(out) < expected:
        out.append(results.get())
    for c in consumers:
        c.join()
    return out
