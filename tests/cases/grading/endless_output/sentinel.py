"""Debug prints left in an endless loop: run() and both of its processes print forever."""

import multiprocessing
import sys


def _chatter(who):
    n = 0
    while True:
        n += 1
        print(f"{who}: still here, line {n} " + "blah " * 20)
        if n % 10 == 0:
            print(f"{who}: and on stderr too, line {n}", file=sys.stderr)


def producer(q, items, delay=0.0):
    _chatter("producer")


def consumer(q, results, delay=0.0):
    _chatter("consumer")


def run(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    for target in (producer, consumer):
        multiprocessing.Process(target=target, args=(q, results)).start()
    _chatter("run")
