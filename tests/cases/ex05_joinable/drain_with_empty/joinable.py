"""Exercise 5 (solution): a JoinableQueue, daemon consumers, and q.join() instead of sentinels."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`."""
    for item in items:
        time.sleep(delay)
        q.put(item)  # a JoinableQueue counts this item as unfinished from now on


def consumer(q, results, delay=0.0):
    """Forever: take an item, work on it, put the result, and only then mark it done."""
    while True:
        item = q.get()
        time.sleep(delay)
        results.put(item)
        # Last, not first: q.join() returns once every item is marked done, and the program may
        # end (killing this daemon) right then. Marking it done before the work would let the
        # program end while this item is still being worked on, and it would be lost.
        q.task_done()


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    """One producer per batch, `n_consumers` daemon consumers; return every consumed item."""
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch, producer_delay),
                                         name=f"producer-{i}") for i, batch in enumerate(batches, 1)]
    # Daemons: they wait in q.get() forever, and nobody will tell them to stop. When the program
    # ends, Python terminates its daemon children instead of joining them, so they cannot keep it
    # alive. (A non-daemon child is joined at exit, and one waiting in q.get() never ends.)
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, consumer_delay),
                                         name=f"consumer-{i}", daemon=True)
                 for i in range(1, n_consumers + 1)]
    for process in producers + consumers:
        process.start()
    for p in producers:  # every item is on the queue (and counted) only once they have all ended
        p.join()
    q.join()  # every item put has been marked done: all the work is finished
    out = []
    while not results.empty():  # the work is done, so the results must all be there (not always)
        out.append(results.get())
    return out


if __name__ == "__main__":
    baozi = [[f"包子 {p}-{i}" for i in range(10)] for p in range(3)]
    print(sorted(run(baozi, n_consumers=2, producer_delay=0.5, consumer_delay=1.0)))
    print("main: the program ends, and the daemon consumers with it")
