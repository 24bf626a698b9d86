"""Helpers shared by the scenarios (in the driver's observer, or in a host of the student's code)."""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.process
import queue
import reprlib
import threading
import time
from typing import Callable

from grader.checking import compat
from grader.checking.driver import INTERNAL_ROLES, observed, start_kit_process
from grader.checking.plain import NotPlain, plain_get
from grader.checking.roles import CONSUMER, PRODUCER, plays


def _no_work(**_) -> float:
    return 0.0


def _no_processes(**_) -> int:
    return 0


class Seen:
    """What a scenario observed, as its checks read it: one subclass per scenario, its fields
    annotated on the class (a default beside each, else None), a base class's fields first.

    A check gets it from ``kit.run(...).value``, built from the plain data the scenario returned:
    a key the class does not declare is refused (ValueError), a field the scenario left out has
    its default, and a field annotated ``... | NotAList`` holds as_list's description of what was
    not a list as a NotAList.

    Plain classes, not dataclasses: every driver and host of a check imports the scenario modules,
    and dataclasses would cost each of them the import of ``inspect``."""

    _fields: tuple[str, ...] = ()
    _may_not_be_lists: frozenset[str] = frozenset()  # fields annotated `... | NotAList`

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        annotations: dict[str, object] = {}
        for klass in reversed(cls.__mro__):
            annotations.update(vars(klass).get("__annotations__", {}))
        cls._fields = tuple(annotations)
        cls._may_not_be_lists = frozenset(name for name, kind in annotations.items() if "NotAList" in str(kind))

    def __init__(self, **values) -> None:
        unknown = sorted(set(values) - set(self._fields))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field {', '.join(unknown)}")
        for name in self._fields:
            value = values[name] if name in values else getattr(type(self), name, None)
            if name in self._may_not_be_lists and isinstance(value, dict) and NOT_A_LIST in value:
                value = NotAList(kind=str(value[NOT_A_LIST]), shown=str(value.get("shown", "")))
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self._fields)


NOT_A_LIST = "not_a_list"


class NotAList(Seen):
    """What a call returned where a list was due (as_list)."""

    kind: str  # its type, e.g. "builtins.NoneType"
    shown: str  # a short repr of it


class StartedSeen(Seen):
    """The processes and threads the student's code started (`started`)."""

    processes: list | None  # the roles of the processes it started, in order
    daemons: list | None  # whether each was a daemon
    threads: list | None  # the roles of the threads it started


class TreeSeen(StartedSeen):
    """And how it left them once the call returned (Context.audit)."""

    unjoined: list | None  # the processes it never joined
    running: list | None  # the processes still running
    exitcodes: dict | None  # process name -> exit code


class RunSeen(TreeSeen):
    """A call of the student's run() that starts producers and consumers (Context's tallies)."""

    value: list | NotAList | None  # what it returned
    seconds: float | None  # how long the call took
    slept: dict | None  # the time.sleep calls: {"calls", "seconds"}
    put_spans: list | None  # each process that put: {"role", "puts", "span", "own"}
    gets: dict | None  # role -> items taken
    overlap: bool | None  # did the consumers start while a producer was at work (None: no telling)
    sentinels: list | None  # for each None put: the processes not yet seen to end then
    late: list | None  # the questions about the results answered late (Context.answer_late)


