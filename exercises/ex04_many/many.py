"""Exercise 4: many producers, many consumers.

Several producers fill one queue and several consumers empty it. Each consumer stops at the first
None it takes, so every consumer needs a None of its own, and the Nones may only go on the queue
once every producer has finished. Read README.md in this folder first.

Run the checks:  pytest exercises/ex04_many
"""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`."""
    # TODO: as in exercise 3.
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Forward items from `q` to `results` (sleeping `delay` each) until it takes None."""
    # TODO: as in exercise 3.
    raise NotImplementedError("consumer(): forward items until the None sentinel")


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    """One producer process per batch, `n_consumers` consumer processes; return every item consumed.

    The order does not matter; no item may be lost or consumed twice. Every process started here
    must have ended when run() returns.
    """
    # TODO: start a producer per batch and n_consumers consumers; join every producer; put one None
    # per consumer; take as many results as there are items; join every consumer.
    raise NotImplementedError("run(): many producers, many consumers")
