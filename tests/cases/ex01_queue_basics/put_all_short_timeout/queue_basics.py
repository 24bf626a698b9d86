"""Exercise 1: a queue between processes."""

import multiprocessing
import queue


def make_queue(maxsize=0):
    """Return a multiprocessing.Queue that holds at most `maxsize` items (0 means no limit)."""
    return multiprocessing.Queue(maxsize)


def put_all(q, items):
    """Put every item on `q` in order, waiting while the queue is full; return how many were put."""
    count = 0
    for item in items:
        try:
            q.put(item, timeout=0.005)
            count += 1
        except queue.Full:
            pass
    return count


def drain(q, n, timeout=1.0):
    """Return the next `n` items of `q` in order; raise queue.Empty if one is late."""
    return [q.get(timeout=timeout) for _ in range(n)]


def try_put(q, item, timeout=0.0):
    """Put `item` if there is room within `timeout` seconds; return whether it was stored."""
    try:
        q.put(item, timeout=timeout)
    except queue.Full:
        return False
    return True


def try_get(q, timeout=0.0, default=None):
    """Return the next item, or `default` if none arrives within `timeout` seconds."""
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return default
