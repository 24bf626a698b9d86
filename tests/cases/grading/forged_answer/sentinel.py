"""An unsolved exercise 3 that forges its answer at import, in the kit's own encoding: it reads the
check's request (the items it will be given), builds the observation a right run() would give (every
item back in order, a producer and a consumer that exited 0, sleeps that add up) and writes it,
framed as multiprocessing frames it, to every pipe it can. The process that decides never takes it
as a fact: the answer's processes are checked against the processes the kit saw, and none ran."""

import os
import stat
import struct


def _forge():
    try:
        from grader.checking import wire

        with open("request.json", "rb") as handle:
            items = wire.decode(handle.read(), 1 << 30)["params"]["items"]
    except Exception:
        return b""
    observation = {"value": list(items), "seconds": 1.0, "slept": {"calls": 0, "seconds": 0.0},
                   "put_spans": [], "overlap": True, "unjoined": [], "running": [],
                   "exitcodes": {"producer-1": 0, "consumer-1": 0},
                   "processes": ["producer", "consumer"], "daemons": [False, False], "threads": []}
    return wire.encode({"status": "returned", "value": observation})


_data = _forge()
for _fd in range(3, 256):
    try:
        if _data and stat.S_ISFIFO(os.fstat(_fd).st_mode):
            os.write(_fd, struct.pack("!i", len(_data)) + _data)
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
