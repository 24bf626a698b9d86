"""Every function blocks forever: on an Event nobody sets, or on a get() from an empty queue."""

import multiprocessing
import threading


def make_queue(maxsize=0):
    threading.Event().wait()  # never set


def put_all(q, items):
    multiprocessing.Queue().get()  # nothing ever arrives


def drain(q, n, timeout=1.0):
    multiprocessing.Queue().get()


def try_put(q, item, timeout=0.0):
    threading.Event().wait()


def try_get(q, timeout=0.0, default=None):
    multiprocessing.Queue().get()
