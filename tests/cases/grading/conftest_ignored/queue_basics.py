"""Exercise 1: a queue between processes.

A multiprocessing.Queue carries items from one process to another: a pipe to move the bytes and a
lock so that two processes never read or write at the same moment. Give it a maxsize and put() waits
while it is full; get() waits while it is empty. Read README.md in this folder first.

Run the checks:  pytest exercises/ex01_queue_basics
"""

import multiprocessing
import queue


def make_queue(maxsize=0):
    """Return a multiprocessing.Queue that holds at most `maxsize` items (0 means no limit)."""
    # TODO: create and return the queue.
    raise NotImplementedError("make_queue(): create a multiprocessing.Queue")


def put_all(q, items):
    """Put every item on `q` in order, waiting while the queue is full; return how many were put."""
    # TODO: put each item. A plain q.put() already waits while the queue is full.
    raise NotImplementedError("put_all(): put every item, then return the count")


def drain(q, n, timeout=1.0):
    """Return the next `n` items of `q` in order.

    Raise queue.Empty if an item does not arrive within `timeout` seconds.
    """
    # TODO: take n items; q.get(timeout=...) raises queue.Empty for you.
    raise NotImplementedError("drain(): take n items, each within timeout")


def try_put(q, item, timeout=0.0):
    """Put `item` if there is room within `timeout` seconds: return True if stored, False if not.

    Never waits longer than `timeout`.
    """
    # TODO: q.put(item, timeout=...) raises queue.Full when the queue stayed full.
    raise NotImplementedError("try_put(): put with a timeout, report whether it worked")


def try_get(q, timeout=0.0, default=None):
    """Return the next item of `q`, or `default` if none arrives within `timeout` seconds.

    Items may be falsy (0, "", []): they are items, not "nothing".
    """
    # TODO: q.get(timeout=...) raises queue.Empty when nothing came.
    raise NotImplementedError("try_get(): get with a timeout, or return default")
