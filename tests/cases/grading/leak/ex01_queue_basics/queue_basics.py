"""Exercise 1 (solution): a queue between processes."""

import multiprocessing
import queue


def make_queue(maxsize=0):
    """Return a multiprocessing.Queue that holds at most `maxsize` items (0 means no limit)."""
    # multiprocessing.Queue, not queue.Queue: only the former can be shared with other processes.
    return multiprocessing.Queue(maxsize)


def put_all(q, items):
    """Put every item on `q` in order, waiting while the queue is full; return how many were put."""
    count = 0
    for item in items:
        q.put(item)  # blocks while the queue is full, until a consumer makes room
        count += 1
    return count


def drain(q, n, timeout=1.0):
    """Return the next `n` items of `q` in order; raise queue.Empty if one is late."""
    # get(timeout=...) raises queue.Empty by itself; letting it propagate is the contract.
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
        # Return the item itself even when it is falsy: `or default` would swallow 0 and "".
        return q.get(timeout=timeout)
    except queue.Empty:
        return default
