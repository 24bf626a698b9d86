"""Every function blocks forever; run() starts a consumer and joins it, with no sentinel."""

import multiprocessing
import threading


def producer(q, items, delay=0.0):
    threading.Event().wait()


def consumer(q, results, delay=0.0):
    multiprocessing.Queue().get()  # not q: it ignores the items and the None alike


def run(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
    c.start()
    c.join()  # the consumer never ends
    return []
