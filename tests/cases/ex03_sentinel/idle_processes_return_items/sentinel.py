"""Exercise 3, a shortcut: producer() and consumer() are right, but run() hands the producer no
items, puts the None, and returns the list it was given. A producer and a consumer process run and
end cleanly, yet no item goes through a queue."""

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
    """Starts a producer with nothing to put and a consumer that stops at once."""
    q, results = multiprocessing.Queue(), multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, [], producer_delay))
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
    p.start()
    c.start()
    time.sleep(len(items) * max(producer_delay, consumer_delay))
    p.join()
    q.put(None)
    c.join()
    return list(items)


if __name__ == "__main__":
    print(run([f"包子 {i}" for i in range(10)], producer_delay=0.1))
