"""Exercise 5: stop the consumers without sentinels, with a JoinableQueue and daemon processes.

A JoinableQueue counts the items put on it that nobody has marked done yet. q.task_done() marks
one done; q.join() waits until none is left. The consumers never return: they are daemon
processes, and when the program ends Python terminates them. Read README.md in this folder first.

Run the checks:  pytest exercises/ex05_joinable
"""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`."""
    # TODO: as in exercise 4.
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Forever: take an item from the JoinableQueue `q`, sleep `delay`, put it on `results`, then
    mark it done with q.task_done()."""
    # TODO: like exercise 2's consumer (no sentinel, it never returns), plus exactly one
    # q.task_done() per item, after the result is on `results`.
    raise NotImplementedError("consumer(): forward items and mark each one done")


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    """One producer process per batch, `n_consumers` daemon consumer processes; return every item
    consumed (any order, none lost or doubled).

    The producers must have ended when run() returns; the consumers may still be waiting in
    q.get(): they are daemons, so the end of the program ends them.
    """
    # TODO: a JoinableQueue for the items and a Queue for the results; start the producers and
    # the consumers (daemon=True); join every producer; q.join(); take one result per item.
    raise NotImplementedError("run(): JoinableQueue, daemon consumers, q.join()")
