"""Exercise 7 (solution): the same producer/consumer model on RabbitMQ, across processes and machines."""

import multiprocessing
import os
import time

import pika

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"

# The poison pill. A body no item equals: items are ordinary strings, this one is not likely to be.
STOP = "__baozi_work_queue_STOP__"


def connect(url):
    """A new connection to the broker at `url` (None: $KIT_AMQP_URL, else RabbitMQ on this machine)."""
    # One connection per process: a socket and its AMQP channel state cannot be shared by two
    # processes, so every function that runs in a process of its own opens its own.
    return pika.BlockingConnection(pika.URLParameters(url or os.environ.get("KIT_AMQP_URL") or DEFAULT_URL))


def _declare(channel, queue_name):
    # durable=True: the queue itself survives a broker restart. Every side declares it the same
    # way (declaring is idempotent), so it does not matter who starts first.
    channel.queue_declare(queue=queue_name, durable=True)


PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)


def publish(url, queue_name, items, delay=0.0):
    """Declare `queue_name` durable and publish every item as a persistent message; return the count.

    `delay` (seconds, an optional extra of this solution) is slept before each message, as the
    producers of the earlier exercises do.
    """
    connection = connect(url)
    try:
        channel = connection.channel()
        _declare(channel, queue_name)
        count = 0
        for item in items:
            time.sleep(delay)
            # delivery_mode=Persistent: the broker writes the message to disk, so a restart does not
            # lose it (a durable queue alone keeps only the queue, not its messages).
            channel.basic_publish(exchange="", routing_key=queue_name, body=item.encode("utf-8"))
            count += 1
        return count
    finally:
        connection.close()


def worker(url, queue_name, results, delay=0.0):
    """Handle messages one at a time until STOP; return how many items were handled."""
    connection = connect(url)
    try:
        channel = connection.channel()
        _declare(channel, queue_name)
        # At most one unacknowledged message at a time: a slow worker does not hoard messages that
        # a free worker could take, and a killed worker gives back only the one it held.
        channel.basic_qos(prefetch_count=1)
        handled = 0
        # auto_ack=False (the default): the broker forgets a message only when we ack it, after the
        # work. A worker killed before that loses nothing: the broker delivers the message again.
        for method, _properties, body in channel.consume(queue_name):
            text = body.decode("utf-8")
            if text == STOP:
                channel.basic_ack(method.delivery_tag)  # the pill is consumed, not forwarded
                break
            time.sleep(delay)
            results.put(text)
            channel.basic_ack(method.delivery_tag)  # only now is the message done with
            handled += 1
        channel.cancel()  # messages prefetched after STOP go back to the queue
        return handled
    finally:
        connection.close()


def run(url, queue_name, batches, n_workers, producer_delay=0.0, worker_delay=0.0):
    """One publishing process per batch, `n_workers` workers, one STOP per worker; every item handled."""
    results = multiprocessing.Queue()
    publishers = [multiprocessing.Process(target=publish, args=(url, queue_name, batch, producer_delay),
                                          name=f"publisher-{i}") for i, batch in enumerate(batches, 1)]
    workers = [multiprocessing.Process(target=worker, args=(url, queue_name, results, worker_delay),
                                       name=f"worker-{i}") for i in range(1, n_workers + 1)]
    for process in publishers + workers:
        process.start()
    for p in publishers:  # every publisher first: a STOP published earlier overtakes their items
        p.join()
    # Each worker stops at the first STOP it takes, so one each. Published from this process, on a
    # connection of its own.
    publish(url, queue_name, [STOP] * n_workers)
    total = sum(len(batch) for batch in batches)
    handled = [results.get() for _ in range(total)]  # before joining: see exercise 3
    for w in workers:
        w.join()
    return handled


if __name__ == "__main__":
    # Needs a broker: see README.md. Three kitchens, two eaters, one queue on RabbitMQ.
    baozi = [[f"包子 {p}-{i}" for i in range(5)] for p in range(3)]
    print(sorted(run(None, "baozi-demo", baozi, n_workers=2, producer_delay=0.1, worker_delay=0.2)))
