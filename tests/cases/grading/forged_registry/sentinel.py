"""An unsolved exercise 3 whose run() forges the kit's records instead of doing the work: it writes
registry lines for a producer and a consumer that never ran, and tallies of sleeps and puts, into
the files the kit reads, then returns the items. The kit saw no such process: every run() check
fails as inconsistent."""

import os
import time


def _forge_records():
    registry = os.environ.get("BAOZI_REGISTRY")
    if not registry:
        return
    fake = [os.getpid() + 7001, os.getpid() + 7002]
    with open(registry, "a", encoding="utf-8") as log:
        for pid, role in zip(fake, ("producer", "consumer")):
            log.write(f"process\t{pid}\t{role}\t{role}\tFalse\t{os.getpid()}\n")
    for pid in fake:
        for kind, values in (("sleep", "3 0.3"), ("puts", f"3 {time.monotonic()} {time.monotonic() + 0.2}")):
            with open(f"{registry}.{kind}.{pid}", "w", encoding="utf-8") as tally:
                tally.write(values)


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q` (as in exercise 2)."""
    # TODO: as in exercise 2. Do not put the sentinel here: run() does, after join().
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Take items from `q`, sleep `delay`, put each on `results`; return on None (not forwarded)."""
    # TODO: like exercise 2, but stop when the item `is None`. Careful: 0, "" and [] are items.
    raise NotImplementedError("consumer(): forward items until the None sentinel")


def run(items, producer_delay=0.0, consumer_delay=0.0):
    """Run one producer and one consumer process; return the consumed items in order."""
    _forge_records()
    return list(items)
