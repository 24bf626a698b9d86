"""Exercise 7: the same model across machines, on RabbitMQ.

Publishers put messages on a durable queue in a RabbitMQ broker; workers take them one at a time and
acknowledge each one only after the work, so a worker that dies loses nothing. One STOP message per
worker ends them, as the None sentinel did. Read README.md in this folder first: it says how to
start a broker.

练习 7：把同样的模式搬到多台机器之间，用 RabbitMQ。

发布者把消息放进 RabbitMQ 消息代理里的一个持久队列；工作进程一次取一条，活干完之后才确认（ack）
这条消息，所以工作进程就算死了也不会丢东西。每个工作进程一条 STOP 消息让它们结束，就像之前的
哨兵 None 一样。先读这个文件夹里的 README.zh-CN.md：里面讲了怎样启动消息代理。

Run the checks:  pytest exercises/ex07_rabbitmq
运行检查：        pytest exercises/ex07_rabbitmq
"""

import multiprocessing
import os
import time

import pika

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"

# The poison pill: a message body that no item equals.
# 毒丸：一个不等于任何数据的消息体。
STOP = "__baozi_work_queue_STOP__"


def connect(url):
    """A new connection to the broker at `url` (None: $KIT_AMQP_URL, else RabbitMQ on this machine).

    到 `url` 处消息代理的一个新连接（`url` 为 None 时用 $KIT_AMQP_URL，没有设置就用本机的 RabbitMQ）。
    """
    return pika.BlockingConnection(pika.URLParameters(url or os.environ.get("KIT_AMQP_URL") or DEFAULT_URL))


def publish(url, queue_name, items, delay=0.0):
    """Declare `queue_name` durable, publish every item (a str) as a persistent message; return the count.

    `delay` (seconds) is slept before each message; run() passes its producer_delay here.

    把 `queue_name` 声明为持久队列，把每个数据（一个 str）作为持久化消息发布出去；返回发布的条数。

    每条消息发布之前先 sleep `delay` 秒；run() 把它的 producer_delay 传到这里。
    """
    # TODO: open a connection (connect(url)) and a channel; declare the queue with durable=True;
    # for each item: sleep `delay`, publish it with
    # properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent);
    # close the connection; return how many you published.
    # TODO：打开一个连接（connect(url)）和一个通道；用 durable=True 声明队列；
    # 对每个数据：先 sleep `delay`，再带上
    # properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent) 发布它；
    # 关闭连接；返回发布了多少条。
    raise NotImplementedError("publish(): a durable queue, persistent messages")


def worker(url, queue_name, results, delay=0.0):
    """Take messages one at a time: sleep `delay`, put the body (a str) on `results`, then ack.

    Return the number of items handled when the STOP message arrives (ack it; do not forward it).

    一次取一条消息：先 sleep `delay`，再把消息体（一个 str）放进 `results`，然后确认（ack）。

    STOP 消息到来时，返回处理过的数据个数（STOP 也要确认，但不要转发它）。
    """
    # TODO: a connection of this process's own; declare the queue (durable, as publish() does);
    # basic_qos(prefetch_count=1); consume WITHOUT auto_ack; for each message: STOP -> ack and stop;
    # otherwise sleep, results.put(text), then basic_ack. Close the connection before returning.
    # TODO：这个进程自己的连接；声明队列（和 publish() 一样，durable）；
    # basic_qos(prefetch_count=1)；消费时不要用 auto_ack；对每条消息：是 STOP 就确认并停下；
    # 否则先 sleep，再 results.put(text)，然后 basic_ack。返回之前关闭连接。
    raise NotImplementedError("worker(): prefetch 1, manual acks, stop at STOP")


def run(url, queue_name, batches, n_workers, producer_delay=0.0, worker_delay=0.0):
    """One publishing process per batch, `n_workers` worker processes; return every item handled.

    One STOP per worker, published after every publisher has ended. Every process started here must
    have ended when run() returns.

    每批数据一个发布进程，再加 `n_workers` 个工作进程；返回处理过的全部数据。

    每个工作进程一条 STOP，要在每个发布者都结束之后再发布。run() 返回时，这里启动的每个进程都必须
    已经结束。
    """
    # TODO: as exercise 4, with publish() (args url, queue_name, batch, producer_delay) and worker()
    # as the targets, and STOP messages instead of None. Never hand a connection to
    # another process: each one opens its own.
    # TODO：和练习 4 一样，只是以 publish()（参数 url, queue_name, batch, producer_delay）和 worker()
    # 作为进程的 target，并用 STOP 消息代替 None。绝不要把一个连接交给另一个进程：每个进程都打开
    # 自己的连接。
    raise NotImplementedError("run(): publishers, workers and one STOP per worker")