class Diagnosis:
    """An exercise's own rules for telling its mistakes, declared beside its scenarios as
    ``DIAGNOSIS``. The kit's general rules (grader.checking.diagnose.causes, and the checks of
    grader.checking.kit) ask them where this exercise's programs differ from the others'.

    `keys`: the key a mistake that several exercises make has in this one, by the name of the
    general rule that finds it (RULES).
    `when_main_joins(hang)` and `when_consumers_wait(hang)` tell a hang in this exercise's terms
    (`hang`: a grader.checking.diagnose.Hang) before the general rules do: each returns a cause as
    (message of the catalogue's [cause] table, params, mistake key), or None.
    `from_output(output, error_type, pickling)` reads what only this exercise's programs print (a
    traceback of its library), as such causes, and whether they tell the whole story (no other
    cause is read then).
    Each returns plain tuples: the scenario modules load in every child of a check, which has no
    use for diagnose."""

    RULES = frozenset({"sentinel-before-join", "sentinel-too-early", "results-unread", "consumer-gave-up",
                       "get-waits-forever", "put-waits-forever"})
    __slots__ = ("keys", "when_main_joins", "when_consumers_wait", "from_output")

    def __init__(self, *, keys: dict[str, str] | None = None, when_main_joins: Callable | None = None,
                 when_consumers_wait: Callable | None = None, from_output: Callable | None = None):
        unknown = sorted(set(keys or {}) - self.RULES)
        if unknown:  # a typo would leave the general key in place, silently
            raise ValueError(f"no general rule is called {', '.join(unknown)} (Diagnosis.RULES)")
        self.keys = dict(keys or {})
        self.when_main_joins, self.when_consumers_wait = when_main_joins, when_consumers_wait
        self.from_output = from_output

    def key(self, rule: str, default: str | None) -> str | None:
        """The key of the mistake general rule `rule` finds, in this exercise."""
        return self.keys.get(rule, default)


class Scenario:
    """A scenario as the checks name it: ``kit.run(RUN_BATCHES, batches=b, n_consumers=3)``.

    `name` is the function of the exercise's scenario module that the driver runs, and `seen` the
    class of what it observed (a Seen). The others follow from the run's parameters, the same for
    every check that runs it, visible or hidden:
    `action`, what a report calls the run (a call, or the catalogue's words: `words`); `work`, the
    seconds the run asks for when the code is right (items times delays); `processes`, how many
    processes it starts. The check's time budget grows with both
    (grader.checking.exercise.Budget). A check may still say the action in its own words:
    ``kit.run(LATE_ITEMS, action=Words(...), ...)``."""

    __slots__ = ("name", "action", "seen", "work", "processes")

    def __init__(self, name: str, action: Callable[..., object], *, seen: type[Seen],
                 work: Callable[..., float] = _no_work, processes: Callable[..., int] = _no_processes):
        self.name, self.action, self.seen, self.work, self.processes = name, action, seen, work, processes

    def __repr__(self) -> str:
        return f"Scenario({self.name!r})"

    def plan(self, params: dict) -> tuple[object, float, int]:
        """(action, work, processes) of a run with `params`."""
        return self.action(**params), float(self.work(**params)), int(self.processes(**params))


def says(text: str) -> Callable[..., str]:
    """An action that is the same text whatever the parameters."""
    return lambda **_: text


def words(name: str, **params):
    """The catalogue's words `name` (grader.checking.mistakes.Words), for an action."""
    from grader.checking.mistakes import Words  # only where a check runs: the driver says nothing

    return Words(name, **params)


def pipeline_work(batches: list[list], takers: int, put_delay: float = 0.0, take_delay: float = 0.0) -> float:
    """Seconds a run of many producers and `takers` consumers (or workers) asks for: every batch's
    puts, one producer after the other (the producers of a multiprocessing queue take turns:
    grader.checking.driver._take_turn), then each taker's share of the items, rounded up."""
    total = sum(len(batch) for batch in batches)
    return total * put_delay + math.ceil(total / max(1, takers)) * take_delay


def batches_run(name: str, seen: type[Seen]) -> Scenario:
    """The declaration of run(batches, n_consumers, ...) (ex04, ex05: common.run_batches): every
    batch a producer, `n_consumers` consumers, the work pipeline_work."""
    return Scenario(
        name, lambda n_consumers, **_: f"run(batches, {n_consumers})", seen=seen,
        work=lambda batches, n_consumers, producer_delay=0.0, consumer_delay=0.0, **_:
            pipeline_work(batches, n_consumers, producer_delay, consumer_delay),
        processes=lambda batches, n_consumers, **_: len(batches) + n_consumers)


def collect(q, count: int, ctx) -> list:
    """Up to `count` items from `q`, stopping at the check's deadline, or at once when no process is
    left that could put more (partial results are data)."""
    release_write_end(q)
    got = []
    while len(got) < count:
        try:
            got.append(q.get(timeout=ctx.remaining()))
        except (queue.Empty, EOFError, BrokenPipeError):  # EOF: every writer has ended
            break
    return got


