"""Helpers shared by the scenarios (they run inside the driver process)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import queue
import time

from grader.driver import INTERNAL_ROLES


def collect(q, count: int, ctx) -> list:
    """Up to `count` items from `q`, stopping at the check's deadline (partial results are data)."""
    got = []
    while len(got) < count:
        try:
            got.append(q.get(timeout=ctx.remaining()))
        except queue.Empty:
            break
    return got


def is_process(obj) -> bool:
    return isinstance(obj, multiprocessing.process.BaseProcess)


def describe(obj) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def stop(*procs, timeout: float = 1.0) -> None:
    """End processes the check itself must stop (a consumer that is meant to run forever)."""
    for proc in procs:
        if is_process(proc) and proc.pid is not None and proc.is_alive():
            proc.terminate()
    for proc in procs:
        if is_process(proc) and proc.pid is not None:
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout)


def timed(fn, *args, **kwargs):
    """(result, seconds) of one call."""
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started


def started(ctx) -> dict:
    """Roles of the processes and threads the student's code started, for the verdicts; the kit's
    own helpers and a Manager's server process do not count."""
    mine = [e for e in ctx.started("process")
            if not e["role"].startswith("kit_") and e["role"] not in INTERNAL_ROLES]
    return {"processes": [e["role"] for e in mine], "daemons": [e["daemon"] for e in mine],
            "threads": [e["role"] for e in ctx.started("thread")]}


def as_list(value):
    """A returned sequence as a list; anything else is described instead (and then fails)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return {"not_a_list": describe(value)}


def overlap(ctx) -> bool | None:
    """Did the consumers start while a producer was still at work? None if nothing to judge."""
    entries = ctx.started("process")
    producers = [e for e in entries if "produc" in e["role"].lower()]
    consumers = [e for e in entries if "consum" in e["role"].lower()]
    if not producers or not consumers:
        return None
    first = consumers[0]
    before = [e for e in producers if entries.index(e) < entries.index(first)]
    if len(before) < len(producers):
        return True  # a producer started after the first consumer: they did overlap
    return any("produc" in role.lower() for role in first["alive_at_start"])


def _call_run(ctx, *args, **kwargs) -> dict:
    value, seconds = timed(ctx.func("run"), *args, **kwargs)
    return {"value": as_list(value), "seconds": seconds, "slept": ctx.slept(),
            "put_spans": ctx.put_spans(), "overlap": overlap(ctx),
            **ctx.audit(), **started(ctx)}


def run_items(ctx, items, producer_delay=0.0, consumer_delay=0.0):
    """Call run(items, ...) (ex03)."""
    return _call_run(ctx, items, producer_delay=producer_delay, consumer_delay=consumer_delay)


def run_batches(ctx, batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    """Call run(batches, n_consumers, ...) (ex04, ex05)."""
    return _call_run(ctx, batches, n_consumers, producer_delay=producer_delay,
                     consumer_delay=consumer_delay)


def consumer_stops(ctx, items):
    """consumer(q, results) in this process, with items, None, and one more item behind the None."""
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    for item in [*items, None, "after the sentinel"]:
        q.put(item)
    ctx.func("consumer")(q, results)
    got = collect(results, len(items), ctx)
    extra = []
    try:
        extra.append(results.get(timeout=0.1))  # a forwarded None would show up here
    except queue.Empty:
        pass
    try:
        behind = q.get(timeout=1.0)
    except queue.Empty:
        behind = "<nothing>"
    return {"got": got, "extra": extra, "behind": behind}


def producer_only_items(ctx, items, delay=0.0):
    """producer(q, items) in this process: the queue must then hold the items and nothing else."""
    q = multiprocessing.Queue()
    ctx.func("producer")(q, items, delay)
    got = collect(q, len(items), ctx)
    extra = []
    try:
        extra.append(q.get(timeout=0.1))
    except queue.Empty:
        pass
    return {"got": got, "extra": extra}
