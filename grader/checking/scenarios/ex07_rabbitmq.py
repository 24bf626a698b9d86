"""Scenarios for ex07_rabbitmq: the work queue on a real RabbitMQ broker.

The kit watches the broker with connections of its own (``_Observer``): how many messages are ready
in a queue, whether the queue is durable, which messages are persistent. A queue name is made by the
test (``Kit.queue_name``) and deleted by it afterwards, so checks never see each other's messages.

Workers the kit starts itself run in ``kit_worker`` processes, started as the kit's own
(``start_kit_process``) so that they stay out of the verdicts about the student's own processes;
they call the student's ``worker``.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import time
from typing import Callable

from grader.checking import compat
from grader.checking.driver import awaiting_student, start_kit_process
from grader.checking.roles import WORKER, plays
from grader.checking.scenarios.common import (Diagnosis, RunSeen, Scenario, Seen, StartedSeen, as_list, patch_here,
                                              pipeline_work, started, timed)

WATCH_STEP = 0.02  # seconds between two looks at a queue's message count (the broker cannot push it)
SUBSCRIBE_WAIT = 1.0  # seconds the first STOP may be held for workers still subscribing


def _pika():
    import pika

    return pika


class SharedConnectionError(RuntimeError):
    """A pika connection used in a process other than the one that opened it."""


# What a driver of these checks imports (prepare): a fork server of drivers loads it once for them.
DRIVER_LIBRARIES = ("pika.adapters.blocking_connection",)


def prepare() -> None:
    """Make a pika connection that crosses a fork fail loudly, where it would otherwise garble frames.

    A fork child inherits its parent's socket: two processes writing AMQP frames on one connection
    corrupt each other's channels, at random. The driver calls this before the student's module runs;
    fork children inherit the patched classes.
    """
    from pika.adapters import blocking_connection as blocking

    connection_init = blocking.BlockingConnection.__init__

    def __init__(self, *args, **kwargs):
        connection_init(self, *args, **kwargs)
        self._baozi_pid = os.getpid()

    blocking.BlockingConnection.__init__ = __init__

    def guarded(cls, name, owner):
        original = getattr(cls, name)

        def method(self, *args, **kwargs):
            opened = getattr(owner(self), "_baozi_pid", None)
            if opened is not None and opened != os.getpid():
                raise SharedConnectionError(
                    f"this pika connection was opened by process {opened} and is used by process "
                    f"{os.getpid()} ({multiprocessing.current_process().name}): a connection cannot be "
                    "shared between processes. Open one in each process that talks to the broker.")
            return original(self, *args, **kwargs)

        method.__name__ = name
        method.__qualname__ = f"{cls.__name__}.{name}"
        setattr(cls, name, method)

    for name in ("channel", "process_data_events", "close"):
        guarded(blocking.BlockingConnection, name, lambda conn: conn)
    for name in ("basic_publish", "basic_consume", "consume", "basic_get", "basic_ack", "basic_qos",
                 "queue_declare", "start_consuming"):
        guarded(blocking.BlockingChannel, name, compat.channel_connection)


class _Observer:
    """The kit's own look at the broker, on a connection of its own."""

    def __init__(self, url: str):
        pika = _pika()
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception:
            pass

    def ready(self, name: str) -> int | None:
        """Messages ready for delivery (not the unacknowledged ones); None if there is no such queue."""
        return self._count(name, "message_count")

    def _count(self, name: str, field: str) -> int | None:
        pika = _pika()
        try:
            return getattr(self.channel.queue_declare(name, passive=True).method, field)
        except pika.exceptions.ChannelClosedByBroker:  # 404: no such queue
            self.channel = self.connection.channel()
            return None

    def durable(self, name: str) -> bool:
        """Whether the existing queue `name` is durable: declaring it durable again must agree."""
        pika = _pika()
        try:
            self.channel.queue_declare(name, durable=True)
            return True
        except pika.exceptions.ChannelClosedByBroker as exc:
            self.channel = self.connection.channel()
            # Another argument may differ (a quorum queue, say): those queues are durable anyway.
            return "durable" not in str(exc)

    def take_all(self, name: str, limit: int) -> list[tuple[str, int | None]]:
        """(body, delivery_mode) of up to `limit` ready messages, acked (taken off the queue)."""
        taken = []
        while len(taken) < limit:
            method, properties, body = self.channel.basic_get(name, auto_ack=True)
            if method is None:
                break
            taken.append((body.decode("utf-8", errors="replace"), properties.delivery_mode))
        return taken

    def publish(self, name: str, bodies: list[str]) -> None:
        """Publish with confirms: when this returns, the broker has every message in the queue."""
        pika = _pika()
        self.channel.confirm_delivery()
        self.channel.queue_declare(name, durable=True)
        for body in bodies:
            self.channel.basic_publish("", name, body.encode("utf-8"),
                                       pika.BasicProperties(delivery_mode=2))

    def wait_count(self, name: str, until, deadline: float, field: str = "message_count") -> int | None:
        """Look at the ready count (or another count of the queue's: `field`) until `until(count)`
        holds or the deadline passes; the last count."""
        count = self._count(name, field)
        while not until(count) and time.monotonic() < deadline:
            time.sleep(WATCH_STEP)  # the broker has no "tell me when" for a queue's counts
            count = self._count(name, field)
        return count


