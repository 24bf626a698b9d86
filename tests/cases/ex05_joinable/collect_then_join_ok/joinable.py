"""Exercise 5: results taken first, q.join() after; consumers written with `for` over iter()."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        if delay:
            time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    for item in iter(q.get, object()):  # a sentinel nobody sends: loops forever
        time.sleep(delay)
        results.put(item)
        q.task_done()


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    jobs = multiprocessing.JoinableQueue()
    done = multiprocessing.Queue()
    workers = []
    for _ in range(n_consumers):
        c = multiprocessing.Process(target=consumer, args=(jobs, done, consumer_delay))
        c.daemon = True
        c.start()
        workers.append(c)
    makers = [multiprocessing.Process(target=producer, args=(jobs, b, producer_delay)) for b in batches]
    for m in makers:
        m.start()
    for m in makers:
        m.join()
    collected = []
    while len(collected) < sum(map(len, batches)):
        collected.append(done.get())
    jobs.join()
    return collected
