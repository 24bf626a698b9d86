"""Exercise 2 (solution): a producer and a consumer that never shuts down."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`."""
    for item in items:
        time.sleep(delay)
        q.put(item)


def consumer(q, results, delay=0.0):
    """Forever: take an item from `q`, sleep `delay` seconds, put it on `results`."""
    while True:
        # get() sleeps until an item arrives, so a slow producer costs no CPU; and since nothing
        # ever tells this loop to stop, the process never ends: the flaw exercise 3 fixes.
        item = q.get()
        time.sleep(delay)
        results.put(item)


def start(items, producer_delay=0.0, consumer_delay=0.0):
    """Start one producer and one consumer process; return (producer, consumer, q, results)."""
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    # Targets are module-level functions, so spawn and forkserver children can import them by name.
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay), name="producer")
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay), name="consumer")
    p.start()
    c.start()
    # No join: the consumer waits in q.get() forever. Returning q keeps it alive until the children
    # have opened it (under spawn a queue collected too early breaks the child).
    return p, c, q, results


if __name__ == "__main__":
    p, c, q, results = start([f"包子 {i}" for i in range(10)], producer_delay=0.5, consumer_delay=1.0)
    for _ in range(10):
        print("consumer ate", results.get())
    print("main: every baozi eaten, but the consumer is still waiting in q.get(); Ctrl-C to stop")
    c.join()
