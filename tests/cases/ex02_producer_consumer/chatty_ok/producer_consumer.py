"""Exercise 2: a producer and a consumer."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)
        print(f"生产者生产了 {item!r}", flush=True)
    print("生产者: 包子都蒸好了")


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        print(f"消费者拿到了 {item!r}, 开始吃", flush=True)
        time.sleep(delay)
        results.put(item)
        print(f"消费者吃完了 {item!r}")


def start(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay), name="生产者")
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay), name="消费者")
    p.start()
    c.start()
    print(f"main: 生产者 pid {p.pid}, 消费者 pid {c.pid}")
    return p, c, q, results


if __name__ == "__main__":
    p, c, q, results = start([f"包子 {i}" for i in range(5)], producer_delay=0.5, consumer_delay=1.0)
    for _ in range(5):
        print("main got", results.get())
