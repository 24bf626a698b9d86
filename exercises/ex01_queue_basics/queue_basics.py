"""Exercise 1: a queue between processes.

A multiprocessing.Queue carries items from one process to another: a pipe to move the bytes and a
lock so that two processes never read or write at the same moment. Give it a maxsize and put() waits
while it is full; get() waits while it is empty. Read README.md in this folder first.

练习 1：进程之间的队列。

multiprocessing.Queue 把数据从一个进程带到另一个进程：用一根管道搬运字节，再用一把锁保证两个进程
永远不会同时读写。给它设了 maxsize，队列满时 put() 就会等；队列空时 get() 也会等。
先读这个文件夹里的 README.zh-CN.md。

Run the checks:  pytest exercises/ex01_queue_basics
运行检查：        pytest exercises/ex01_queue_basics
"""

import multiprocessing
import queue


def make_queue(maxsize=0):
    """Return a multiprocessing.Queue that holds at most `maxsize` items (0 means no limit).

    返回一个最多容纳 `maxsize` 个数据的 multiprocessing.Queue（0 表示没有上限）。
    """
    # TODO: create and return the queue.
    # TODO：创建这个队列，并返回它。
    raise NotImplementedError("make_queue(): create a multiprocessing.Queue")


def put_all(q, items):
    """Put every item on `q` in order, waiting while the queue is full; return how many were put.

    按顺序把每个数据放进 `q`，队列满了就等；返回一共放了多少个。
    """
    # TODO: put each item. A plain q.put() already waits while the queue is full.
    # TODO：逐个放入数据。普通的 q.put() 在队列满时本来就会等。
    raise NotImplementedError("put_all(): put every item, then return the count")


def drain(q, n, timeout=1.0):
    """Return the next `n` items of `q` in order.

    Raise queue.Empty if an item does not arrive within `timeout` seconds.

    按顺序返回 `q` 里接下来的 `n` 个数据。

    如果某个数据没有在 `timeout` 秒之内到来，就抛出 queue.Empty。
    """
    # TODO: take n items; q.get(timeout=...) raises queue.Empty for you.
    # TODO：取 n 个数据；q.get(timeout=...) 会替你抛出 queue.Empty。
    raise NotImplementedError("drain(): take n items, each within timeout")


def try_put(q, item, timeout=0.0):
    """Put `item` if there is room within `timeout` seconds: return True if stored, False if not.

    Never waits longer than `timeout`.

    如果 `timeout` 秒之内有空位，就放入 `item`：放进去了返回 True，没放进去返回 False。

    等待的时间决不超过 `timeout`。
    """
    # TODO: q.put(item, timeout=...) raises queue.Full when the queue stayed full.
    # TODO：队列一直是满的，q.put(item, timeout=...) 就会抛出 queue.Full。
    raise NotImplementedError("try_put(): put with a timeout, report whether it worked")


def try_get(q, timeout=0.0, default=None):
    """Return the next item of `q`, or `default` if none arrives within `timeout` seconds.

    Items may be falsy (0, "", []): they are items, not "nothing".

    返回 `q` 的下一个数据；如果 `timeout` 秒之内什么也没来，就返回 `default`。

    数据可能是假值（0、""、[]）：它们也是数据，不是“什么都没有”。
    """
    # TODO: q.get(timeout=...) raises queue.Empty when nothing came.
    # TODO：什么也没来时，q.get(timeout=...) 会抛出 queue.Empty。
    raise NotImplementedError("try_get(): get with a timeout, or return default")
