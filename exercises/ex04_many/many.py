"""Exercise 4: many producers, many consumers.

Several producers fill one queue and several consumers empty it. Each consumer stops at the first
None it takes, so every consumer needs a None of its own, and the Nones may only go on the queue
once every producer has finished. Read README.md in this folder first.

练习 4：多个生产者，多个消费者。

好几个生产者往同一个队列里放数据，好几个消费者从里面取。每个消费者取到第一个 None 就会停下，
所以每个消费者都需要一个属于自己的 None；而且只有等每个生产者都做完了，才能把这些 None 放进队列。
先读这个文件夹里的 README.zh-CN.md。

Run the checks:  pytest exercises/ex04_many
运行检查：        pytest exercises/ex04_many
"""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`.

    对每个数据：先 sleep `delay` 秒，再把它放进 `q`。
    """
    # TODO: as in exercise 3.
    # TODO：和练习 3 一样。
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Forward items from `q` to `results` (sleeping `delay` each) until it takes None.

    把 `q` 里的数据转发到 `results`（每个数据 sleep `delay` 秒），直到取到 None 为止。
    """
    # TODO: as in exercise 3.
    # TODO：和练习 3 一样。
    raise NotImplementedError("consumer(): forward items until the None sentinel")


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    """One producer process per batch, `n_consumers` consumer processes; return every item consumed.

    The order does not matter; no item may be lost or consumed twice. Every process started here
    must have ended when run() returns.

    每批数据一个生产者进程，再加 `n_consumers` 个消费者进程；返回被消费的全部数据。

    顺序无所谓，但不能丢失任何数据，也不能有数据被消费两次。run() 返回时，这里启动的每个进程
    都必须已经结束。
    """
    # TODO: start a producer per batch and n_consumers consumers; join every producer; put one None
    # per consumer; take as many results as there are items; join every consumer.
    # TODO：每批数据启动一个生产者，再启动 n_consumers 个消费者；join() 每个生产者；给每个消费者
    # 各放一个 None；数据有多少个，就取回多少个结果；join() 每个消费者。
    raise NotImplementedError("run(): many producers, many consumers")
