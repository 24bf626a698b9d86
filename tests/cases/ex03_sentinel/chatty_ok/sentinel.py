"""Exercise 3: stop the consumer with a None sentinel."""

import multiprocessing
import time


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)
        print(f"生产者生产了 {item!r}")


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        if item is None:
            print("消费者: 收到 None, 下班了")
            return
        print(f"消费者吃了 {item!r}")
        time.sleep(delay)
        results.put(item)


def run(items, producer_delay=0.0, consumer_delay=0.0):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, items, producer_delay))
    c = multiprocessing.Process(target=consumer, args=(q, results, consumer_delay))
    p.start()
    c.start()
    p.join()
    print("生产者做完了, 放一个 None")
    q.put(None)
    out = []
    for i in range(len(items)):
        out.append(results.get())
        print(f"main 收到第 {i + 1} 个")
    c.join()
    print("全部结束")
    return out


if __name__ == "__main__":
    print(run([f"包子 {i}" for i in range(10)], producer_delay=0.5, consumer_delay=1.0))
