"""Exercise 7: the same model across machines, on RabbitMQ.

Publishers put messages on a durable queue in a RabbitMQ broker; workers take them one at a time and
acknowledge each one only after the work, so a worker that dies loses nothing. One STOP message per
worker ends them, as the None sentinel did. Read README.md in this folder first: it says how to
start a broker.

Run the checks:  pytest exercises/ex07_rabbitmq
"""

import multiprocessing
import os
import time

import pika

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"

# The poison pill: a message body that no item equals.
STOP = "__baozi_work_queue_STOP__"


def connect(url):
    """A new connection to the broker at `url` (None: $KIT_AMQP_URL, else RabbitMQ on this machine)."""
    return pika.BlockingConnection(pika.URLParameters(url or os.environ.get("KIT_AMQP_URL") or DEFAULT_URL))


def publish(url, queue_name, items, delay=0.0):
    """Declare `queue_name` durable, publish every item (a str) as a persistent message; return the count.

    `delay` (seconds) is slept before each message; run() passes its producer_delay here.
    """
    # TODO: open a connection (connect(url)) and a channel; declare the queue with durable=True;
    # for each item: sleep `delay`, publish it with
    # properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent);
    # close the connection; return how many you published.
    raise NotImplementedError("publish(): a durable queue, persistent messages")


def worker(url, queue_name, results, delay=0.0):
    """Take messages one at a time: sleep `delay`, put the body (a str) on `results`, then ack.

    Return the number of items handled when the STOP message arrives (ack it; do not forward it).
    """
    # TODO: a connection of this process's own; declare the queue (durable, as publish() does);
    # basic_qos(prefetch_count=1); consume WITHOUT auto_ack; for each message: STOP -> ack and stop;
    # otherwise sleep, results.put(text), then basic_ack. Close the connection before returning.
    raise NotImplementedError("worker(): prefetch 1, manual acks, stop at STOP")


def run(url, queue_name, batches, n_workers, producer_delay=0.0, worker_delay=0.0):
    """One publishing process per batch, `n_workers` worker processes; return every item handled.

    One STOP per worker, published after every publisher has ended. Every process started here must
    have ended when run() returns.
    """
    # TODO: as exercise 4, with publish() (args url, queue_name, batch, producer_delay) and worker()
    # as the targets, and STOP messages instead of None. Never hand a connection to
    # another process: each one opens its own.
    raise NotImplementedError("run(): publishers, workers and one STOP per worker")
