"""Every function blocks forever."""

import multiprocessing
import threading


def producer(q, items, delay=0.0):
    threading.Event().wait()


def consumer(q, results, delay=0.0):
    multiprocessing.Queue().get()


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    event = multiprocessing.Event()
    workers = [multiprocessing.Process(target=event.wait) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
