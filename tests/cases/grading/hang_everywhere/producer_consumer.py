"""Every function blocks forever."""

import multiprocessing
import threading


def producer(q, items, delay=0.0):
    threading.Event().wait()


def consumer(q, results, delay=0.0):
    multiprocessing.Queue().get()


def start(items, producer_delay=0.0, consumer_delay=0.0):
    multiprocessing.Event().wait()  # never set
