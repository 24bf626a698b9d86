"""Exercise 1, right, but every function first tries to phone home: a TCP connection to a port on
127.0.0.1 that the kit's test listens on. Failing to connect changes nothing; the functions return
normally either way."""

import multiprocessing
import queue
import socket

HOME = ("127.0.0.1", 47391)  # tests/test_grading.py listens here while the batch runs


def _phone_home():
    try:
        with socket.create_connection(HOME, timeout=0.5) as conn:
            conn.sendall(b"baozi-kit network scenario: a submission reached the network\n")
    except OSError:
        pass


def make_queue(maxsize=0):
    _phone_home()
    return multiprocessing.Queue(maxsize)


def put_all(q, items):
    _phone_home()
    count = 0
    for item in items:
        q.put(item)
        count += 1
    return count


def drain(q, n, timeout=1.0):
    _phone_home()
    return [q.get(timeout=timeout) for _ in range(n)]


def try_put(q, item, timeout=0.0):
    _phone_home()
    try:
        q.put(item, timeout=timeout)
    except queue.Full:
        return False
    return True


def try_get(q, timeout=0.0, default=None):
    _phone_home()
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return default
