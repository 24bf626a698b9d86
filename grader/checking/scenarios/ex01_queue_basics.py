"""Scenarios for ex01_queue_basics: a bounded queue, put_all, drain, try_put, try_get."""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import queue
import time

from grader.checking.driver import start_kit_process
from grader.checking.scenarios.common import collect, describe, timed

WAIT = 0.2  # the timeout try_put and try_get are given on a full or empty queue


def kit_helper(q, out, count: int, delay: float, timeout: float) -> None:
    """A slow consumer of the kit's own: takes `count` items from `q` and passes them to `out`."""
    for _ in range(count):
        try:
            item = q.get(timeout=timeout)
        except queue.Empty:
            return
        time.sleep(delay)
        out.put(item)


def _queue_or_none(q):
    return q if isinstance(q, multiprocessing.queues.Queue) else None


def bounded(ctx, items):
    q = ctx.func("make_queue")(3)
    if _queue_or_none(q) is None:
        return {"kind": describe(q)}
    stored = []
    for item in items[:4]:
        try:
            q.put(item, timeout=0.1)
            stored.append(True)
        except queue.Full:
            stored.append(False)
    full = q.full()
    return {"kind": "ok", "stored": stored, "full": full, "got": collect(q, sum(stored), ctx)}


def unbounded(ctx, items):
    kinds, stored = [], []
    for q in (ctx.func("make_queue")(), ctx.func("make_queue")(0)):
        kinds.append(describe(q) if _queue_or_none(q) is None else "ok")
        count = 0
        if _queue_or_none(q) is not None:
            for item in items:
                try:
                    q.put(item, timeout=0.2)
                    count += 1
                except queue.Full:
                    break
        stored.append(count)
    return {"kinds": kinds, "stored": stored}


def put_all_order(ctx, items):
    q = multiprocessing.Queue()
    count = ctx.func("put_all")(q, items)
    return {"count": count, "got": collect(q, len(items), ctx)}


def put_all_waits(ctx, items, consumer_delay):
    q = multiprocessing.Queue(2)
    out = multiprocessing.Queue()
    helper = multiprocessing.Process(target=kit_helper, name="kit-helper",
                                     args=(q, out, len(items), consumer_delay, ctx.remaining()))
    start_kit_process(helper)  # before anything is put: fork must not copy a running feeder thread
    count = ctx.func("put_all")(q, items)
    got = collect(out, len(items), ctx)
    helper.join(ctx.remaining())
    if helper.is_alive():
        helper.kill()
        helper.join()
    return {"count": count, "got": got}


def drain_fifo(ctx, items):
    q = multiprocessing.Queue()
    for item in items:
        q.put(item)
    drain = ctx.func("drain")
    first = drain(q, 3, timeout=1.0)
    rest = drain(q, len(items) - 3, timeout=1.0)
    return {"first": first, "rest": rest}


def drain_empty(ctx, items, timeout):
    q = multiprocessing.Queue()
    for item in items[:2]:
        q.put(item)
    started = time.monotonic()
    try:
        got = ctx.func("drain")(q, 3, timeout=timeout)
        raised = None
    except queue.Empty:
        got, raised = None, "Empty"
    return {"raised": raised, "got": got, "elapsed": time.monotonic() - started}


def try_put(ctx, items):
    try_put = ctx.func("try_put")
    q = multiprocessing.Queue(2)
    first = try_put(q, items[0])
    falsy = try_put(q, 0)
    full, quick = timed(try_put, q, items[1])
    full_waiting, waited = timed(try_put, q, items[2], timeout=WAIT)
    return {"first": first, "falsy": falsy, "full": full, "quick": quick,
            "full_waiting": full_waiting, "waited": waited, "got": collect(q, 2, ctx)}


def try_get(ctx, items):
    try_get = ctx.func("try_get")
    q = multiprocessing.Queue()
    empty_default, quick = timed(try_get, q)
    empty_custom = try_get(q, default="nothing")
    for item in items:
        q.put(item)
    got = [try_get(q, timeout=1.0, default="<default>") for _ in items]
    after, waited = timed(try_get, q, timeout=WAIT, default="empty")
    return {"empty_default": empty_default, "quick": quick, "empty_custom": empty_custom,
            "got": got, "after": after, "waited": waited}


def kit_late_producer(q, items, gap: float, ready) -> None:
    """A producer of the kit's own that puts each item `gap` seconds after the previous one."""
    ready.set()  # the gaps start now, not when a loaded machine got round to starting us
    for item in items:
        time.sleep(gap)
        q.put(item)


def late_items(ctx, items, gap, call, timeout):
    """drain(q, len(items)) or try_get(q) while a slow producer is still putting the items."""
    q = multiprocessing.Queue()
    ready = multiprocessing.Event()
    helper = multiprocessing.Process(target=kit_late_producer, name="kit-helper",
                                     args=(q, items, gap, ready))
    start_kit_process(helper)
    try:
        ready.wait(ctx.remaining())
        if call == "drain":
            try:
                got = ctx.func("drain")(q, len(items), timeout=timeout)
            except queue.Empty:
                got = "raised queue.Empty"
        else:
            got = [ctx.func("try_get")(q, timeout=timeout, default="<default>") for _ in items]
    finally:
        helper.join(ctx.remaining())
        if helper.is_alive():
            helper.kill()
            helper.join()
    return {"got": got}
