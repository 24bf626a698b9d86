"""An unsolved exercise 3 that attacks the kit at import: it looks through its file descriptors for
the pipes it may write to (the check's answer channel among them) and writes a length-prefixed
pickle there, whose loading would replace the verdict with one it chose. The kit decodes answers as
plain data, so the pickle is refused, never loaded, and every check fails."""

import os
import pickle
import stat
import struct


class Verdict:
    def __reduce__(self):  # what would run in the process that unpickled it
        return (exec, ("import grader.grading.report as r; r.score_checks = lambda *a, **k: []",))


_data = pickle.dumps({"status": "returned", "value": Verdict()})
for _fd in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(_fd).st_mode):
            os.write(_fd, struct.pack("!Q", len(_data)) + _data)
    except OSError:
        pass

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
