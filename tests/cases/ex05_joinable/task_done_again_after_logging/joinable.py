"""Exercise 5: a consumer that marks each item done, then logs it, then marks it done again."""

import hashlib
import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)


def log_item(item):
    """A fingerprint of the item for the log, made the slow way."""
    digest = hashlib.sha256()
    block = repr(item).encode("utf-8") * 2_000
    for _ in range(60_000_000 // len(block)):
        digest.update(block)
    print(f"done {digest.hexdigest()[:12]}", flush=True)


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        time.sleep(delay)
        results.put(item)
        q.task_done()
        log_item(item)
        q.task_done()  # meant as "mark it done once the log is written"


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch, producer_delay))
                 for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay),
                                         daemon=True) for _ in range(n_consumers)]
    for process in producers + consumers:
        process.start()
    for p in producers:
        p.join()
    q.join()
    return [results.get() for _ in range(sum(len(batch) for batch in batches))]
