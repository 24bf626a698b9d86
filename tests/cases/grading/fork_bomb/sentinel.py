"""Hostile exercise 3: a fork bomb. run() forks in a loop and every child forks on too; once the
process limit says no, they all keep trying, forever. The first refusal is reported on stderr."""

import os
import sys
import time


def _bomb():
    first = os.getpid()
    told = False
    while True:
        try:
            os.fork()
        except OSError as exc:  # BlockingIOError: the process limit is reached
            if os.getpid() == first and not told:
                print(f"fork bomb stopped by the process limit: {exc}", file=sys.stderr, flush=True)
                told = True
            time.sleep(0.2)


def producer(q, items, delay=0.0):
    _bomb()


def consumer(q, results, delay=0.0):
    _bomb()


def run(items, producer_delay=0.0, consumer_delay=0.0):
    _bomb()
