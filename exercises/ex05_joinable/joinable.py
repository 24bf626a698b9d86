"""Exercise 5: stop the consumers without sentinels, with a JoinableQueue and daemon processes.

练习 5：不用哨兵，而是用 JoinableQueue 和守护进程让消费者停下来。

A JoinableQueue counts the items put on it that nobody has marked done yet. q.task_done() marks
one done; q.join() waits until none is left. The consumers never return: they are daemon
processes, and when the program ends Python terminates them. Read README.md in this folder first.

JoinableQueue 会记下放进来、但还没有被标记为完成的数据有多少个。q.task_done() 把一个数据标记为
完成；q.join() 一直等到一个也不剩。消费者永远不返回：它们是守护进程，程序结束时由 Python 终止。
请先读这个文件夹里的 README.zh-CN.md。

Run the checks:  pytest exercises/ex05_joinable
运行检查：       pytest exercises/ex05_joinable
"""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q`.

    对每个数据：先 sleep `delay` 秒，再把它放进 `q`。
    """
    # TODO: as in exercise 4.
    # TODO：和练习 4 一样。
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Forever: take an item from the JoinableQueue `q`, sleep `delay`, put it on `results`, then
    mark it done with q.task_done().

    永远循环：从 JoinableQueue `q` 里取一个数据，sleep `delay` 秒，把它放进 `results`，
    再用 q.task_done() 把它标记为完成。
    """
    # TODO: like exercise 2's consumer (no sentinel, it never returns), plus exactly one
    # q.task_done() per item, after the result is on `results`.
    # TODO：和练习 2 的消费者一样（没有哨兵，它永远不返回），另外每个数据恰好调用一次
    # q.task_done()，而且要在结果放进 `results` 之后。
    raise NotImplementedError("consumer(): forward items and mark each one done")


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    """One producer process per batch, `n_consumers` daemon consumer processes; return every item
    consumed (any order, none lost or doubled).

    每批数据一个生产者进程，再加 `n_consumers` 个守护进程消费者；返回被消费的每一个数据
    （顺序不限，不能丢，也不能重复）。

    The producers must have ended when run() returns; the consumers may still be waiting in
    q.get(): they are daemons, so the end of the program ends them.

    run() 返回时，生产者必须都已结束；消费者可以还在 q.get() 里等着：它们是守护进程，
    程序一结束，它们也就跟着结束了。
    """
    # TODO: a JoinableQueue for the items and a Queue for the results; start the producers and
    # the consumers (daemon=True); join every producer; q.join(); take one result per item.
    # TODO：数据用一个 JoinableQueue，结果用一个 Queue；启动生产者和消费者（daemon=True）；
    # join() 每个生产者；q.join()；为每个数据取一个结果。
    raise NotImplementedError("run(): JoinableQueue, daemon consumers, q.join()")
