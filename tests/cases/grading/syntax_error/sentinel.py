"""Exercise 3, with a typo: a missing colon makes the whole module fail to import."""

import multiprocessing


def producer(q, items, delay=0.0)
    for item in items:
        q.put(item)


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        if item is None:
            return
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
    out = [results.get() for _ in items]
    c.join()
    return out
