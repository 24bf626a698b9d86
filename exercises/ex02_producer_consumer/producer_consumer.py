"""Exercise 2: a producer, a consumer, and a queue between them.

The producer steams baozi and puts them on the queue; the consumer takes them off and eats them.
Neither knows the other: the queue decouples them and absorbs the difference in speed. This first
version has a flaw on purpose: the consumer never stops (see README.md).

Run the checks:  pytest exercises/ex02_producer_consumer
"""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`."""
    # TODO: loop over items, time.sleep(delay), q.put(item).
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Forever: take an item from `q`, sleep `delay` seconds, put it on `results`.

    It must wait for a slow producer (block in q.get()) and must never return.
    """
    # TODO: while True: take with q.get() (it waits while the queue is empty), sleep, forward.
    raise NotImplementedError("consumer(): take from q forever, forward to results")


def start(items, producer_delay=0.0, consumer_delay=0.0):
    """Start one producer process and one consumer process; do not wait for them.

    Return (producer_process, consumer_process, q, results).
    """
    # TODO: make two multiprocessing.Queue()s, two multiprocessing.Process(target=..., args=(...)),
    # start both, and return them. Do not join: the consumer never ends.
    raise NotImplementedError("start(): start a producer and a consumer process")
