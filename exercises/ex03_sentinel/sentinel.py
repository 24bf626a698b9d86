"""Exercise 3: tell the consumer to stop, with a None sentinel.

In exercise 2 the program never ends: once the producer is done, the consumer waits in q.get()
for an item that will never come. The fix: when the producer has finished (join it), put one
agreed "no more items" value on the queue: None. The consumer stops when it takes it.
Read README.md in this folder first.

Run the checks:  pytest exercises/ex03_sentinel
"""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q` (as in exercise 2)."""
    # TODO: as in exercise 2. Do not put the sentinel here: run() does, after join().
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Take items from `q`, sleep `delay`, put each on `results`; return on None (not forwarded)."""
    # TODO: like exercise 2, but stop when the item `is None`. Careful: 0, "" and [] are items.
    raise NotImplementedError("consumer(): forward items until the None sentinel")


def run(items, producer_delay=0.0, consumer_delay=0.0):
    """Run one producer and one consumer process; return the consumed items in order.

    Every process started here must have ended when run() returns.
    """
    # TODO: start both processes; join the producer; put None; take len(items) results;
    # join the consumer; return the results.
    raise NotImplementedError("run(): producer, consumer, sentinel, results")