def _until(ctx, seconds: float) -> float:
    """A deadline `seconds` away, but never past the check's own (the scenario must answer)."""
    return min(time.monotonic() + seconds, ctx.deadline)


def kit_worker(worker, url, queue_name, results, delay, answers):
    """Run the student's worker in a process of the kit's, and report what it returned or raised."""
    try:
        answers.put(("returned", worker(url, queue_name, results, delay)))
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        answers.put(("raised", exc))
        raise  # its traceback goes to stderr, which the report quotes


class _Worker:
    """The student's worker() running in a kit process, with what it hands on and its answer."""

    def __init__(self, ctx, url, queue_name, delay):
        self.ctx = ctx
        self.results = multiprocessing.Queue()
        self.answers = multiprocessing.Queue()
        self.answer = None
        self.proc = multiprocessing.Process(
            target=kit_worker, name="kit-worker",
            args=(ctx.func("worker"), url, queue_name, self.results, delay, self.answers))
        start_kit_process(self.proc)

    def ended(self) -> bool:
        return not self.proc.is_alive()

    def collect(self, count: int) -> list:
        """Up to `count` results; stops early when the worker has ended and nothing more comes."""
        got = []
        while len(got) < count and time.monotonic() < self.ctx.deadline:
            try:
                got.append(self.results.get(timeout=0.05))
            except queue.Empty:
                if self.ended() and self.results.empty():
                    break
        return got

    def wait_answer(self) -> tuple:
        """What worker() returned, or raised: an exception is raised here, as if called here."""
        try:
            self.answer = self.answers.get(timeout=self.ctx.remaining() if not self.ended() else 0.5)
        except queue.Empty:
            self.answer = ("no answer", None)
        if self.answer[0] == "raised":
            raise self.answer[1]
        return self.answer

    def raise_if_failed(self) -> None:
        """If the worker has died of an exception, raise it here (the check reports it)."""
        if self.ended():
            try:
                kind, value = self.answers.get(timeout=0.5)
            except queue.Empty:
                return
            if kind == "raised":
                raise value


def publish_only(ctx, url, queue_name, items):
    """publish(url, queue_name, items), then look at the queue it made."""
    value, seconds = timed(ctx.func("publish"), url, queue_name, items)
    seen = {"value": value, "seconds": seconds, "exists": False, **started(ctx)}
    observer = _Observer(url)
    try:
        seen["ready"] = observer.ready(queue_name)
        seen["exists"] = seen["ready"] is not None
        if seen["exists"]:
            seen["durable"] = observer.durable(queue_name)
            messages = observer.take_all(queue_name, len(items) + 5)
            seen["bodies"] = [body for body, _ in messages]
            seen["modes"] = [mode for _, mode in messages]
    finally:
        observer.close()
    return seen


def worker_until_stop(ctx, url, queue_name, items, behind, delay=0.0):
    """The queue holds items, STOP, then one more message: worker() must hand on the items, return
    their count, and leave the message behind STOP in the queue."""
    stop = getattr(ctx.module, "STOP", None)
    if not isinstance(stop, str) or stop in items:
        return {"bad_stop": repr(stop)}
    observer = _Observer(url)
    try:
        observer.publish(queue_name, [*items, stop, behind])
    finally:
        observer.close()
    worker = _Worker(ctx, url, queue_name, delay)
    got = worker.collect(len(items))
    answer = worker.wait_answer()
    worker.proc.join(ctx.remaining())
    extra = []
    try:
        extra.append(worker.results.get(timeout=0.1))  # a forwarded STOP would show up here
    except queue.Empty:
        pass
    observer = _Observer(url)
    try:
        # Once the worker's connection is gone, the broker puts back what it held unacked (at once,
        # but not before our next look, perhaps): wait, bounded, for the message behind STOP.
        observer.wait_count(queue_name, lambda n: n is None or n >= 1, _until(ctx, 2.0))
        left = observer.take_all(queue_name, len(items) + 3)
    finally:
        observer.close()
    return {"got": got, "extra": extra, "answer": answer, "exitcode": worker.proc.exitcode,
            "stop": stop, "left": [body for body, _ in left]}


