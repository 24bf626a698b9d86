"""Scenarios for ex05_joinable: a JoinableQueue, daemon consumers, and q.join() instead of sentinels.

How a check models "the program ends". The driver never runs the interpreter's exit handlers (they
would join every non-daemon child), so ``run_joinable`` runs multiprocessing's own one itself, when
the check asks for it (``at_exit=True``), right after ``run()`` returned and its audit was taken:
``compat.run_exit_handlers()`` (multiprocessing's own exit handler) terminates the daemon children and joins the others,
exactly as at the end of a real program. Daemon consumers waiting in ``q.get()`` are ended; a
non-daemon one is joined forever, and the harness's deadlock watch reports that hang (the main
thread waits in the exit handler's join, see ``grader.checking.diagnose``). The other checks end whatever
``run()`` left running themselves, after noting whether it was a daemon.

``run()`` may leave its idle daemon consumers running (the lesson's way) or end them itself once
``q.join()`` has returned (``terminate()`` then ``join()``): both are correct, since no item is in
progress any more. The producers, though, must have been joined.

``consumer_acks`` runs the student's ``consumer`` alone, in daemon processes the kit's observer
starts (the observer itself never imports the student's module, and reads the results as plain
data), and watches ``task_done()`` through ``CountingQueue``: a results queue that notes, at each ``put()``,
whether the JoinableQueue had already no unfinished item left. A consumer that calls
``task_done()`` before it puts the result is caught on its last item, whatever the timing.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.managers
import multiprocessing.queues
import queue
import time
from typing import Callable

from grader.checking import compat
from grader.checking.driver import observed
from grader.checking.roles import CONSUMER, plays
from grader.checking.scenarios.common import (Diagnosis, RunSeen, Scenario, Seen, as_list, batches_run, overlap,
                                              patch_here, plain_item, started, stop, timed, words)


SETTLE = 1.0  # seconds: at most this long for the consumers to be done with their items


class CountingQueue(multiprocessing.queues.Queue):
    """A results queue that counts, in shared memory and at once, every put() and every put()
    made while `watched` (a JoinableQueue) had no unfinished item left: a result put after its
    own task_done(). The queue's own feeder thread sends later, so the count is the only exact
    view of what a consumer had done when q.join() returned."""

    def __init__(self, watched, *, ctx):
        super().__init__(ctx=ctx)
        self._puts = ctx.Value("i", 0)
        self._late = ctx.Value("i", 0)
        self._unfinished = compat.unfinished_counter(watched)

    def __getstate__(self):
        return super().__getstate__() + (self._puts, self._late, self._unfinished)

    def __setstate__(self, state):
        super().__setstate__(state[:-3])
        self._puts, self._late, self._unfinished = state[-3:]

    def put(self, obj, block=True, timeout=None):
        late = compat.counter_is_zero(self._unfinished)  # no task left unfinished: not even this one
        super().put(obj, block, timeout)
        with self._puts.get_lock():
            self._puts.value += 1
            if late:
                self._late.value += 1

    def counts(self) -> tuple[int, int]:
        with self._puts.get_lock():
            return self._puts.value, self._late.value


def _bounded_join(q, procs, left: Callable[[], float]) -> bool:
    """JoinableQueue.join() with a timeout (the library's has none): True if it returned. It waits
    while `left()` gives seconds, and gives up early once every consumer has ended: nobody is left to
    mark an item done.

    `left()` is asked without the queue's condition held: task_done() takes that lock, and a
    consumer kept waiting for it while Context.remaining looks whether the work moves would look
    idle, the more so the longer a busy machine keeps this process from the CPU mid-look."""
    all_done = compat.all_done_condition(q)
    while not compat.no_task_unfinished(q):
        wait = left()
        if wait <= 0 or not any(p.is_alive() for p in procs):
            return compat.no_task_unfinished(q)
        with all_done:
            if not compat.no_task_unfinished(q):  # checked under the lock: no wake-up is missed
                all_done.wait(min(wait, 0.1))  # a bounded wait; task_done() wakes it at once
    return True


LATE_LOOK = 1.0  # seconds at most that the consumers get, past the check's time, to mark items done


def _all_wait(ctx, procs) -> bool:
    """Whether every consumer still alive waits in a get() on an empty queue (Context.idle): no
    task_done() follows such a wait."""
    return all(ctx.idle(p.pid)["blocked"] for p in procs if p.is_alive())


def _until_all_wait(ctx, procs) -> Callable[[], float]:
    """Time left to wait for the last task_done() of the consumers `procs`: none once they all
    wait in get(), LATE_LOOK at most, and never past the check's last deadline. The harness is
    told that the scenario is deciding (Context.deciding), so that it waits for the answer."""
    until = min(time.monotonic() + LATE_LOOK, ctx.last_deadline)

    def left() -> float:
        if _all_wait(ctx, procs):
            return 0.0
        ctx.deciding()
        return until - time.monotonic()

    return left


def _record_queue_joins(ctx) -> tuple[list[dict], Callable[[], None]]:
    """Note every q.join() the student's code makes in this process, and which non-consumer
    processes (the producers) were still running at that moment. Returns (calls, undo)."""
    calls: list[dict] = []
    queue_join = multiprocessing.queues.JoinableQueue.join
    callmethod = compat.proxy_call(multiprocessing.managers)

    def note() -> dict:
        running = [name for name in ctx.audit(reap=False)["running"] if not plays(name, CONSUMER)]
        entry = {"running": running, "returned": False}
        calls.append(entry)
        return entry

    def join(self):
        entry = note()
        queue_join(self)
        entry["returned"] = True

    def proxied(self, methodname, args=(), kwds={}):  # noqa: B006 (the library's own signature)
        if methodname != "join" or "Queue" not in (compat.proxy_typeid(self) or ""):
            return callmethod(self, methodname, args, kwds)
        entry = note()
        result = callmethod(self, methodname, args, kwds)
        entry["returned"] = True
        return result

    # A process forked meanwhile joins as the student wrote it; its joins are tallied (qjoins).
    undo = patch_here((multiprocessing.queues.JoinableQueue, "join", join),
                      (multiprocessing.managers.BaseProxy, compat.PROXY_CALL, proxied))
    return calls, undo


def run_joinable(ctx, batches, n_consumers, producer_delay=0.0, consumer_delay=0.0, at_exit=False):
    """Call run(batches, n_consumers, ...); then, with `at_exit`, end the program as Python would
    (see the module docstring), else end what run() left running. The consumers never end, so a
    question about `results` gets a late answer (Context.answer_late) all through run(): after
    q.join() every result has been put, but may still be on its way."""
    ctx.answer_late()
    joins, undo = _record_queue_joins(ctx)
    try:
        value, seconds = timed(ctx.func("run"), batches, n_consumers, producer_delay=producer_delay,
                               consumer_delay=consumer_delay)
    finally:
        undo()
    # A consumer may still be marking its last item done (a second time) when q.join() lets run()
    # return: let it get back to waiting before its calls are counted.
    ctx.settle(SETTLE)
    who = started(ctx)
    seen = {"value": as_list(value), "seconds": seconds, "slept": ctx.slept(),
            "put_spans": ctx.put_spans(), "gets": ctx.gets(), "overlap": overlap(ctx), "joins": joins,
            "queue_joins": ctx.queue_joins(), "early_task_done": ctx.early_task_done(),
            "late": ctx.late_answers(), **ctx.audit(), **who,
            "consumer_daemons": [d for role, d in zip(who["processes"], who["daemons"])
                                 if plays(role, CONSUMER)]}
    if at_exit:
        # The end of the program: terminate the daemon children, join the others (forever, if one
        # never ends: the harness then reports where it waits).
        compat.run_exit_handlers()
        seen["after_exit"] = ctx.audit()["running"]
    else:
        stop(*multiprocessing.active_children())
    return seen


def _collect_while_alive(results, count: int, procs, ctx) -> list:
    """Up to `count` results, read as plain data, while the check has time (Context.remaining: past
    the deadline, while the consumers still work), then whatever is already on its way. Gives up
    early once every consumer has ended and nothing came."""
    got = []
    while len(got) < count:
        try:
            got.append(plain_item(results, min(0.1, ctx.remaining())))
        except queue.Empty:
            if ctx.remaining(0) <= 0:
                break
            if not any(p.is_alive() for p in procs):
                try:
                    got.append(plain_item(results, 0.2))  # the last flush of an ended consumer
                except queue.Empty:
                    break
    return got


@observed
def consumer_acks(ctx, items, delay=0.0, n_consumers=1):
    """consumer(q, results, delay) in `n_consumers` daemon processes fed `items`: does q.join()
    return, and had every result been put by then?"""
    mp = multiprocessing.get_context()
    q = mp.JoinableQueue()
    results = CountingQueue(q, ctx=mp)
    procs = [mp.Process(target=ctx.func("consumer"), args=(q, results, delay), daemon=True,
                        name=f"consumer-{i}") for i in range(1, n_consumers + 1)]
    for proc in procs:
        proc.start()  # before anything is put: fork must not copy a running feeder thread
    try:
        began = time.monotonic()
        for item in items:
            q.put(item)
        # Until the deadline, and on while the consumers still put results (Context.remaining):
        # a right consumer is never cut short because a busy machine ran it slowly.
        joined = _bounded_join(q, procs, lambda: ctx.remaining(0))
        join_seconds = time.monotonic() - began
        puts_at_join = results.counts()[0]
        got = _collect_while_alive(results, len(items), procs, ctx)
        # Every result in but q.join() timed out: slow, or never marked done? A consumer that marks
        # its items done does so right after its last put, before it waits in get() again: wait
        # while one still may, however slowly a busy machine runs it.
        slow = not joined and len(got) == len(items) and _bounded_join(q, procs, _until_all_wait(ctx, procs))
        waiting = not joined and not slow and _all_wait(ctx, procs)
        exitcodes = [p.exitcode if not p.is_alive() else None for p in procs]
        late = results.counts()[1]  # the last result of a consumer that acked first comes after join
        return {"joined": joined, "slow": slow, "waiting": waiting, "join_seconds": join_seconds,
                "puts_at_join": puts_at_join, "late": late, "got": got, "exitcodes": exitcodes}
    finally:
        stop(*procs)


# -- the scenarios as the checks name them -------------------------------------------------------

def _acks_action(delay, n_consumers=1, **_):
    if n_consumers == 1:
        return f"consumer(q, results, delay={delay})"
    return words("ex05.consumer-in-processes", delay=delay, count=n_consumers)


class JoinableRunSeen(RunSeen):
    joins: list | None  # the q.join() calls of run(), in order
    queue_joins: dict | None  # process name -> JoinableQueue.join() calls that returned
    early_task_done: dict | None  # process name -> [task_done() before the result, beyond what it took]
    consumer_daemons: list | None  # whether each consumer was a daemon
    after_exit: list | None  # with at_exit: the processes still running after the program's end


class ConsumerAcksSeen(Seen):
    joined: bool  # q.join() returned within the budget
    slow: bool  # it returned later, before every consumer waited in get() again
    waiting: bool  # it never returned, and every consumer waits in get(): no task_done() will come
    join_seconds: float
    puts_at_join: int  # results put when q.join() returned
    late: int  # results put after it
    got: list  # the results
    exitcodes: list  # of each consumer, None if it still ran


RUN_JOINABLE = batches_run("run_joinable", JoinableRunSeen)
CONSUMER_ACKS = Scenario(
    "consumer_acks", _acks_action, seen=ConsumerAcksSeen,
    work=lambda items, delay=0.0, n_consumers=1, **_: len(items) * delay / n_consumers,
    processes=lambda n_consumers=1, **_: n_consumers)


def _consumers_idle(hang):
    """The consumers wait in get() by design: the run waits for items marked done."""
    return ("consumers-idle-items-not-done", {"get": hang.waiting[0].call or "q.get()"}, "ex05.task-done-missing")


DIAGNOSIS = Diagnosis(when_consumers_wait=_consumers_idle)
