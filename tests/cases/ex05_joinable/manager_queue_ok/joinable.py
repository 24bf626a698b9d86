"""Exercise 5 with a Manager's JoinableQueue and results queue."""

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
        q.task_done()


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    with multiprocessing.Manager() as manager:
        q = manager.JoinableQueue()
        results = manager.Queue()
        producers = [multiprocessing.Process(target=producer, args=(q, b, producer_delay))
                     for b in batches]
        consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay),
                                             daemon=True) for _ in range(n_consumers)]
        for proc in consumers + producers:
            proc.start()
        for p in producers:
            p.join()
        q.join()
        out = [results.get() for _ in range(sum(len(b) for b in batches))]
        for c in consumers:  # the manager goes away below: end the consumers that use it first
            c.terminate()
            c.join()
        return out
