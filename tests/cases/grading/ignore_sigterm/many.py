"""Hostile exercise 4: every process ignores SIGTERM (and SIGINT, SIGHUP) and loops forever."""

import multiprocessing
import signal
import time


def _deaf_forever():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        time.sleep(0.2)


def producer(q, items, delay=0.0):
    _deaf_forever()


def consumer(q, results, delay=0.0):
    _deaf_forever()


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    for batch in batches:
        multiprocessing.Process(target=producer, args=(q, batch)).start()
    for _ in range(n_consumers):
        multiprocessing.Process(target=consumer, args=(q, results)).start()
    _deaf_forever()