def release_write_end(q) -> None:
    """Close this process's own write end of `q`'s pipe, if nothing in this process can put on `q`
    any more: no feeder thread of its own, no thread but the main one and feeder threads.

    A pipe reaches its end only once every copy of its write end is closed, that is once every
    process that could still put on `q` (children, grandchildren, whoever was handed the queue) has
    ended. A read then stops at once instead of at the check's deadline, and it stops for what the
    code did, not for how long it took. Any other kind of queue (a Manager's proxy) is left alone:
    its reads wait for the deadline as before."""
    writer = compat.queue_pipe_ends(q)[1]
    if not compat.is_connection(writer) or writer.closed:
        return
    if compat.queue_has_feeder(q):  # this process has put on q: its feeder may still write
        return
    if any(t is not threading.main_thread() and not t.name.startswith(compat.FEEDER_THREAD_PREFIX)
           for t in threading.enumerate()):
        return  # a thread of the student's might still put on q
    writer.close()


def patch_here(*changes: tuple[object, str, object]) -> Callable[[], None]:
    """Set each (owner, attribute, value) in this process until the returned undo is called; a
    process forked meanwhile gets the originals back at once (it runs the student's code as
    written, and what it does is tallied there)."""
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in changes]
    for owner, name, value in changes:
        setattr(owner, name, value)

    def undo() -> None:
        for owner, name, value in originals:
            setattr(owner, name, value)

    compat.register_after_fork(undo, lambda undo: undo())
    return undo


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


def keeps_waiting(ctx, proc, seconds: float) -> bool:
    """Whether `proc`, with nothing left to take, keeps waiting for more rather than giving up:
    judged by what its code asks for, not by the clock. It keeps waiting once it is blocked in a
    get() with no timeout, spins on an empty queue, or has asked for more than `seconds` of timed
    gets and sleeps since its last item (Context.idle); it gives up if it ends first. Only a
    process that shows neither by the check's deadline (it waits in a way the kit does not see) is
    judged by whether it still runs then."""
    pause = 0.005
    while True:
        ended = not proc.is_alive()  # first: once ended, its tally is final
        idle = ctx.idle(proc.pid)
        if idle["blocked"] or idle["spinning"] or idle["seconds"] > seconds:
            return True
        if ended:
            return False
        if ctx.remaining(floor=0) <= 0:
            return proc.is_alive()
        proc.join(min(pause, ctx.remaining()))  # a bounded wait on its end
        pause = min(2 * pause, 0.05)


def timed(fn, *args, **kwargs):
    """(result, seconds) of one call."""
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started


def started(ctx) -> dict:
    """Roles of the processes and threads the student's code started, for the verdicts; the kit's
    own helpers and a Manager's server process do not count."""
    mine = [e for e in ctx.started("process") if e["role"] not in INTERNAL_ROLES]
    return {"processes": [e["role"] for e in mine], "daemons": [e["daemon"] for e in mine],
            "threads": [e["role"] for e in ctx.started("thread")]}


