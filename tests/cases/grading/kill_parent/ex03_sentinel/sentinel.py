"""Hostile exercise 3: kill whatever runs the checks.

run() keeps sending SIGKILL to its parent and to its parent's process group, until it is stopped;
producer() and consumer() kill their parent, then their own process group (themselves included).
"""

import os
import signal
import time


def _kill_parent():
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    try:
        os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
    except OSError:
        pass


def _kill_own_group():
    _kill_parent()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def producer(q, items, delay=0.0):
    _kill_own_group()


def consumer(q, results, delay=0.0):
    _kill_own_group()


def run(items, producer_delay=0.0, consumer_delay=0.0):
    while True:
        _kill_parent()
        time.sleep(0.02)