def worker_killed_mid_message(ctx, url, queue_name, items, hold, window):
    """A worker that takes `hold` seconds per message is killed while it works on its first one.

    Watched: how many messages it took at once (prefetch), and whether the broker gives the one it
    held back after the kill (manual acks)."""
    observer = _Observer(url)
    try:
        observer.publish(queue_name, items)
        worker = _Worker(ctx, url, queue_name, hold)
        total = len(items)
        with awaiting_student("broker"):  # for the worker's first take; at the deadline it answers
            first = observer.wait_count(queue_name, lambda n: (n is not None and n < total) or worker.ended(),
                                        _until(ctx, 10.0))
        worker.raise_if_failed()
        seen = {"took": first is not None and first < total, "lowest": first}
        if seen["took"]:
            # While it works on its first message (for `hold` seconds), a worker with prefetch_count=1
            # holds that one only; one without a prefetch limit was pushed many more at once.
            end = time.monotonic() + window
            lowest = first
            while time.monotonic() < end:
                time.sleep(WATCH_STEP)
                count = observer.ready(queue_name)
                if count is not None:
                    lowest = min(lowest, count)
            seen["lowest"] = lowest
        worker.raise_if_failed()
        worker.proc.kill()
        worker.proc.join(5.0)
        # The broker takes back a dead connection's unacknowledged messages at once.
        seen["after_kill"] = observer.wait_count(queue_name, lambda n: n == total,
                                                 _until(ctx, 3.0))
        return seen
    finally:
        observer.close()


def _await_subscribers(ctx, url: str, name) -> None:
    """Hold the first STOP until every worker process still running has subscribed to the queue
    (the broker's count of its consumers), for at most SUBSCRIBE_WAIT seconds.

    Where the STOPs land then depends on the code, not on start-up times: the broker hands them out
    in turn, one to each subscribed worker, whether the workers acknowledge (one at a time) or not.
    Sent while a worker was still starting, every STOP could go to the one already subscribed, and
    a worker consuming with auto_ack=True would take two of them in some runs and not in others
    (the checks that kill a worker judge auto_ack in every run). A worker that polls with basic_get
    never subscribes: it costs this wait once."""
    if not isinstance(name, str) or not any(plays(role, WORKER) for role in ctx.running()):
        return
    deadline = _until(ctx, SUBSCRIBE_WAIT)
    try:
        observer = _Observer(url)
    except Exception:  # the kit's own look failed: the STOP goes out unheld, as the code sent it
        return
    try:
        observer.wait_count(name, lambda n: n is None or n >= sum(plays(r, WORKER) for r in ctx.running()),
                            deadline, field="consumer_count")
    except Exception:
        return
    finally:
        observer.close()


def _record_stops(ctx, url: str) -> tuple[list[list[str]], Callable[[], None]]:
    """Note, for every STOP the student's main process publishes, which processes it had started
    and not yet joined, and hold the first STOP for the workers still subscribing
    (_await_subscribers). Returns (records, undo).

    A STOP published before a publisher has been joined can overtake its items, or not, as the
    start-ups fall: the check judges that order from the records. So that the rest of the run does
    not depend on the fall either (a hang in one run, a wrong order in the next), such a STOP is
    also held until those publishers have ended (at most half the time the check has left)."""
    from pika.adapters.blocking_connection import BlockingChannel

    stop = getattr(ctx.module, "STOP", None)
    stop_bytes = stop.encode() if isinstance(stop, str) else stop
    publish = BlockingChannel.basic_publish
    stops: list[list[str]] = []

    def basic_publish(self, *args, **kwargs):
        body = kwargs.get("body", args[2] if len(args) > 2 else None)
        if stop is not None and body in (stop, stop_bytes):
            stops.append(ctx.not_joined())
            ctx.wait_for_end([name for name in stops[-1] if not plays(name, WORKER)], ctx.remaining() / 2)
            if len(stops) == 1:
                _await_subscribers(ctx, url, kwargs.get("routing_key", args[1] if len(args) > 1 else None))
        return publish(self, *args, **kwargs)

    # A process forked meanwhile publishes as the student wrote it.
    return stops, patch_here((BlockingChannel, "basic_publish", basic_publish))


