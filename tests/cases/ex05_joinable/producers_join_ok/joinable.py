"""生产者自己 q.join()：等它做的包子全部被吃完才退出。"""

import time
from multiprocessing import JoinableQueue, Process, Queue


def producer(q, items, delay=0.0):
    for item in items:
        time.sleep(delay)
        q.put(item)
    q.join()  # 等消费者把队列里的东西都处理完 (task_done)，生产者才结束


def consumer(q, results, delay=0.0):
    while True:
        item = q.get()
        time.sleep(delay)
        results.put(item)
        q.task_done()


def run(batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    q = JoinableQueue()
    results = Queue()
    producers = [Process(target=producer, args=(q, batch, producer_delay)) for batch in batches]
    consumers = []
    for _ in range(n_consumers):
        c = Process(target=consumer, args=(q, results, consumer_delay))
        c.daemon = True  # 主进程结束时，守护进程随之结束
        consumers.append(c)
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join()  # 生产者结束 => 它的 q.join() 已返回 => 所有包子都被处理了
    return [results.get() for _ in range(sum(len(b) for b in batches))]
