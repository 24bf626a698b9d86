"""Exercise 2: a producer, a consumer, and a queue between them.

The producer steams baozi and puts them on the queue; the consumer takes them off and eats them.
Neither knows the other: the queue decouples them and absorbs the difference in speed. This first
version has a flaw on purpose: the consumer never stops (see README.md).

练习 2：一个生产者，一个消费者，中间一个队列。

生产者蒸好包子，放进队列；消费者从队列里取出包子，吃掉。两边互不认识：队列把它们解耦，
也吸收了两边速度上的差异。这第一个版本故意留了一个缺陷：消费者永远不会停下（见 README.zh-CN.md）。

Run the checks:  pytest exercises/ex02_producer_consumer
运行检查：        pytest exercises/ex02_producer_consumer
"""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`.

    对每个数据：先 sleep `delay` 秒，再把它放进 `q`。
    """
    # TODO: loop over items, time.sleep(delay), q.put(item).
    # TODO：遍历 items，time.sleep(delay)，q.put(item)。
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Forever: take an item from `q`, sleep `delay` seconds, put it on `results`.

    It must wait for a slow producer (block in q.get()) and must never return.

    永远重复：从 `q` 里取一个数据，sleep `delay` 秒，再把它放进 `results`。

    生产者慢的时候，它必须等着（阻塞在 q.get() 里），而且永远不能返回。
    """
    # TODO: while True: take with q.get() (it waits while the queue is empty), sleep, forward.
    # TODO：while True：用 q.get() 取数据（队列为空时它会等），sleep，再转发出去。
    raise NotImplementedError("consumer(): take from q forever, forward to results")


def start(items, producer_delay=0.0, consumer_delay=0.0):
    """Start one producer process and one consumer process; do not wait for them.

    Return (producer_process, consumer_process, q, results).

    启动一个生产者进程和一个消费者进程；不要等它们。

    返回 (producer_process, consumer_process, q, results)。
    """
    # TODO: make two multiprocessing.Queue()s, two multiprocessing.Process(target=..., args=(...)),
    # start both, and return them. Do not join: the consumer never ends.
    # TODO：建两个 multiprocessing.Queue()，两个 multiprocessing.Process(target=..., args=(...))，
    # 把两个进程都启动，然后返回。不要 join()：消费者永远不会结束。
    raise NotImplementedError("start(): start a producer and a consumer process")
