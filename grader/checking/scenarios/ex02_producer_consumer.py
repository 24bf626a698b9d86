"""Scenarios for ex02_producer_consumer: start() returns a producer and a consumer that never ends."""

from __future__ import annotations

import multiprocessing
import time

from grader.checking.scenarios.common import (Diagnosis, Scenario, StartedSeen, collect, describe, is_process,
                                              keeps_waiting, says, started, stop)


def lost_results(got) -> str:
    """The mistake a results queue that lacks items shows (`got`: what was collected): a consumer
    that forwarded nothing, or one that stopped early."""
    return "ex02.results-not-forwarded" if not got else "ex02.consumer-gives-up"


def deliver(ctx, items, producer_delay=0.0, consumer_delay=0.0, linger=0.0):
    """start(items, ...), then collect the results; with `linger`, whether the consumer then keeps
    waiting for more items for longer than that (common.keeps_waiting)."""
    ctx.answer_late()  # the consumer's empty() and get_nowait() while the producer runs
    began = time.monotonic()
    value = ctx.func("start")(items, producer_delay=producer_delay, consumer_delay=consumer_delay)
    seen = {"shape": describe(value), **started(ctx)}
    try:
        if not (isinstance(value, tuple) and len(value) == 4):
            return seen
        producer, consumer, q, results = value
        seen["kinds"] = [describe(producer), describe(consumer), describe(q), describe(results)]
        if not (is_process(producer) and is_process(consumer) and hasattr(results, "get")):
            return seen
        seen["shape"] = "ok"
        seen["started"] = producer.pid is not None and consumer.pid is not None
        seen["distinct"] = producer.pid != consumer.pid
        seen["got"] = collect(results, len(items), ctx)
        seen["late"] = ctx.late_answers()
        seen["seconds"] = time.monotonic() - began  # until the last result arrived
        seen["slept"], seen["put_spans"] = ctx.slept(), ctx.put_spans()
        producer.join(ctx.remaining())
        seen["producer_exitcode"] = producer.exitcode
        seen["consumer_alive"] = keeps_waiting(ctx, consumer, linger) if linger else consumer.is_alive()
        seen["consumer_exitcode"] = consumer.exitcode
        return seen
    finally:
        stop(*multiprocessing.active_children())  # this demo's consumer never ends by itself


# -- the scenarios as the checks name them -------------------------------------------------------

class DeliverSeen(StartedSeen):
    shape: str  # "ok", or the kind start() returned
    kinds: list | None  # the kinds of the four things it returned
    started: bool | None  # both processes started
    distinct: bool | None  # two processes, not one
    got: list | None  # the results
    late: list | None  # the questions about them answered late
    seconds: float | None  # until the last result arrived
    slept: dict | None  # the time.sleep calls
    put_spans: list | None  # each process that put
    producer_exitcode: int | None
    consumer_alive: bool | None  # the consumer keeps waiting for more (common.keeps_waiting)
    consumer_exitcode: int | None


DELIVER = Scenario(
    "deliver", says("start(items)"), seen=DeliverSeen,
    work=lambda items, producer_delay=0.0, consumer_delay=0.0, linger=0.0, **_:
        len(items) * (producer_delay + consumer_delay) + linger,
    processes=lambda **_: 2)


def _start_joins(hang):
    """The demo's consumer never ends by design, so start() must not wait for it."""
    return "start-joins", {**hang.at_main, "call": hang.main.call or "join()"}, "ex02.start-joins"


DIAGNOSIS = Diagnosis(keys={"consumer-gave-up": "ex02.consumer-gives-up"}, when_main_joins=_start_joins)