def as_list(value):
    """A returned sequence as a list; anything else is described instead (and then fails): its
    kind and a short repr, read as a NotAList by the checks."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return {NOT_A_LIST: describe(value), "shown": reprlib.repr(value)[:80]}


def overlap(ctx) -> bool | None:
    """Did the consumers start while a producer was still at work? None if nothing to judge."""
    entries = ctx.started("process")
    producers = [e for e in entries if plays(e["role"], PRODUCER)]
    consumers = [e for e in entries if plays(e["role"], CONSUMER)]
    if not producers or not consumers:
        return None
    first = consumers[0]
    before = [e for e in producers if entries.index(e) < entries.index(first)]
    if len(before) < len(producers):
        return True  # a producer started after the first consumer: they did overlap
    return any(plays(role, PRODUCER) for role in first["alive_at_start"])


def _call_run(ctx, *args, **kwargs) -> dict:
    value, seconds = timed(ctx.func("run"), *args, **kwargs)
    return {"value": as_list(value), "seconds": seconds, "slept": ctx.slept(),
            "put_spans": ctx.put_spans(), "gets": ctx.gets(), "overlap": overlap(ctx),
            "sentinels": ctx.sentinel_puts(), "late": ctx.late_answers(), **ctx.audit(), **started(ctx)}


def run_items(ctx, items, producer_delay=0.0, consumer_delay=0.0):
    """Call run(items, ...) (ex03). The results are complete once the consumer has ended: a
    question about them before then gets a late answer (Context.answer_late)."""
    ctx.answer_late()
    return _call_run(ctx, items, producer_delay=producer_delay, consumer_delay=consumer_delay)


def run_batches(ctx, batches, n_consumers, producer_delay=0.0, consumer_delay=0.0, late=False):
    """Call run(batches, n_consumers, ...) (ex04, ex05); `late` as in run_items (ex04: the
    consumers end at their sentinels; ex05's never end, and q.join() says when the work is done)."""
    if late:
        ctx.answer_late()
    return _call_run(ctx, batches, n_consumers, producer_delay=producer_delay,
                     consumer_delay=consumer_delay)


def _fill(q, items) -> None:
    """Put `items` on `q` from a short-lived process of the kit's, so that the observer starts no
    feeder thread of its own (and may still fork its hosts)."""
    start_kit_process(multiprocessing.Process(target=kit_fill, args=(q, items), name="kit-fill")).join()


def kit_fill(q, items) -> None:
    for item in items:
        q.put(item)


def plain_item(q, timeout: float):
    """The next item of `q` within `timeout`, as plain data (queue.Empty if none); an item that is
    not plain data comes back as a text that says so, which no expected item equals."""
    try:
        return plain_get(q, timeout)
    except NotPlain as exc:
        return f"<{exc}>"


def _plain(q, timeout: float) -> list:
    """Whatever is still on `q` within `timeout`: at most one item, as plain data."""
    try:
        return [plain_item(q, timeout)]
    except queue.Empty:
        return []


def collect_plain(q, count: int, ctx) -> list:
    """`collect` for a queue the student's code put on: read as plain data by the observer."""
    release_write_end(q)
    got = []
    while len(got) < count:
        item = _plain(q, ctx.remaining())
        if not item:
            break
        got += item
    return got


@observed
def consumer_stops(ctx, items):
    """consumer(q, results) in a process of its own, with items, None, and one more item behind the
    None on a queue the kit made, and the kit reading `results` and `q` itself."""
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    _fill(q, [*items, None, "after the sentinel"])
    ctx.func("consumer")(q, results)
    got = collect_plain(results, len(items), ctx)
    ctx.join_hosts()  # what the consumer put is all on the queue once its process ended
    extra = _plain(results, 0.1)  # a forwarded None would show up here
    behind = _plain(q, 1.0) or ["<nothing>"]
    return {"got": got, "extra": extra, "behind": behind[0]}


@observed
def producer_only_items(ctx, items, delay=0.0):
    """producer(q, items) in a process of its own: the kit's queue must then hold the items and
    nothing else."""
    q = multiprocessing.Queue()
    ctx.func("producer")(q, items, delay)
    got = collect_plain(q, len(items), ctx)
    ctx.join_hosts()
    return {"got": got, "extra": _plain(q, 0.1)}


# -- the shared scenarios as the checks name them ------------------------------------------------

class ConsumerStopsSeen(Seen):
    got: list | None  # what the consumer forwarded to `results`
    extra: list | None  # anything more on `results` (a forwarded None)
    behind: object  # the item left behind the None on `q`


class ProducerOnlySeen(Seen):
    got: list | None  # what the producer put
    extra: list | None  # anything more (a None it should not put)


RUN_ITEMS = Scenario(
    "run_items", says("run(items)"), seen=RunSeen,
    work=lambda items, producer_delay=0.0, consumer_delay=0.0, **_: len(items) * (producer_delay + consumer_delay),
    processes=lambda **_: 2)
CONSUMER_STOPS = Scenario("consumer_stops", lambda **_: words("ex03.consumer-with-none-and-more"),
                          seen=ConsumerStopsSeen)
PRODUCER_ONLY_ITEMS = Scenario("producer_only_items", says("producer(q, items)"), seen=ProducerOnlySeen)
