"""An unsolved exercise 3 that patches the kit in memory at import: it finds the kit's scenario
modules in sys.modules and replaces the functions that observe run(), consumer() and producer() with
ones that return a perfect observation, without starting a process. The kit's observer never
imports the student's module, and what a host says of run() is checked against what the kit saw."""

import sys


def _perfect_run(ctx, items, *args, **kwargs):
    return {"value": list(items), "seconds": 1.0, "slept": {"calls": 0, "seconds": 0.0}, "put_spans": [],
            "overlap": True, "unjoined": [], "running": [],
            "exitcodes": {"producer-1": 0, "consumer-1": 0},
            "processes": ["producer", "consumer"], "daemons": [False, False], "threads": []}


def _perfect_consumer(ctx, items):
    return {"got": list(items), "extra": [], "behind": "after the sentinel"}


def _perfect_producer(ctx, items, delay=0.0):
    return {"got": list(items), "extra": []}


for _name, _module in list(sys.modules.items()):
    if _name.startswith("grader.checking.scenarios"):
        for _attr, _fake in (("run_items", _perfect_run), ("consumer_stops", _perfect_consumer),
                             ("producer_only_items", _perfect_producer)):
            if hasattr(_module, _attr):
                setattr(_module, _attr, _fake)
        if hasattr(_module, "_call_run"):
            _module._call_run = lambda ctx, items, *a, **k: _perfect_run(ctx, items)

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
