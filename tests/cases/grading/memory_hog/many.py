"""Hostile exercise 4: every function asks for 8 GB at once, in the process that calls it. The
grader's address-space limit must refuse it (MemoryError) before any of it is used."""


def _hog():
    return bytearray(8 * 1024**3)


def producer(q, items, delay=0.0):
    _hog()


def consumer(q, results, delay=0.0):
    _hog()


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    return len(_hog())