def run_work_queue(ctx, url, queue_name, batches, n_workers, producer_delay=0.0, worker_delay=0.0):
    """run(url, queue_name, batches, n_workers, ...), then what is left in the queue."""
    stops, undo = _record_stops(ctx, url)
    try:
        value, seconds = timed(ctx.func("run"), url, queue_name, batches, n_workers,
                               producer_delay=producer_delay, worker_delay=worker_delay)
    finally:
        undo()
    seen = {"value": as_list(value), "seconds": seconds, "slept": ctx.slept(), "sentinels": stops,
            "put_spans": ctx.put_spans(), "gets": ctx.gets(), **ctx.audit(), **started(ctx)}
    observer = _Observer(url)
    try:
        left = observer.take_all(queue_name, sum(len(b) for b in batches) + n_workers + 5)
    finally:
        observer.close()
    seen["left"] = [body for body, _ in left]
    return seen


# -- the scenarios as the checks name them -------------------------------------------------------

WAIT_BEHIND = 1.5  # seconds a check may wait for the broker to give back the message behind STOP


class PublishSeen(StartedSeen):
    value: object  # what publish() returned
    seconds: float
    exists: bool  # the queue exists
    ready: int | None  # messages ready in it
    durable: bool | None
    bodies: list | None  # the messages' bodies, in order
    modes: list | None  # their delivery modes (2: persistent)


class WorkerUntilStopSeen(Seen):
    bad_stop: str | None  # STOP, when it is missing, not a str, or one of the items
    got: list | None  # the results the worker put
    extra: list | None  # anything more (a forwarded STOP)
    answer: tuple | list | None  # ("returned", value), or why there was no answer
    exitcode: int | None
    stop: str | None  # the module's STOP
    left: list | None  # the messages left in the queue


class WorkerKilledSeen(Seen):
    took: bool  # the worker took a message before the check gave up waiting
    lowest: int | None  # the fewest messages ready while it worked on its first
    after_kill: int | None  # messages ready once it was killed


class WorkQueueRunSeen(RunSeen):
    left: list | None  # the messages left in the queue


PUBLISH_ONLY = Scenario("publish_only", lambda queue_name, **_: f"publish(url, {queue_name!r}, items)",
                        seen=PublishSeen)
WORKER_UNTIL_STOP = Scenario(
    "worker_until_stop", lambda queue_name, **_: f"worker(url, {queue_name!r}, results)", seen=WorkerUntilStopSeen,
    work=lambda **_: WAIT_BEHIND, processes=lambda **_: 1)
# The worker is killed once the window is over; the rest is the broker's to give the message back.
WORKER_KILLED_MID_MESSAGE = Scenario(
    "worker_killed_mid_message", lambda queue_name, hold, **_: f"worker(url, {queue_name!r}, results, delay={hold})",
    seen=WorkerKilledSeen, work=lambda window, **_: window + 2.0, processes=lambda **_: 1)
RUN_WORK_QUEUE = Scenario(
    "run_work_queue", lambda queue_name, n_workers, **_: f"run(url, {queue_name!r}, batches, {n_workers})",
    seen=WorkQueueRunSeen,
    work=lambda batches, n_workers, producer_delay=0.0, worker_delay=0.0, **_:
        pipeline_work(batches, n_workers, producer_delay, worker_delay),
    processes=lambda batches, n_workers, **_: len(batches) + n_workers + 1)


def _from_output(output: str, error_type: str, pickling: bool):
    """What pika says when the code misuses it (`output`: what the processes printed, and the
    error's message): one connection shared by processes (that tells the whole story: the rest of
    the traceback follows from it), or a queue declared otherwise than the broker has it."""
    if "SharedConnectionError" in output or "SharedConnectionError" in error_type or (
            pickling and any(word in output for word in ("epoll", "socket", "select", "pika"))):
        return [("shared-connection", {}, "ex07.shared-connection")], True
    if "PRECONDITION_FAILED" in output and "inequivalent arg" in output:
        return [("queue-declared-differently", {}, "ex07.queue-not-durable")], False
    return [], False


DIAGNOSIS = Diagnosis(keys={"sentinel-before-join": "ex07.stop-before-publishers-ended",
                            "results-unread": "ex07.stop-forwarded"},
                      from_output=_from_output)
