"""Exercise 6: a parallel map whose results are big. Collect before you join.

parallel_map(func, items, n_workers) computes [func(x) for x in items] with worker processes: a
task queue feeds them, a result queue brings the answers back. The answers may be megabytes each,
much more than a pipe holds, and they come back in the order the workers finish. Read README.md in
this folder first.

练习 6：结果很大的并行 map。先收集结果，再 join()。

parallel_map(func, items, n_workers) 用几个工作进程算出 [func(x) for x in items]：任务队列把任务
喂给它们，结果队列把答案带回来。每个答案可能有好几 MB，远远超过一根管道的容量；而且答案是按工作
进程完成的先后回来的。先读这个文件夹里的 README.zh-CN.md。

Run the checks:  pytest exercises/ex06_big_results
运行检查：        pytest exercises/ex06_big_results
"""

import multiprocessing


def worker(func, tasks, results):
    """Take tasks from `tasks` until the stop value; for each, put func(item) on `results`, with
    what parallel_map() needs to put it back in its place.

    从 `tasks` 里不断取任务，直到取到停止值；每取到一个任务，就把 func(item) 放进 `results`，
    同时带上 parallel_map() 把它放回原位所需要的信息。
    """
    # TODO: loop: take a task; stop at the stop value; otherwise compute func(item) and put it,
    # with its index, on results.
    # TODO：循环：取一个任务；取到停止值就停下；否则算出 func(item)，连同它的下标一起放进 results。
    raise NotImplementedError("worker(): compute func(item) for every task until the stop value")


def parallel_map(func, items, n_workers=2):
    """Return [func(x) for x in items], computed by `n_workers` worker processes.

    The results are in the order of `items`. Every worker must have ended when it returns.

    返回 [func(x) for x in items]，由 `n_workers` 个工作进程计算。

    结果的顺序与 `items` 一致。函数返回时，每个工作进程都必须已经结束。
    """
    # TODO: a task queue and a result queue; start n_workers workers; put every item with its
    # index, then one stop value per worker; take len(items) results and put each at its index;
    # only then join the workers.
    # TODO：建一个任务队列和一个结果队列；启动 n_workers 个工作进程；把每个数据连同它的下标放进
    # 任务队列，再给每个工作进程各放一个停止值；取回 len(items) 个结果，各自放到它的下标处；
    # 这之后才 join() 工作进程。
    raise NotImplementedError("parallel_map(): task queue, workers, result queue")
