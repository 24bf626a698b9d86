"""Exercise 2: a producer and a consumer."""

import multiprocessing
import time


class Producer(multiprocessing.Process):
    def __init__(self, q, items, delay=0.0):
        super().__init__()
        self.q = q
        self.items = items
        self.delay = delay

    def run(self):
        producer(self.q, self.items, self.delay)


class Consumer(multiprocessing.Process):
    def __init__(self, q, results, delay=0.0):
        super().__init__()
        self.q = q
        self.results = results
        self.delay = delay

    def run(self):
        consumer(self.q, self.results, self.delay)


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        time.sleep(delay)
        results.put(item)


def start(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = Producer(q, items, producer_delay)
    c = Consumer(q, results, consumer_delay)
    p.start()
    c.start()
    return p, c, q, results
