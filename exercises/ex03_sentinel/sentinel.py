"""Exercise 3: tell the consumer to stop, with a None sentinel.

In exercise 2 the program never ends: once the producer is done, the consumer waits in q.get()
for an item that will never come. The fix: when the producer has finished (join it), put one
agreed "no more items" value on the queue: None. The consumer stops when it takes it.
Read README.md in this folder first.

练习 3：用 None 哨兵通知消费者停下。

在练习 2 里，程序一直结束不了：生产者做完以后，消费者还在 q.get() 里等一个永远不会来的数据。
解决办法：生产者做完之后（先 join() 它），往队列里放一个事先约定好、表示“没有更多数据了”的值：
None。消费者取到它就停下。先读这个文件夹里的 README.zh-CN.md。

Run the checks:  pytest exercises/ex03_sentinel
运行检查：        pytest exercises/ex03_sentinel
"""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q` (as in exercise 2).

    对每个数据：先 sleep `delay` 秒，再把它放进 `q`（和练习 2 一样）。
    """
    # TODO: as in exercise 2. Do not put the sentinel here: run() does, after join().
    # TODO：和练习 2 一样。不要在这里放哨兵：哨兵由 run() 在 join() 之后放。
    raise NotImplementedError("producer(): put every item on q")


def consumer(q, results, delay=0.0):
    """Take items from `q`, sleep `delay`, put each on `results`; return on None (not forwarded).

    从 `q` 里取数据，sleep `delay` 秒，再把每个数据放进 `results`；取到 None 就返回（None 不转发）。
    """
    # TODO: like exercise 2, but stop when the item `is None`. Careful: 0, "" and [] are items.
    # TODO：和练习 2 差不多，但取到的数据 `is None` 时停下。注意：0、"" 和 [] 都是数据。
    raise NotImplementedError("consumer(): forward items until the None sentinel")


def run(items, producer_delay=0.0, consumer_delay=0.0):
    """Run one producer and one consumer process; return the consumed items in order.

    Every process started here must have ended when run() returns.

    运行一个生产者进程和一个消费者进程；按顺序返回被消费的数据。

    run() 返回时，这里启动的每个进程都必须已经结束。
    """
    # TODO: start both processes; join the producer; put None; take len(items) results;
    # join the consumer; return the results.
    # TODO：启动两个进程；join() 生产者；放入 None；取回 len(items) 个结果；
    # join() 消费者；返回这些结果。
    raise NotImplementedError("run(): producer, consumer, sentinel, results")
