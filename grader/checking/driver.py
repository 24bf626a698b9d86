"""The process that runs one check, and the processes where the student's code runs.

The harness (``grader.checking.harness``) starts ``python -m grader.checking.driver REQUEST`` in a
session of its own. That process, the observer, never imports the student's module: it holds the answer
channel, runs the kit's side of the scenario (``grader.checking.scenarios``) and sends the observation
back on its original stdout, as plain data. The student's code runs in hosts, children of the observer:

- an *observed* scenario calls the student's functions through ``StudentCall``: each call runs in a
  host of its own, on queues the observer made and then reads itself (with ``plain_get``, which
  rebuilds builtin data only). What the host says back (the return value, an exception) is a claim;
  what the observer reads from its own queues is a fact.
- any other scenario runs whole in one host, as the student's main process, and the host's
  observation is a claim that the harness checks against the processes it saw.

A host never holds the answer channel, and the observer never runs a byte the student wrote. After
answering, the observer waits until the harness has inspected the processes left behind and closes
its stdin; a host that ran a whole scenario waits for the observer to end, and neither runs the
interpreter's exit handlers, which would join the student's non-daemon processes and hang exactly
like the lesson's first demo.

This module is also the ``__main__`` that spawn and forkserver children import, so it stays light and
does nothing at import time.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import faulthandler
import functools
import importlib
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.process
import multiprocessing.queues
import os
import queue
import signal
import struct
import sys
import threading
import time
import types
import warnings
import zlib
from collections.abc import Callable

# traceback and grader.checking.wire are imported where they are used: every spawn and forkserver
# child of a check imports this module, and uses neither unless it has an answer to send.
from grader.checking import compat
from grader.checking.roles import PRODUCER, has_a_part, plays

try:
    import fcntl
except ImportError:  # Windows: producers are not made to take turns (_take_turn)
    fcntl = None

# Python 3.12+ warns when a process with threads forks. A multiprocessing.Queue that has been put to
# owns a feeder thread, so code that puts before it starts a process triggers it. We record the
# warning and show it to the student as a note instead of hiding it or failing the check.
FORK_WARNING = r".*multi-threaded, use of fork\(\) may lead to deadlocks"

# Process targets that belong to multiprocessing itself, named for the reports.
INTERNAL_TARGETS = compat.INTERNAL_TARGETS
INTERNAL_ROLES = frozenset(INTERNAL_TARGETS.values())


# Where every process of the check writes its stack when the harness sends SIGUSR1 (POSIX only).
DUMP_DIR_ENV = "BAOZI_DUMP_DIR"
MAX_FRAMES = 100  # per thread, as faulthandler does
MAX_THREADS = 100
FATAL_SUFFIX = ".fatal"  # DUMP_DIR/<pid>.fatal: the crashing thread's stack, if the process dies of a fault
_ignored_at_exit = False
_fatal_file = None  # kept open: faulthandler writes to it when the process crashes


def arm_stack_dump() -> None:
    """Make this process write its threads' stacks to DUMP_DIR/<pid>.txt on SIGUSR1, and the
    crashing thread's stack to DUMP_DIR/<pid>.fatal if it dies of a fault (SIGSEGV, SIGABRT...).

    Runs in the driver, in fork children (an after-fork hook) and in spawn and forkserver children,
    which import this module as ``__mp_main__`` before they run the student's target.

    The handler is a Python one, so it runs in the main thread between two bytecodes, holding the
    GIL: every thread's frames are read while no thread can change them. faulthandler's handler
    reads them from inside the signal, while the other threads run, and a queue's feeder thread
    popping a frame at that moment makes it read freed memory (signal 11; bench/crashes.py shows
    it). A Python handler still runs while the main thread waits in a lock, a pipe read, a sleep
    or a join: each of those is interrupted by the signal, runs the handler and resumes. The fatal
    dump is faulthandler's, of the crashing thread alone: that thread is stopped in the handler,
    so its frames hold still while they are read.
    """
    global _fatal_file, _ignored_at_exit
    folder = os.environ.get(DUMP_DIR_ENV)
    if not folder or not hasattr(signal, "SIGUSR1"):
        return
    final = os.path.join(folder, f"{os.getpid()}.txt")
    try:
        _fatal_file = open(os.path.join(folder, f"{os.getpid()}{FATAL_SUFFIX}"), "w", encoding="utf-8")
        faulthandler.enable(file=_fatal_file, all_threads=False)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR1, _write_stacks)  # a fork child has it from its parent
            # A child started from another thread has that thread's signal mask.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
            _keep_dump_signal_off_threads()
        # The file exists once the handler does: the harness signals a process only then, since
        # SIGUSR1 kills a process that has no handler yet.
        with open(final, "a", encoding="utf-8"):
            pass
    except (OSError, ValueError):
        return
    # At shutdown the interpreter puts SIGUSR1's default action back, which would kill a process
    # that is just exiting normally: ignore it from then on. Only processes that exit through the
    # interpreter's shutdown (spawn children) get there; the others end with os._exit.
    if not _ignored_at_exit:  # a fork child has its parent's exit handlers, this one included
        atexit.register(signal.signal, signal.SIGUSR1, signal.SIG_IGN)
        _ignored_at_exit = True


def _keep_dump_signal_off_threads() -> None:
    """Make every thread started from now on block SIGUSR1, so that it is always the main thread
    that takes it: a Python handler runs only there, and a signal taken by another thread would
    leave a main thread blocked in a lock without a dump (a process stopped when the signal comes
    lets any of its threads take it)."""
    def block_dump_signal(bootstrap):
        def _bootstrap_without_dump_signal(self):
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
            except (OSError, ValueError):
                pass
            bootstrap(self)

        return _bootstrap_without_dump_signal

    compat.wrap_thread_bootstrap(block_dump_signal)


def _write_stacks(signum, frame) -> None:
    """Append every thread's stack to this process's dump file, innermost frame first, in the
    layout of faulthandler's dumps. Never raises: it runs in the middle of the student's code."""
    try:
        main = threading.main_thread().ident
        threads = compat.thread_frames()
        threads[main] = frame  # its own entry would start with this handler
        lines = []
        for ident, top in sorted(threads.items(), key=lambda t: t[0] != main)[:MAX_THREADS]:
            lines.append(f"{'Current thread' if ident == main else 'Thread'} 0x{ident:016x}"
                         " (most recent call first):")
            depth = 0
            while top is not None and depth < MAX_FRAMES:
                code = top.f_code
                lines.append(f'  File "{code.co_filename}", line {top.f_lineno} in {code.co_name}')
                top, depth = top.f_back, depth + 1
            lines.append("")
        path = os.path.join(os.environ[DUMP_DIR_ENV], f"{os.getpid()}.txt")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, "\n".join(lines).encode("utf-8", errors="replace"))
        finally:
            os.close(fd)
    except Exception:  # a report lost is better than the student's code broken
        pass


# The mark a process started through multiprocessing leaves in DUMP_DIR as it begins its target.
RUNNING_SUFFIX = ".running"
# How spawn and forkserver children of a check find where to keep their tallies (watch_student).
REGISTRY_ENV = "BAOZI_REGISTRY"
STUDENT_FILE_ENV = "BAOZI_STUDENT_FILE"
# The wrappers' frames are left out of the stack reports (grader.checking.diagnose): they are not the
# student's.
WRAPPERS = ("_counted_sleep", "_clocked_put", "_polled_get", "_proxied_get", "_polled_get_nowait",
            "_polled_empty", "_polled_qsize", "_counted_queue_join", "_counted_task_done", "join_process",
            "is_process_alive")
# A get() with a shorter timeout than this does not wait for an item: it asks whether one is there.
POLL_TIMEOUT = 0.005


class _Tally:
    """One process's tally of one kind of call, kept in ``<registry>.<kind>.<pid>`` as numbers
    separated by spaces, then a checksum (_tally_text). It is rewritten in place at each call, in one
    write padded to TALLY_WIDTH (a loop of calls cannot grow it, and a shorter text leaves nothing of
    a longer one behind); a reader that catches a write half done finds a checksum that does not
    match, and takes nothing (_numbers). A fork child starts a tally of its own."""

    def __init__(self, registry_path: str, kind: str):
        self.registry_path, self.kind = registry_path, kind
        self.pid: int | None = None
        self.values: list | None = None
        self._fd: int | None = None

    def add(self, update) -> None:
        """`update(values or None)` gives the new values."""
        if self.pid != os.getpid():
            self.pid, self.values, self._fd = os.getpid(), None, None  # a fork child: a file of its own
        self.values = update(self.values)
        text = _tally_text(self.values)
        if not hasattr(os, "pwrite"):  # Windows: written aside and renamed into place
            _keep(self.registry_path, self.kind, self.pid, text)
            return
        try:
            if self._fd is None:
                self._fd = os.open(f"{self.registry_path}.{self.kind}.{self.pid}", os.O_WRONLY | os.O_CREAT, 0o666)
            os.pwrite(self._fd, text.ljust(TALLY_WIDTH).encode("ascii"), 0)
        except OSError:
            pass


EARLY_SENTINELS = "early_sentinels"  # the tally of the Nones put while a producer could still put
TALLY_WIDTH = 128  # characters a tally's file holds; its text is far shorter


def _tally_text(values: list) -> str:
    numbers = " ".join(map(repr, values))
    return f"{numbers} #{zlib.crc32(numbers.encode('ascii')):08x}\n"


class _Idle:
    """One process's waiting since it last took an item from a queue, in what its code asked for:
    whether it is blocked in a get() with no timeout on an empty queue, the seconds its timed-out
    gets and its sleeps asked for, and whether it has found an empty queue SPINNING times in a row.
    Kept in the tally "idle" as ``blocked seconds spinning``, written only when it changes. Whether
    a consumer keeps waiting for items is then a fact of its code (it shows one of the three,
    however slow the machine) rather than of the clock (is it still alive half a second later)."""

    def __init__(self, tally: _Tally):
        self.tally = tally

    def _set(self, blocked: int | None = None, more: float = 0.0, spinning: int | None = None) -> None:
        def update(values):
            old = values or [0, 0.0, 0]
            return [old[0] if blocked is None else blocked, old[1] + more,
                    old[2] if spinning is None else spinning]
        self.tally.add(update)

    def blocking(self, on: bool) -> None:
        self._set(blocked=int(on))

    def asked(self, seconds: float) -> None:
        self._set(more=float(seconds))

    def spinning(self) -> None:
        self._set(spinning=1)

    def took(self) -> None:
        """An item came: the waiting starts afresh (written only if there was any)."""
        if self.tally.pid == os.getpid() and any(self.tally.values or ()):
            self.tally.add(lambda _: [0, 0.0, 0])


# An empty queue polled this many times in a row, with no wait between: a loop that waits by
# spinning (grader.checking.diagnose judges spinning by it too).
SPINNING = 1024


class _Polls:
    """One process's longest run of queue calls that found nothing and did not wait (an empty()
    that says True, a qsize() of 0, a get_nowait() or get(block=False) or get(timeout≈0) that
    raises Empty), with no sleep, blocking get or item between them: a consumer that spins makes
    thousands, however little CPU a busy machine gives it, and a waiting one none. Kept in the
    tally "polls" when the run doubles, so a spinning loop writes a few times, not at each call."""

    def __init__(self, tally: _Tally, idle: _Idle):
        self.tally, self.idle = tally, idle
        self.pid = self.run = self.longest = 0

    def found_nothing(self) -> None:
        if self.pid != os.getpid():
            self.pid, self.run, self.longest = os.getpid(), 0, 0
        self.run += 1
        if self.run == SPINNING:
            self.idle.spinning()
        if self.run > self.longest:
            self.longest = self.run
            if self.longest >= 8 and self.longest & (self.longest - 1) == 0:
                self.tally.add(lambda _: [self.longest])

    def waited(self) -> None:
        self.run = 0

    def pressing(self) -> bool:
        """Whether this process is in its first run of polls that found nothing, short of SPINNING:
        while a holder may still put, each further poll with no wait is answered "nothing" too
        (_answer_late), so that a loop that spins makes SPINNING polls in a row however little CPU
        it gets, and one that waits between its polls never does. Only the first such run: a
        spinner is known by then, and the rest of its polls cost what they cost."""
        return self.pid == os.getpid() and 0 < self.run < SPINNING and self.longest < SPINNING


class _Work:
    """One process's items from JoinableQueues: how many it holds with no put since (their results
    not yet out), how many it took and how many it marked done. A fork child starts afresh."""

    def __init__(self):
        self.pid = self.holding = self.taken = self.done = 0

    def _here(self) -> None:
        if self.pid != os.getpid():
            self.pid, self.holding, self.taken, self.done = os.getpid(), 0, 0, 0

    def took(self) -> None:
        self._here()
        self.holding, self.taken = self.holding + 1, self.taken + 1

    def put(self) -> None:
        self._here()
        self.holding = 0

    def marked_done(self) -> tuple[bool, bool]:
        """For one task_done(): (before the result of the work was out, more than it took)."""
        self._here()
        early, self.done = self.holding > 0, self.done + 1
        if early:
            self.holding -= 1
        return early, self.done > self.taken


# What a process keeps beside the registry (a tally, a mark) is a few words: anything longer was
# not written by the kit.
KEPT_CHARS = 256


def _keep(registry_path: str, kind: str, key, text: str) -> None:
    """Write ``<registry>.<kind>.<key>`` whole: written aside, then renamed into place (a reader
    never sees half of it)."""
    writing = f"{registry_path}.writing.{kind}.{key}"
    try:
        with open(writing, "w", encoding="utf-8") as kept:
            kept.write(text)
        os.replace(writing, f"{registry_path}.{kind}.{key}")
    except OSError:
        pass


def _kept(registry_path: str, kind: str, key, limit: int = KEPT_CHARS) -> str | None:
    """The text of ``<registry>.<kind>.<key>``; None if there is none, or one longer than `limit`."""
    try:
        with open(f"{registry_path}.{kind}.{key}", encoding="utf-8") as found:
            text = found.read(limit + 1)
    except OSError:
        return None
    return text if len(text) <= limit else None


def _all_kept(registry_path: str, kind: str) -> dict[int, str]:
    """Every process's `kind` (_kept), by pid."""
    found = {}
    folder, prefix = os.path.split(f"{registry_path}.{kind}.")
    for name in os.listdir(folder or "."):
        pid = name[len(prefix):]
        if name.startswith(prefix) and pid.isdigit():
            text = _kept(registry_path, kind, pid)
            if text is not None:
                found[int(pid)] = text
    return found


# A check whose budget has run out while the student's code still does its work gets overtime (the
# harness, OVERTIME). "Its work" is putting items on queues and taking them off (these tallies): a
# loop that sleeps or polls an empty queue makes no such call.
WORK_TALLIES = ("puts", "gets")
# Past its deadline a scenario waits on while the work moved in the last MOVING_LOOK seconds (or one
# of its processes waits for a CPU): shorter than the harness's own look, so that the scenario
# gives up, and answers, before the harness would.
MOVING_LOOK = 0.3
# ...and says so in ``<registry>.overtime.<pid>`` at each slice, and once more as it begins to
# answer: the harness then gives it a moment to answer, however long a busy machine makes the
# scenario's last steps (ANSWER_GRACE).
OVERTIME_MARK = "overtime"
# The host that ran a whole scenario leaves this as it replies: all that is left is the observer's
# to do, reading the reply and answering, and the harness waits for it (up to the overtime) however
# long a busy machine keeps it from a CPU.
REPLIED_MARK = "replied"


def rewritten_within(registry_path: str, kinds: tuple[str, ...], seconds: float) -> bool:
    """Whether a process rewrote its tally of one of `kinds` in the last `seconds`, that is made
    such a call lately (each call rewrites the file: _Tally). Read from the files' times only."""
    folder, base = os.path.split(registry_path)
    prefixes = tuple(f"{base}.{kind}." for kind in kinds)
    since = time.time() - seconds
    try:
        with os.scandir(folder or ".") as entries:
            return any(entry.name.startswith(prefixes) and entry.stat().st_mtime >= since for entry in entries)
    except OSError:
        return False


def _numbers(text: str | None) -> list[float] | None:
    """A tally's numbers (_tally_text), or None if it is not one the kit wrote, or was read while
    being rewritten."""
    numbers, mark, checksum = (text or "").split("\n", 1)[0].rpartition(" #")
    if not mark or checksum != f"{zlib.crc32(numbers.encode('ascii', 'replace')):08x}":
        return None
    try:
        values = [float(x) for x in numbers.split()]
    except ValueError:
        return None
    return values if all(math.isfinite(x) for x in values) else None


def tallies(registry_path: str, kind: str) -> dict[int, list[float]]:
    """Every process's tally of `kind`, by pid."""
    numbers = {pid: _numbers(text) for pid, text in _all_kept(registry_path, kind).items()}
    return {pid: values for pid, values in numbers.items() if values is not None}


def tally(registry_path: str, kind: str, pid: int) -> list[float] | None:
    """One process's tally of `kind`, or None if it has none (or one that the kit did not write)."""
    return _numbers(_kept(registry_path, kind, pid))


def _count(values):
    return [values[0] + 1] if values else [1]


# Frames between the student's call and the kit's wrapper that do not change who called: the
# library's own methods (``put_nowait`` calls ``put``) and a Manager proxy's generated methods.
_LIBRARY_DIR = compat.LIBRARY_DIR
_GENERATED = "<string>"


def _called_by_student(module_file: str) -> bool:
    """Whether the wrapper that asks was called from the student's module, directly or through
    multiprocessing's own methods."""
    try:
        frame = compat.caller_frame(2)  # 0: here, 1: the wrapper, 2: its caller
    except ValueError:  # called from C, with no Python frame above
        return False
    for _ in range(4):
        caller = frame.f_code.co_filename
        if frame.f_back is None or not (caller.startswith(_LIBRARY_DIR) or caller == _GENERATED):
            break
        frame = frame.f_back
    return os.path.abspath(frame.f_code.co_filename) == module_file


def watch_student(registry_path: str | None = None, module_file: str | None = None) -> None:
    """Tally calls of the student's module, left otherwise unchanged, for the checks of delays and
    of spinning:

    - ``time.sleep``: how often, and the seconds asked for (tally "sleep");
    - ``multiprocessing`` queues' ``put`` (``SimpleQueue`` and a Manager's queues too): how often,
      when the first and the last returned, and how long the putting thread had waited in puts and
      gets by then (tally "puts", see ``_QueueWaits``); their ``get`` and ``get_nowait``: how many
      items they returned (tally "gets");
    - their ``get``, ``get_nowait``, ``empty`` and ``qsize``: the longest run of calls that found
      nothing without waiting (tally "polls", see ``_Polls``);
    - ``JoinableQueue.join``: how often it was called and how often it returned (tally "qjoins"),
      for producers that wait for their items to be handled;
    - ``JoinableQueue.task_done``: how often it marked done an item this process had taken with
      no put since, i.e. before the result of the work was out, and how often it marked done more
      items than it had taken (tally "early_done");
    - how each process waits since it last took an item: blocked in a get() with no timeout, the
      seconds asked of timed-out gets and sleeps, or spinning (tally "idle", see ``_Idle``), for
      the checks that a consumer keeps waiting;
    - each ``None`` put: which of the processes this one started it had not yet seen end
      (``sentinels``, kept in memory: the scenario reads it in the process that called the
      student's function), and how many were put before a producer had been seen to end (tally
      EARLY_SENTINELS, which the harness reads when the run hangs);
    - once a scenario asks for it (``Context.answer_late``), every other ``empty()``, ``qsize()``,
      ``get_nowait()`` and ``get(block=False)`` on a queue a running process holds is answered
      "nothing yet" (``_answer_late``).
    - once a scenario asks for it too, a producer's first put on a queue waits for its turn: the
      producers of one queue put one after another (``_take_turn``).

    A check that a delay was honoured used to time the whole call only, and under heavy load starting
    the processes alone can take longer than the delays. Neither tally grows with the load: the
    seconds asked of ``time.sleep`` are what the code asked, and a producer that sleeps between its
    puts spreads them at least that far apart however slow the machine is. The time a put waited
    for room, or a get for an item, is left out of that spread: it grows with the load (a producer
    that never sleeps waits in put() on a full queue for as long as the consumer is kept off the
    CPU), and it is the other side's time, not this process's.

    Runs in the driver before the student's module is imported (fork children inherit it, and
    ``from time import sleep`` takes the counted one), and in spawn and forkserver children, which
    find the two paths in the environment.
    """
    registry_path = registry_path or os.environ.get(REGISTRY_ENV)
    module_file = module_file or os.environ.get(STUDENT_FILE_ENV)
    if not registry_path or not module_file or getattr(time.sleep, "__name__", "") in WRAPPERS:
        return
    sleeps, puts, gets = (_Tally(registry_path, kind) for kind in ("sleep", "puts", "gets"))
    queue_joins, done_early = _Tally(registry_path, "qjoins"), _Tally(registry_path, "early_done")
    early_sentinels = _Tally(registry_path, EARLY_SENTINELS)
    idle = _watching.idle = _Idle(_Tally(registry_path, "idle"))
    polls = _watching.polls = _Polls(_Tally(registry_path, "polls"), idle)
    sleep, Queue, Joinable = time.sleep, multiprocessing.queues.Queue, multiprocessing.queues.JoinableQueue
    get, get_nowait, empty, qsize = Queue.get, Queue.get_nowait, Queue.empty, Queue.qsize
    queue_join, task_done = Joinable.join, Joinable.task_done
    Simple = multiprocessing.queues.SimpleQueue
    simple_put, simple_get = Simple.put, Simple.get
    work = _Work()
    waits = _watching.waits = _QueueWaits()

    def count_put(obj) -> None:
        """One put of the student's code has returned: [puts, first, last, waited by the first,
        waited by the last, the thread that put] (0 for the thread once a second thread has put)."""
        now, waited, thread = time.monotonic(), round(waits.seconds, 4), threading.get_native_id()

        def update(v):
            if not v:
                return [1, now, now, waited, waited, thread]
            return [v[0] + 1, v[1], now, v[3], waited, thread if v[5] == thread else 0]
        puts.add(update)
        if obj is None:
            unjoined = _not_joined()
            sentinels.append(unjoined)
            if any(plays(name, PRODUCER) for name in unjoined):  # read by the harness, even if the run hangs
                early_sentinels.add(_count)

    def count_get() -> None:
        """One get of the student's code has returned an item."""
        gets.add(_count)

    _watching.count_put, _watching.count_get, _watching.module_file = count_put, count_get, module_file

    def _counted_sleep(seconds):
        if _called_by_student(module_file) and isinstance(seconds, (int, float)) and seconds >= 0:
            sleeps.add(lambda v: [v[0] + 1, v[1] + float(seconds)] if v else [1, float(seconds)])
        if isinstance(seconds, (int, float)) and seconds >= 0.001:
            polls.waited()
            idle.asked(seconds)
        return sleep(seconds)

    def clocked(put):
        def _clocked_put(self, obj, block=True, timeout=None):
            start = time.monotonic()
            _used(self, put=True)
            _take_turn(self)
            done = put(self, obj, block, timeout)
            work.put()  # a result is out (through a queue of the kit's too): the work is done
            if _called_by_student(module_file):
                waits.since(start)
                count_put(obj)
            return done
        return _clocked_put

    def _counted_simple_put(self, obj):
        start = time.monotonic()
        done = simple_put(self, obj)
        if _called_by_student(module_file):
            waits.since(start)
            count_put(obj)
        return done

    def _counted_simple_get(self):
        start = time.monotonic()
        item = simple_get(self)
        if _called_by_student(module_file):
            waits.since(start)
            count_get()
        return item

    def _polled_get(self, block=True, timeout=None):
        asks = not block or (isinstance(timeout, (int, float)) and timeout < POLL_TIMEOUT)
        student = _called_by_student(module_file)
        if not student:
            late = False
        elif not block:
            late = _answer_late(self, "get(block=False)")
        else:
            late = not asks and _answer_timed_late(self, timeout)
        _used(self)  # once the answer is decided (see _hold_for_readers)
        start = time.monotonic()
        blocks = block and timeout is None and _nothing_ready(self)
        if blocks:
            idle.blocking(True)
        try:
            if late:
                if block:
                    sleep(min(timeout, LATE_WAIT))
                raise queue.Empty
            item = get(self, block, timeout)
        except queue.Empty:
            if asks and student:
                polls.found_nothing()
            elif not asks:
                polls.waited()
                idle.asked(timeout)
            raise
        finally:
            if blocks:
                idle.blocking(False)
        polls.waited()
        idle.took()
        if student:
            waits.since(start)  # a get that timed out is left out: it may stand for a sleep
            count_get()
        if isinstance(self, Joinable) and item is not None:  # (a None asks for no result)
            work.took()
        return item

    def _polled_get_nowait(self):
        student = _called_by_student(module_file)
        late = student and _answer_late(self, "get_nowait()")
        _used(self)
        try:
            if late:
                raise queue.Empty
            item = get_nowait(self)
            idle.took()
            if student:
                count_get()
            return item
        except queue.Empty:
            if student:
                polls.found_nothing()
            raise

    def _polled_empty(self):
        student = _called_by_student(module_file)
        late = student and _answer_late(self, "empty()")
        _used(self)
        nothing = late or empty(self)
        if nothing and student:
            polls.found_nothing()
        return nothing

    def _polled_qsize(self):
        student = _called_by_student(module_file)
        late = student and _answer_late(self, "qsize()")
        _used(self)
        size = 0 if late else qsize(self)
        if size == 0 and student:
            polls.found_nothing()
        return size

    def _counted_queue_join(self):
        student = _called_by_student(module_file)
        if student:
            queue_joins.add(lambda v: [v[0] + 1, v[1]] if v else [1, 0])
        queue_join(self)
        if student:
            queue_joins.add(lambda v: [v[0], v[1] + 1])

    def _counted_task_done(self):
        if _called_by_student(module_file):
            early, extra = work.marked_done()
            if early or extra:
                done_early.add(lambda v: [v[0] + early, v[1] + extra] if v else [int(early), int(extra)])
        task_done(self)

    time.sleep = _counted_sleep
    Joinable.put, Joinable.join, Joinable.task_done = clocked(Joinable.put), _counted_queue_join, _counted_task_done
    Queue.put, Queue.get, Queue.get_nowait = clocked(Queue.put), _polled_get, _polled_get_nowait
    Queue.empty, Queue.qsize = _polled_empty, _polled_qsize
    Simple.put, Simple.get = _counted_simple_put, _counted_simple_get


class _QueueWaits(threading.local):
    """The seconds this thread has spent in the student's queue calls that put or took an item:
    waiting for room, for an item, for the kit's turn or for a Manager, all time the other side
    decides. A producer's delays are what is left of the time between its puts."""

    seconds = 0.0

    def since(self, start: float) -> None:
        self.seconds += time.monotonic() - start


def _nothing_ready(q) -> bool:
    """Whether a get() on `q` would wait now: nothing is in its pipe."""
    try:
        return not compat.queue_has_data(q)
    except (AttributeError, OSError, ValueError):  # closed, or not a queue of this process
        return False


# What watch_student set up in this process, for the wrappers installed later (_watch_proxies).
_watching = types.SimpleNamespace(idle=None, polls=None, count_put=None, count_get=None, module_file=None,
                                  waits=None)
QUEUE_PROXIES = ("Queue", "JoinableQueue")  # typeids of a Manager's queues


def _watch_proxies() -> None:
    """Keep the tallies of puts and gets (watch_student) for a Manager's queues too, and the idle
    tally for their get(), once the student's code has loaded multiprocessing.managers: the kit
    does not load it, it costs every child 10 ms. Called as a process starts one (fork children
    inherit it) and in each child as it starts."""
    managers = sys.modules.get("multiprocessing.managers")
    idle, module_file = _watching.idle, _watching.module_file
    if managers is None or idle is None or getattr(compat.proxy_call(managers), "_baozi", False):
        return
    call = compat.proxy_call(managers)

    def _proxied_call(self, methodname, args=(), kwds={}):
        if compat.proxy_typeid(self) not in QUEUE_PROXIES:
            return call(self, methodname, args, kwds)
        if methodname in ("put", "put_nowait", "get_nowait"):
            student, start = _called_by_student(module_file), time.monotonic()
            result = call(self, methodname, args, kwds)
            if student:
                _watching.waits.since(start)
            if student and methodname == "get_nowait":
                _watching.count_get()
            elif student:
                _watching.count_put(args[0] if args else kwds.get("obj"))
            return result
        if methodname != "get":
            return call(self, methodname, args, kwds)
        student, start = _called_by_student(module_file), time.monotonic()
        block, timeout = (*args, True, None)[:2]
        block, timeout = kwds.get("block", block), kwds.get("timeout", timeout)
        blocks = block and timeout is None
        if blocks:
            idle.blocking(True)
        try:
            item = call(self, methodname, args, kwds)
        except queue.Empty:
            if block and isinstance(timeout, (int, float)) and timeout >= POLL_TIMEOUT:
                idle.asked(timeout)
            raise
        finally:
            if blocks:
                idle.blocking(False)
        idle.took()
        if student:
            _watching.waits.since(start)
            _watching.count_get()
        return item

    _proxied_call._baozi = True
    compat.set_proxy_call(managers, _proxied_call)


class MissingFunction(Exception):
    """The student's module has no function of the name the check needs."""


def _function(module, name: str):
    fn = getattr(module, name, None)
    if not callable(fn):
        raise MissingFunction(name)
    return fn


# For each None the student's code put in this process, the processes it had started and not yet
# seen end (_end_unseen) at that moment (watch_student): a sentinel put before a producer is known
# to have ended can overtake its items, whether or not it did this time.
sentinels: list[list[str]] = []


# Whether the student's questions about a queue that a running process holds get late answers
# (Context.answer_late), and each late answer given in this process: what was asked, and which
# processes held the queue then (names, or pids for processes started elsewhere).
_late = types.SimpleNamespace(on=False, answers=[], pid=None)
LATE_CALLS = ("empty()", "qsize()", "get_nowait()", "get(block=False)")
# A get() with a timeout up to this long is answered late too, the first time in each process: a
# consumer that gives up when it times out ("nothing for three seconds: the producer must be done")
# stops early whenever its producer is slower than that, which a busy machine decides: under spawn,
# with every core taken, starting the producer alone can take seconds, and the kit allows for that
# (every budget grows up to grader.checking.harness.MAX_LOAD_SCALE times: 6 s of margin). A longer timeout
# is a safety net that no schedule the kit allows can reach, and is left alone. The late answer
# comes after LATE_WAIT at most: nothing the asker does depends on how long it really waited.
LATE_TIMEOUT_MAX = 5.0
LATE_WAIT = 0.1
LATE_KEPT = 8  # late answers a process keeps for the report (the first is the one it names)


def _answer_late(q, call: str) -> bool:
    """Whether to answer `call` (one of LATE_CALLS) on `q` as the slowest legal schedule would:
    nothing there yet. Legal while a process that holds `q` has not been seen to end by the code
    that started it: its puts may all still be on their way, and nothing the asker can do tells it
    otherwise. A process started here counts once its end is seen here (join(), is_alive(), ...);
    one started elsewhere (the producer, for a consumer) once its starter has seen it end, and did
    so before it started the asker (_holders_elsewhere). A program that trusts such an answer
    (`while not q.empty()`) is a race that loses items only when the other side happens to be
    slow; answered late, it loses them in every run. Every other question gets the real answer, so
    a loop that polls still gets its items; but a poll that follows one that found nothing, with no
    wait between, is answered late too until the run is long enough to be called spinning
    (_Polls.pressing). The first late answer a child gives is left beside the registry for the
    scenario."""
    if not _late_on():
        return False
    asked = getattr(q, "_baozi_late_asks", 0)
    q._baozi_late_asks = asked + 1
    pressed = _watching.polls is not None and _watching.polls.pressing()
    return (pressed or not asked % 2) and _late_if_held(q, call)


def _answer_timed_late(q, timeout) -> bool:
    """Whether a get(timeout=`timeout`) on `q` times out at once (after LATE_WAIT), as the slowest
    legal schedule would: the first timed get of each process on each queue, with a timeout of at
    most LATE_TIMEOUT_MAX, on the terms of _answer_late. A consumer that goes back to waiting loses
    nothing; one that gives up loses its items in every run. Only the first: a retry loop must still
    get its items, and in the budget of its check."""
    if not isinstance(timeout, (int, float)) or not POLL_TIMEOUT <= timeout <= LATE_TIMEOUT_MAX:
        return False
    if not _late_on():
        return False
    if getattr(q, "_baozi_timed_late", None) == os.getpid():
        return False
    q._baozi_timed_late = os.getpid()
    return _late_if_held(q, f"get(timeout={timeout:g})")


def _timed_call(call: str) -> bool:
    """Whether `call`, read back from a child's mark, is a timed get as _answer_timed_late writes it."""
    number = call[len("get(timeout="):-1]
    if not (call.startswith("get(timeout=") and call.endswith(")") and 0 < len(number) <= 12):
        return False
    try:
        return POLL_TIMEOUT <= float(number) <= LATE_TIMEOUT_MAX
    except ValueError:
        return False


def _late_if_held(q, call: str) -> bool:
    """Whether a process that may still put on `q` holds it (see _answer_late); if so, the late
    answer to `call` is kept."""
    running = [(name, proc.pid) for name, _, proc in _named_handles() if compat.started_here(proc)
               and _end_unseen(proc) and any(held is q for held in getattr(proc, "_baozi_queues", ()))]
    elsewhere = _holders_elsewhere(q)
    if not running and not elsewhere:
        return False
    # The report names the holders that have put on `q` (its producers), if any have.
    pipe = _pipe_id(q)
    put = {pid for pid in [*elsewhere, *(pid for _, pid in running)]
           if pipe is not None and os.path.exists(f"{_registry.path}.put.{pipe}.{pid}")}
    if put:
        running, elsewhere = [r for r in running if r[1] in put], [pid for pid in elsewhere if pid in put]
    running = [name for name, _ in running]
    if not _late.answers and os.getpid() != _late.pid:
        _mark("lateans", os.getpid(), " ".join([call, *map(str, elsewhere)]))
    if len(_late.answers) < LATE_KEPT:
        _late.answers.append({"call": call, "running": running + [f"process {pid}" for pid in elsewhere]})
    return True


# A process that put items on a queue waits, as it ends, until every other process that holds the
# queue has called it once (_hold_for_readers): so a consumer's first question comes while its
# producer may still put, in every run, rather than when the start-ups happen to allow it (under
# spawn a consumer may start after a quick producer has ended). How long a reader takes to get
# there is the machine's doing, and a bound in seconds would let the load decide the verdict, so
# the wait is judged by what the reader does: it lasts while the reader starts up, and after it
# began its target (its RUNNING_SUFFIX mark), HOLD_MAX and then for as long as the reader only waits
# for a CPU (runnable, and less than HOLD_CPU of CPU since). A reader that sleeps or blocks
# elsewhere, or used the CPU for something else, is waited for no more; nor is one that died or whose
# target has returned (a producer that had nothing to put, a zombie until it is joined). The
# check's own budget ends the wait if none of this ever happens. Where a start-up's end cannot be
# seen (no dump folder), the wait is bounded by START_MAX; where the system cannot tell a sleeping
# process from a running one, by HOLD_MAX. A right program pays only its consumers' start-up.
HOLD_MAX = 1.0
HOLD_CPU = 0.2
START_MAX = 5.0
_use = types.SimpleNamespace(pid=None, on=False, put_on=set())


def _used(q, put: bool = False) -> None:
    """A queue call of this process: leave the mark "used" once per process, and keep which pipes
    it put on. Only where late answers are on (looked up once per process: Context.answer_late
    looks again)."""
    pid = os.getpid()
    if _use.pid != pid:
        _use.pid, _use.on, _use.put_on = pid, _late_on(), set()
        if _use.on:
            _mark("used", pid)
    if put and _use.on:
        pipe = _pipe_id(q)
        if pipe is not None and pipe not in _use.put_on:
            _use.put_on.add(pipe)
            _mark(f"put.{pipe}", pid)  # for the reports of late answers (_late_if_held)


def _hold_for_readers() -> None:
    """As a process that put on queues ends: wait until every other process that holds one of them
    and still runs has made a queue call (_used), within the limits above. A holder that has ended,
    whose target has returned (_leave), or whose end its starter has seen, is not waited for."""
    if _use.pid != os.getpid() or not _use.on or not _use.put_on or _registry.path == os.devnull:
        return
    began = time.monotonic()
    for pipe in sorted(_use.put_on):
        for pid in sorted(_pipe_holders(pipe) - {os.getpid()}):
            _await_first_call(pid, began)


def _leave() -> None:
    """As a process of the check ends (its target has returned or raised): leave the mark
    "leaving", since it makes no queue call from now on. Another process holding for its readers
    waits for it no more: a producer that put nothing ends before the others, and stays a zombie
    until its starter joins it, which may be after theirs."""
    if _registry.path != os.devnull:
        _mark("leaving", os.getpid())


def _await_first_call(pid: int, began: float) -> None:
    """Wait until the reader `pid` has made a queue call, is leaving or has ended, on the terms
    above."""
    folder = os.environ.get(DUMP_DIR_ENV)
    ready = os.path.join(folder or os.devnull, f"{pid}{RUNNING_SUFFIX}")
    pause, ready_at, reader = 0.001, None, None
    while (not any(os.path.exists(f"{_registry.path}.{kind}.{pid}") for kind in ("used", "leaving", "ended"))
           and _exists(pid)):
        now = time.monotonic()
        if ready_at is None and os.path.exists(ready):
            ready_at = now
        if ready_at is None:
            if now >= began + START_MAX and (not folder or (reader := reader or _Reader(pid)).ended()):
                return
        elif now >= ready_at + HOLD_MAX:
            reader = reader or _Reader(pid)
            if not reader.waits_for_a_cpu():
                return
        _sleep(pause)
        pause = min(0.005, pause * 2)


# The producers of one queue put in turns, in the order they were started: a producer's first put
# on a queue waits until every producer of it started before it has ended (_take_turn). A producer
# that puts its own None ("this producer is done") then leaves it behind every item it put and
# before every item of the producers after it, in every run: with fewer consumers than producers, a
# consumer stops at the first None while items are still to come, and they are lost every time
# instead of when the start-ups happen to let one producer finish early. Taking turns is a schedule
# the machine may make anyway (each producer runs while the others wait for a CPU), so right code
# passes under it; it costs a right program the sum of its producers' delays rather than the
# longest.
# The starter lists each producer's turn (a token) beside the registry, for each of its queues,
# before it starts it (``<registry>.producers.<pipe>``); the producer holds an flock on
# ``<registry>.turn.<token>`` from its first moment to its end, with its pid inside. The kernel
# drops the lock when the process ends, after its queues' last items were flushed into their pipes,
# whatever way it ends: the next producer sees it free. A producer that has moved on no further for
# TURN_STALL (no put, sleep or queue call in its tallies, no CPU, and not waiting for one) is waited
# for no more, so that no design the kit did not foresee is held up for good; nor is one that died
# starting up. Only where late answers are on (the checks of run()), on POSIX.
TURN_STALL = 2.0
_turns = types.SimpleNamespace(pid=None, token=None, fd=None, taken=set(), count=0)


def _list_turn(proc, role: str) -> None:
    """In the starter, before `proc` starts: give a producer its turn on each of its queues."""
    if fcntl is None or not plays(role, PRODUCER) or not _late_on():
        return
    _turns.count += 1
    proc._baozi_turn = token = f"{os.getpid()}-{_turns.count}"
    for pipe in filter(None, map(_pipe_id, proc._baozi_queues)):
        try:
            with open(f"{_registry.path}.producers.{pipe}", "a", encoding="utf-8") as listed:
                listed.write(f"{token} ")
        except OSError:
            pass


def _enter_turns() -> None:
    """As a process of the check starts: hold its turn, if it is a producer, until it ends; a fork
    child closes its copy of its starter's (closing leaves the starter's lock be)."""
    if _turns.fd is not None:
        try:
            os.close(_turns.fd)
        except OSError:
            pass
    token = getattr(multiprocessing.current_process(), "_baozi_turn", None)
    _turns.pid, _turns.token, _turns.fd, _turns.taken = os.getpid(), None, None, set()
    if fcntl is None or not isinstance(token, str):
        return
    try:
        fd = os.open(f"{_registry.path}.turn.{token}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # at once: the others only look, with a shared lock
        os.pwrite(fd, f"{os.getpid():<20}".encode(), 0)
    except OSError:
        return
    _turns.token, _turns.fd = token, fd


def _take_turn(q) -> None:
    """Before a producer's first put on `q`: wait until every producer of `q` started before it has
    ended (see above)."""
    if _turns.pid != os.getpid() or _turns.token is None:
        return
    pipe = _pipe_id(q)
    if pipe is None or pipe in _turns.taken:
        return
    _turns.taken.add(pipe)
    try:
        with open(f"{_registry.path}.producers.{pipe}", encoding="utf-8") as listed:
            tokens = listed.read(KEPT_CHARS * 16).split()
    except OSError:
        return
    if _turns.token in tokens:
        for token in tokens[:tokens.index(_turns.token)]:
            _await_turn(token)


def _await_turn(token: str) -> None:
    """Wait until the producer with `token` has ended, stalled, or died before it began."""
    path, pause, holder = f"{_registry.path}.turn.{token}", 0.001, None
    while True:
        state = _turn_state(path)
        if state == "ended":
            return
        pid = state if isinstance(state, int) else _kept_pid(token)
        if pid and (holder is None or holder.pid != pid):
            holder = _Holder(pid)
        began = state != "unborn"
        if holder is not None and (holder.stalled() if began else holder.reader.ended()):
            return
        _sleep(pause)
        pause = min(0.005, pause * 2)


def _turn_state(path: str):
    """The state of a turn: "ended" (the lock is free and a pid in it), "unborn" (no pid in it
    yet: the producer has not begun), or the pid of the producer that holds it ("holds" until it
    has written it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return "unborn"
    try:
        text = os.pread(fd, 20, 0).decode("ascii", "replace").strip()
        pid = int(text) if text.isdigit() else None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return pid or "holds"
        return "ended" if pid else "unborn"
    finally:
        os.close(fd)  # (and the shared lock with it)


def _kept_pid(token: str) -> int | None:
    """The pid the starter gave the producer with `token` (start_process), if it has yet."""
    text = _kept(_registry.path, "turnpid", token) or ""
    return int(text) if text.isdigit() else None


class _Holder:
    """The producer whose turn it is, as the next one sees it: moving on while its tallies change
    (a put, a sleep, a queue call), while it uses CPU or waits for a CPU; stalled after TURN_STALL
    of none of these. Its CPU and state are asked of the system (psutil, imported then) only once
    its tallies have held still for TALLY_QUIET, and that first look starts the count: a producer
    that keeps putting or sleeping costs the one waiting for it no import, and a stalled one is given
    up TALLY_QUIET later at most, never sooner."""

    TALLIES = ("puts", "sleep", "gets", "idle", "polls", "qjoins")
    TALLY_QUIET = 0.5  # seconds

    def __init__(self, pid: int):
        self.pid, self._reader = pid, None
        self.tallies, self.cpu, self.since = None, None, time.monotonic()

    @property
    def reader(self) -> _Reader:
        if self._reader is None:
            self._reader = _Reader(self.pid)
        return self._reader

    def stalled(self) -> bool:
        now, tallies = time.monotonic(), self._tallies()
        if tallies != self.tallies:
            self.tallies, self.cpu, self.since = tallies, None, now
            return False
        if self.cpu is None and now - self.since < self.TALLY_QUIET:
            return False
        reader = self.reader
        try:
            status, cpu = reader.process.status(), round(sum(reader.process.cpu_times()[:2]) / HOLD_CPU)
        except (AttributeError, reader.psutil.Error):
            return True  # gone: its turn has ended, or ends as it is reaped
        if cpu != self.cpu or status not in WAITING_STATES:
            self.cpu, self.since = cpu, now
        return now - self.since >= TURN_STALL

    def _tallies(self) -> tuple:
        times = []
        for kind in self.TALLIES:
            try:
                times.append(os.stat(f"{_registry.path}.{kind}.{self.pid}").st_mtime_ns)
            except OSError:
                times.append(None)
        return tuple(times)


# A thread in one of these states (psutil's names) waits for something (a lock, a pipe, a timer) or
# has ended; in any other it runs, waits for a CPU, is held in the kernel (disk) or was stopped by
# someone. The harness's deadlock watch reads states the same way.
WAITING_STATES = frozenset({"sleeping", "idle", "zombie", "dead"})


class _Reader:
    """A reader slow to start or to make its first queue call, as the system sees it (psutil is
    imported only on these rare paths)."""

    SLEEPING_LOOKS = 3  # in a row: a runnable process is seen sleeping now and then, in a system call

    def __init__(self, pid: int):
        import psutil

        self.psutil, self.sleeping, self.cpu = psutil, 0, None
        try:
            self.process = psutil.Process(pid)
        except psutil.Error:
            self.process = None

    def ended(self) -> bool:
        """Whether the reader has ended, zombies included (one that died starting up stays a zombie
        until its starter joins it)."""
        try:
            return self.process is None or self.process.status() == self.psutil.STATUS_ZOMBIE
        except self.psutil.Error:
            return True

    def waits_for_a_cpu(self) -> bool:
        """Whether the reader is runnable (or stopped) and has not had HOLD_CPU of CPU since the
        first look: only the machine keeps it from its first queue call."""
        psutil = self.psutil
        if self.process is None or not (psutil.LINUX or psutil.BSD):
            return False
        try:
            status, cpu = self.process.status(), sum(self.process.cpu_times()[:2])
        except psutil.Error:
            return False
        self.cpu = cpu if self.cpu is None else self.cpu
        if cpu - self.cpu >= HOLD_CPU:
            return False
        self.sleeping = self.sleeping + 1 if status in WAITING_STATES else 0
        return self.sleeping < self.SLEEPING_LOOKS


def _exists(pid: int) -> bool:
    """Whether process `pid` exists (POSIX only: signal 0 on Windows is CTRL_C_EVENT)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return True


def _late_on() -> bool:
    """Whether late answers are on in this check: a scenario turned them on here, or in the process
    that started this one (it leaves a mark beside the registry: spawn and forkserver children
    do not inherit the flag)."""
    if not _late.on and _registry.path != os.devnull and os.path.exists(f"{_registry.path}.late.on"):
        _late.on = True
    return _late.on


def _pipe_id(q) -> int | None:
    """Which pipe `q` reads from, the same in every process that holds it: its inode (POSIX only;
    elsewhere a question in a child is answered as asked)."""
    pipe = getattr(q, "_baozi_pipe", None)
    if pipe is None and os.name == "posix":
        try:
            pipe = q._baozi_pipe = os.fstat(compat.queue_pipe_ends(q)[0].fileno()).st_ino
        except (AttributeError, OSError, ValueError):  # closed, or not a queue of this process
            return None
    return pipe


def _mark(kind: str, pid, text: str = "") -> None:
    """Leave ``<registry>.<kind>.<pid>`` for the other processes of the check (keep)."""
    if _registry.path != os.devnull:
        _keep(_registry.path, kind, pid, text)


def _note_holder(pipe: int, pid: int) -> None:
    """Add `pid` to the holders of `pipe` (``<registry>.pipe.<inode>``: pids, appended whole)."""
    if _registry.path != os.devnull:
        try:
            with open(f"{_registry.path}.pipe.{pipe}", "a", encoding="utf-8") as held:
                held.write(f"{pid} ")
        except OSError:
            pass


def _holders_elsewhere(q) -> list[int]:
    """Processes of the check not started here (a sibling, a grandchild) that hold `q`'s pipe and
    whose end the code that started them has not seen: from the marks start_process and _see_end
    leave ("pipe", "ended"). For a consumer, its producer is such a process: nothing it can do
    tells it that the producer's puts have all arrived. A few system calls: a consumer that spins
    must still spin fast."""
    pipe = _pipe_id(q)
    if pipe is None:
        return []
    started_here = {proc.pid for _, _, proc in _named_handles() if compat.started_here(proc)}
    holders = _pipe_holders(pipe) - started_here - {os.getpid()}
    return sorted(pid for pid in holders if not _ended_before_me(pid))


# When the starter of this process started it (time.monotonic_ns, the same clock in every process),
# and the ends of other processes as their starters saw them, once read.
_me = types.SimpleNamespace(pid=None, started=None, ends={})


def _ended_before_me(pid: int) -> bool:
    """Whether the starter of process `pid` saw it end before this process was started: only then
    is its end ordered before this process's questions. A consumer started before its producer was
    joined may ask while the producer still puts, however quickly the producer ended in this run
    (under fork, often before the consumer had even started). The main process of the check takes
    an end as soon as it is seen."""
    if _me.pid != os.getpid():
        proc = multiprocessing.current_process()
        _me.pid, _me.started, _me.ends = os.getpid(), getattr(proc, "_baozi_started", None), {}
    ended = _me.ends.get(pid)
    if ended is None:
        if not os.path.exists(f"{_registry.path}.ended.{pid}"):
            return False
        stamp = _kept(_registry.path, "ended", pid) or ""
        ended = _me.ends[pid] = int(stamp) if stamp.isdigit() else 0
    return _me.started is None or ended < _me.started


def _pipe_holders(pipe: int) -> set[int]:
    """The processes started with a queue on `pipe` (_note_holder)."""
    if _registry.path == os.devnull:
        return set()
    try:
        with open(f"{_registry.path}.pipe.{pipe}", encoding="utf-8") as held:
            text = held.read(KEPT_CHARS * 4)  # appended: a few pids, at most this much read
    except OSError:
        return set()
    return {int(pid) for pid in text.split() if pid.isdigit()}


def _queues_in(value) -> list:
    """The multiprocessing queues a process's target and arguments reach: through containers,
    functools.partial, bound methods, closures and the attributes of objects, a few levels deep
    (and a few thousand objects at most: the arguments may hold big data)."""
    found, todo, budget = [], collections.deque([(value, 4)]), 5000
    while todo and budget:
        value, depth = todo.popleft()  # the arguments themselves first, then what they hold
        budget -= 1
        if isinstance(value, multiprocessing.queues.Queue):
            if not any(q is value for q in found):
                found.append(value)
            continue
        if depth <= 0 or isinstance(value, (str, bytes, int, float, type(None), type, types.ModuleType)):
            continue
        if isinstance(value, dict):
            inside = list(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            inside = list(value)
        elif isinstance(value, functools.partial):
            inside = [value.func, value.args, value.keywords]
        elif isinstance(value, types.MethodType):
            inside = [value.__self__, value.__func__]
        elif isinstance(value, types.FunctionType):
            inside = [cell.cell_contents for cell in value.__closure__ or () if _filled(cell)]
        elif hasattr(value, "__dict__"):
            inside = list(vars(value).values())
        else:
            continue
        todo.extend((item, depth - 1) for item in inside[:budget])
    return found


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # a closure variable not yet assigned
        return False
    return True


def _end_unseen(proc) -> bool:
    """Whether a process was started and the code has not waited for or seen its end (join(),
    is_alive(), an exitcode, active_children(), its sentinel ready in connection.wait());
    multiprocessing's own look at its children as it starts another does not count."""
    return compat.was_started(proc) and not getattr(proc, "_baozi_seen_end", False)


def _see_end(proc) -> None:
    """The code that started `proc` has seen it end; the processes that share its queues learn it
    from the mark left beside the registry (_holders_elsewhere)."""
    if not getattr(proc, "_baozi_seen_end", False):
        proc._baozi_seen_end = True
        if getattr(proc, "_baozi_queues", None):
            _mark("ended", proc.pid, str(time.monotonic_ns()))


def _not_joined() -> list[str]:
    """The processes started here whose end the code has not waited for or seen (_end_unseen). A
    fork child inherits its parent's handles: those are not its own to join."""
    return [name for name, _, proc in _named_handles() if compat.started_here(proc) and _end_unseen(proc)]


def _runs(proc) -> bool:
    """Whether a process started here still runs (a joined process has ended: under forkserver
    its sentinel may lag behind)."""
    return compat.reaped_code(proc) is None and not _has_ended(proc)


def _named_handles():
    """(name, registry entry, Process) of the student's processes started in this process, named
    as the reports name them: "consumer-2"."""
    counts: dict[str, int] = {}
    for entry, proc in _registry.handles:
        if entry["role"] in INTERNAL_ROLES:
            continue
        counts[entry["role"]] = counts.get(entry["role"], 0) + 1
        yield f"{entry['role']}-{counts[entry['role']]}", entry, proc


# multiprocessing.connection.wait as it was: the kit's own looks at a sentinel are not the student's
# (_install_registry wraps the module's).
_wait_ready = multiprocessing.connection.wait


def _has_ended(proc) -> bool:
    """Whether a process has ended, without reaping it (the student's code is the one to reap its
    children): its sentinel becomes ready when it exits."""
    try:
        return bool(_wait_ready([proc.sentinel], 0))
    except (ValueError, OSError):  # closed, or never started
        return True


class Context:
    """What a scenario gets: a way to call the student's functions, a deadline and a few helpers.

    In a host (a scenario run whole as the student's main process) `module` is the student's module
    and `func` gives its functions. In the observer `module` is None and `func` gives `StudentCall`s,
    which run each call in a host of its own.
    """

    def __init__(self, job: dict, deadline: float, module=None):
        self.job = job
        self.module = module
        self.module_file = job["module_file"]
        self.deadline = deadline  # time.monotonic() by which the scenario should have its answer
        # ...unless the student's code is still at work then (remaining): at most until this
        self.last_deadline = max(deadline, job.get("last_deadline", deadline))
        self._granted = deadline  # the end of the last slice of overtime remaining() gave
        self._registry_path = job["registry"]
        self.hosts: list = []  # hosts of StudentCalls made from here, for join_hosts()
        self.claims: list[dict] = []  # what those hosts said about themselves (registry, notes)

    def audit(self, reap: bool = True) -> dict:
        """How the student's processes were shut down, seen right after the checked call returned:
        which were never joined (_not_joined), which still run, and every exit code. Reading an exit
        code reaps the process; with `reap=False` (a look while the call still runs) none is read,
        so that the student's code is still the one to reap its children."""
        unjoined, running, exitcodes = _not_joined(), [], {}
        for name, _, proc in _named_handles():
            if _runs(proc):
                running.append(name)
            elif reap and compat.was_started(proc):
                exitcodes[name] = compat.poll_code(proc)
        return {"unjoined": unjoined, "running": running, "exitcodes": exitcodes}

    def settle(self, within: float) -> None:
        """Wait until every process the student's code started here has ended or is back waiting
        for items (Context.idle), at most `within` seconds and never past the check's time
        (remaining): what each did with the items it took is then in its tallies, however late the
        scheduler let it get there. Reaps none of them."""
        self._wait_while(lambda: [proc for _, entry, proc in _named_handles()
                                  if _runs(proc) and not any(self.idle(entry["pid"]).values())], within)

    def wait_for_end(self, names, within: float) -> None:
        """Wait until each of the processes `names` (as not_joined() names them) started here has
        ended, at most `within` seconds and never past the check's time (remaining). Reaps none of
        them, and is not the code's wait for them: not_joined() still lists them."""
        self._wait_while(lambda: [proc for name, _, proc in _named_handles() if name in names and _runs(proc)],
                         within)

    def _wait_while(self, waiting: Callable[[], list], within: float) -> None:
        """Wait while `waiting()` lists processes, waking when one of them ends or every 20 ms, at
        most `within` seconds and never past the check's time (remaining)."""
        until = time.monotonic() + within
        while True:
            procs = waiting()
            left = min(until - time.monotonic(), self.remaining(floor=0))
            if not procs or left <= 0:
                return
            try:
                _wait_ready([proc.sentinel for proc in procs], min(left, 0.02))
            except (OSError, ValueError):
                return

    def answer_late(self) -> None:
        """From now on, answer the student's empty(), qsize() and get_nowait() on a queue that a
        running process holds as late as a schedule may (see _answer_late), here and in every
        process of the check."""
        _late.on, _late.pid = True, os.getpid()
        _use.pid = None  # looked up again at the next queue call (_used)
        _mark("late", "on")  # for the processes the student's code starts: _late_on()

    def late_answers(self) -> list[dict]:
        """Each late answer given so far, here and then the first of each child: the call, who
        asked ("run()" here, else the child's name) and the processes that held the queue."""
        names = {entry["pid"]: name for name, entry, _ in _named_handles()}
        found = [{**answer, "by": "run()"} for answer in _late.answers]
        for pid, text in sorted(_all_kept(self._registry_path, "lateans").items()):
            call, *holders = text.split() or [""]
            if (call in LATE_CALLS or _timed_call(call)) and all(h.isdigit() for h in holders):
                found.append({"call": call, "by": names.get(pid, f"process {pid}"),
                              "running": [names.get(int(h), f"process {h}") for h in holders]})
        return found

    def not_joined(self) -> list[str]:
        """The processes started here whose end the code has not yet waited for or seen."""
        return _not_joined()

    def running(self) -> list[str]:
        """Roles of the student's processes started here that have not ended (the kit's look does
        not reap them, nor count as the code's wait)."""
        return [entry["role"] for _, entry, proc in _named_handles() if not _has_ended(proc)]

    def sentinel_puts(self) -> list[list[str]]:
        """For each None the student's code put in this process: the processes it had started and
        not yet seen end (_end_unseen) then."""
        return [list(names) for names in sentinels]

    def early_task_done(self) -> dict[str, list[int]]:
        """For each process started here that marked items done wrongly: how many before putting
        their results, and how many more than it had taken."""
        early = tallies(self._registry_path, "early_done")
        return {name: [int(n) for n in early[entry["pid"]][:2]] for name, entry, _ in _named_handles()
                if len(early.get(entry["pid"]) or ()) >= 2}

    def queue_joins(self) -> dict[str, int]:
        """How many JoinableQueue.join() calls each process started here saw return."""
        returned = tallies(self._registry_path, "qjoins")
        return {name: int(returned.get(entry["pid"], [0, 0])[-1]) for name, entry, _ in _named_handles()}

    def func(self, name: str):
        if self.module is None:
            return StudentCall(self, name)
        return _function(self.module, name)

    def join_hosts(self) -> list:
        """Wait (until the deadline) for the hosts of the calls made so far to end, which flushes
        what they put on queues; their exit codes, None for one still running."""
        for host in self.hosts:
            host.join(self.remaining())
        return [host.exitcode for host in self.hosts]

    def remaining(self, floor: float = 0.05) -> float:
        """Seconds left to wait. Past the deadline, while the student's code is still at work
        (moving), a short while more, up to the last deadline: a loop that waits in slices of
        remaining() waits as long as the work goes on, as the harness does, however slowly a busy
        machine runs it. Code that is idle, blocked or spinning gets no more. Whether it moves is
        asked once per slice, however often a waiting loop calls this."""
        now = time.monotonic()
        if self._granted <= now < self.last_deadline and self.moving():
            self._granted = min(now + MOVING_LOOK, self.last_deadline)
            self.deciding()
        return max(floor, max(self.deadline, self._granted) - now)

    def deciding(self) -> None:
        """Say that this scenario, past its deadline, is deciding by its own rules: the harness
        then waits ANSWER_GRACE more for its answer, as it does while the work moves."""
        _keep(self._registry_path, OVERTIME_MARK, os.getpid(), "")

    def moving(self) -> bool:
        """Whether the student's code put or took an item in the last MOVING_LOOK seconds, or a
        process below this one waits for a CPU without spinning on an empty queue (Context.idle)."""
        if rewritten_within(self._registry_path, WORK_TALLIES, MOVING_LOOK):
            return True
        import psutil  # only past the deadline: most checks never ask

        try:
            below = psutil.Process().children(recursive=True)
        except psutil.Error:
            return False
        for proc in below:
            try:
                if proc.status() == psutil.STATUS_RUNNING and not self.idle(proc.pid)["spinning"]:
                    return True
            except psutil.Error:
                continue
        return False

    def started(self, kind: str = "process") -> list[dict]:
        """Processes (or threads) the student's code has started in this process so far."""
        return [entry for entry in _registry.entries if entry["kind"] == kind]

    def slept(self) -> dict:
        """The student's time.sleep calls so far, in every process of the check (watch_student)."""
        counts = tallies(self._registry_path, "sleep").values()
        return {"calls": int(sum(c[0] for c in counts)), "seconds": round(sum(c[1] for c in counts), 4)}

    def idle(self, pid: int) -> dict:
        """How process `pid` has waited since it last took an item (watch_student, _Idle)."""
        values = tally(self._registry_path, "idle", pid)
        blocked, seconds, spinning = values if values and len(values) == 3 else (0, 0.0, 0)
        return {"blocked": bool(blocked), "seconds": seconds, "spinning": bool(spinning)}

    def put_spans(self) -> list[dict]:
        """For each process that put on a queue from the student's code: its role, how many puts,
        the seconds between its first and its last ("span"), and of those the seconds it spent
        outside its queue calls ("own"; the whole span where several threads put; watch_student)."""
        roles = self._roles()
        spans = []
        for pid, values in sorted(tallies(self._registry_path, "puts").items()):
            if len(values) != 6:
                continue
            count, first, last, waited_first, waited_last, thread = values
            span = last - first
            own = span - (waited_last - waited_first) if thread else span
            spans.append({"role": roles.get(pid, "?"), "puts": int(count), "span": round(span, 4),
                          "own": round(max(0.0, own), 4)})
        return spans

    def _roles(self) -> dict[int, str]:
        """Each process of the check by role; "main" for the process that ran the student's function
        (a host) and for this one."""
        roles = {entry["pid"]: entry["role"] for entry in self.started("process")}
        roles.update({entry["pid"]: "main" for entry in self.started("host")})
        roles[os.getpid()] = "main"
        return roles

    def gets(self) -> dict[str, int]:
        """How many items the student's code took from queues, by role as in put_spans ("main": the
        process that ran the student's function), all processes of a role together."""
        roles = self._roles()
        counts: dict[str, int] = {}
        for pid, values in tallies(self._registry_path, "gets").items():
            role = roles.get(pid, "?")
            counts[role] = counts.get(role, 0) + int(values[0])
        return counts


class StudentFault(Exception):
    """A call in a host ended without a value: the host's reply says why (raised, import_error, ...)."""

    def __init__(self, reply: dict):
        super().__init__(reply.get("status"))
        self.reply = reply


class StudentCall:
    """The student's function `name`. Called in the observer, it runs in a new host (a child process
    that imports the student's module) and returns what the host says it returned; a queue.Empty
    or queue.Full it raised is raised again, anything else ends the scenario as a StudentFault.
    Used as a Process target, it runs in that process. Its `__name__` is the function's, so that
    the registry names such a process after it."""

    def __init__(self, ctx: Context, name: str):
        self.job, self.name, self.__name__ = ctx.job, name, name
        self._ctx = ctx

    def __getstate__(self):
        return {"job": self.job, "name": self.name, "__name__": self.name}

    def __call__(self, *args, **kwargs):
        if os.getpid() == _observer_pid:
            return _call_in_host(self._ctx, self.name, args, kwargs)
        return _function(_import_student(self.job), self.name)(*args, **kwargs)


def observed(scenario):
    """Mark a scenario that runs in the observer: it calls the student's functions only through
    ``ctx.func`` and reads their effects from queues it made, with ``grader.checking.plain.plain_get``."""
    scenario.observed = True
    return scenario


# Threads that libraries start for themselves: not the student's threads.
LIBRARY_THREADS = ("multiprocessing", "threading", "concurrent", "queue", "pika")

REGISTRY_FIELDS = ("kind", "pid", "role", "name", "daemon", "parent")
HELPER_KIND = "helper"  # multiprocessing's tracker or fork server, forked by the kit (grader.checking.infrastructure)


def registry_line(entry: dict) -> str:
    """One tab-separated line per started process or thread (json would cost every check a few
    milliseconds of import time)."""
    return "\t".join(" ".join(str(entry[f]).split()) for f in REGISTRY_FIELDS) + "\n"


def parse_registry_line(line: str) -> dict | None:
    parts = line.rstrip("\n").split("\t")
    if len(parts) != len(REGISTRY_FIELDS):
        return None
    entry = dict(zip(REGISTRY_FIELDS, parts))
    entry["pid"] = int(entry["pid"])
    entry["parent"] = int(entry["parent"])
    entry["daemon"] = entry["daemon"] == "True"
    return entry


def _role_of(target, obj) -> str:
    """A process's role: the function its target runs, seen through ``functools.partial`` and bound
    methods; a function the student's module also binds under a role's name (``consumer =
    take_items``) takes that name. A Process subclass that overrides run() is named by its class."""
    if target is None:
        return type(obj).__name__
    for _ in range(10):  # partial(partial(f, a), b), a method of an object...
        if isinstance(target, functools.partial):
            target = target.func
        elif isinstance(target, types.MethodType):
            target = target.__func__
        else:
            break
    name = getattr(target, "__name__", None) or type(target).__name__
    module_name = getattr(target, "__module__", None) or ""
    if module_name.startswith("multiprocessing"):
        return INTERNAL_TARGETS.get(name, name)
    if not has_a_part(name):
        module = sys.modules.get(module_name)
        for alias, value in list(vars(module).items()) if module else ():
            if value is target and has_a_part(alias):
                return alias
    return name


class _Registry:
    """Every process (and non-library thread) the student's code starts in this process.

    The harness reads the file while the check may be stuck, to name processes by role
    ("consumer-2") in its reports. A host starts with an empty registry of its own.
    """

    def __init__(self, path: str):
        self.path = path
        self.entries: list[dict] = []
        self.handles: list = []  # (entry, Process) of the processes started here

    def record(self, entry: dict) -> None:
        self.entries.append(entry)
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(registry_line(entry))


_registry = _Registry(os.devnull)
_observer_pid: int | None = None  # set in the observer; no process started from it matches
SEEN_WAIT = 5.0  # seconds a process that ends waits at most for the harness to have seen it
_sleep = time.sleep  # not the counted one (watch_student)


def _wait_seen(pid: int | None = None) -> None:
    """Wait until the harness has seen a process (it leaves ``seen/<pid>`` in the check's folder), so
    that no process, however short its life, escapes its account of the check
    (``grader.checking.harness._cross_check``). A process that ends waits for itself, and one about to be
    signalled is waited for (until it has gone); start() never waits, so that the schedule the
    student's code makes is its own. Each wait pokes the harness, which looks at once: a few
    milliseconds, and only for a process that lived less than one of its looks."""
    mine = pid is None
    pid = pid or os.getpid()
    registry = os.environ.get(REGISTRY_ENV)
    folder = os.path.join(os.path.dirname(registry), "seen") if registry else ""
    if not os.path.isdir(folder):
        return
    mark, deadline, pause = os.path.join(folder, str(pid)), time.monotonic() + SEEN_WAIT, 0.001
    if os.path.exists(mark):
        return
    try:  # wake the harness: it looks at once
        poke = os.open(os.path.join(os.path.dirname(folder), "poke"), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(poke, b".")
        finally:
            os.close(poke)
    except OSError:
        pass  # no FIFO (Windows), or full: the harness looks every SAMPLE_INTERVAL anyway
    while not os.path.exists(mark) and time.monotonic() < deadline:
        if not mine and os.name == "posix" and not _exists(pid):
            return  # gone (reaped by a forkserver): it waited for itself if it ended normally
        _sleep(pause)
        pause = min(0.005, pause * 2)


def _enter_child(_=None) -> None:
    """In every process of the check started through multiprocessing, as it starts, right before
    the target (an after-fork hook in fork and forkserver children; in place of SpawnProcess's own
    _after_fork in spawn children, which run none). The mark it leaves tells the harness that the
    start-up is over: the CPU it measures for the spin check starts there, however long a busy
    machine made the start-up."""
    compat.Finalize(None, _wait_seen, exitpriority=100)  # not on os._exit() or a signal
    compat.Finalize(None, _hold_for_readers, exitpriority=101)  # (the higher runs first)
    compat.Finalize(None, _leave, exitpriority=102)
    _enter_turns()
    _watch_proxies()  # a spawn child has unpickled its arguments by now: a Manager's proxies too
    folder = os.environ.get(DUMP_DIR_ENV)
    if folder:
        try:
            open(os.path.join(folder, f"{os.getpid()}{RUNNING_SUFFIX}"), "w").close()
        except OSError:
            pass


def _hold_signals_until_seen() -> None:
    """terminate() and kill() (also multiprocessing's own, at exit, on daemon children) wait until
    the harness has seen the process: one ended by a signal cannot wait for itself."""
    def wait_seen_first(send):
        def _send_signal(self, sig):
            if self.returncode is None:
                _wait_seen(self.pid)
            send(self, sig)

        return _send_signal

    compat.wrap_signal_sending(wait_seen_first)


def _install_registry(path: str) -> None:
    global _registry
    _registry = _Registry(path)
    if getattr(multiprocessing.process.BaseProcess.start, "_baozi", False):
        return
    base_start = multiprocessing.process.BaseProcess.start
    thread_start = threading.Thread.start

    def start_process(self):
        role = _role_of(compat.target_of(self), self)  # start() lets go of its target
        self._baozi_queues = _queues_in(vars(self))  # ... and its arguments
        _watch_proxies()  # before a fork: the child inherits it
        alive = [e["role"] for e, p in _registry.handles if compat.started_here(p) and not _has_ended(p)]
        self._baozi_started = time.monotonic_ns()  # (_ended_before_me) the child finds it on its Process
        _list_turn(self, role)
        base_start(self)
        if getattr(self, "_baozi_turn", None):
            _mark("turnpid", self._baozi_turn, str(self.pid))
        host = getattr(self, "_baozi_host", False)
        kind = "host" if host else "kit" if getattr(self, "_baozi_kit", False) else "process"
        entry = {"kind": kind, "pid": self.pid, "role": "main" if host else role,
                 "name": self.name, "daemon": bool(self.daemon), "parent": os.getpid(),
                 "alive_at_start": alive}
        if kind == "process":
            _registry.handles.append((entry, self))
            for pipe in filter(None, map(_pipe_id, self._baozi_queues)):
                _note_holder(pipe, self.pid)
        _registry.record(entry)

    def start_thread(self):
        thread_start(self)
        target = compat.target_of(self)
        # A threading.Timer keeps its callable in .function: pika resolves host names in one.
        runs = target or getattr(self, "function", None)
        module = getattr(runs, "__module__", "") or ""
        if not module.startswith(LIBRARY_THREADS):
            _registry.record({"kind": "thread", "pid": os.getpid(), "role": _role_of(target, self),
                              "name": self.name, "daemon": bool(self.daemon), "parent": os.getpid()})

    base_join, base_is_alive = multiprocessing.process.BaseProcess.join, multiprocessing.process.BaseProcess.is_alive

    def join_process(self, timeout=None):
        base_join(self, timeout)
        if compat.reaped_code(self) is not None:
            _see_end(self)  # the code that joined it knows it has ended

    def is_process_alive(self):
        alive = base_is_alive(self)
        if not alive and compat.was_started(self):
            _see_end(self)
        return alive

    base_exitcode = multiprocessing.process.BaseProcess.exitcode

    def process_exitcode(self):
        code = base_exitcode.fget(self)
        if code is not None and self._popen is not None:
            _see_end(self)  # `while p.exitcode is None: ...` waits for the end too
        return code

    base_active_children = multiprocessing.process.active_children

    def active_children():
        before = compat.unreaped_children()
        alive = base_active_children()
        for proc in before:
            if proc not in alive:
                _see_end(proc)  # `while active_children(): ...` waits for the end too
        return alive

    def wait_ready(object_list, timeout=None):
        ready = _wait_ready(object_list, timeout)
        # A process's sentinel is ready once it has ended: `connection.wait([p.sentinel])` waits for
        # the end as join() does. multiprocessing's own waits (a forkserver child's poll) do not count.
        if not compat.caller_frame(1).f_code.co_filename.startswith(_LIBRARY_DIR):
            for _, _, proc in _named_handles():  # (one multiprocessing reaped already is not a child)
                if compat.started_here(proc) and compat.sentinel_of(proc) in ready:
                    _see_end(proc)
        return ready

    start_process._baozi = True
    multiprocessing.connection.wait = wait_ready
    multiprocessing.process.active_children = active_children
    multiprocessing.context.BaseContext.active_children = staticmethod(active_children)
    multiprocessing.active_children = active_children
    multiprocessing.process.BaseProcess.start = start_process
    multiprocessing.process.BaseProcess.join = join_process
    multiprocessing.process.BaseProcess.is_alive = is_process_alive
    multiprocessing.process.BaseProcess.exitcode = property(process_exitcode)
    _hold_signals_until_seen()
    threading.Thread.start = start_thread


def _student_frame(tb, module_file: str):
    """The innermost traceback entry in the student's file, as (line number, source line)."""
    import traceback

    found = None
    for frame in traceback.extract_tb(tb):
        if os.path.abspath(frame.filename) == module_file:
            found = (frame.lineno, (frame.line or "").strip(), frame.name)
    return found


def _describe_exception(exc: BaseException, module_file: str) -> dict:
    import traceback

    where = _student_frame(exc.__traceback__, module_file)
    if isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == module_file:
        where = (exc.lineno, (exc.text or "").strip(), None)
    return {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}".replace("builtins.", ""),
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        "line": where[0] if where else None,
        "source": where[1] if where else None,
        "function": where[2] if where else None,
    }


def _encoded(payload: dict) -> bytes:
    """`payload` as plain data (``grader.checking.wire``), or, if that is too large to be taken, an answer
    that says so rather than be refused."""
    from grader.checking import wire

    data = wire.encode(payload)
    if len(data) > wire.MAX_ANSWER_BYTES:
        data = wire.encode({"status": "raised", "error": {
            "type": "ValueError", "message": f"the result ({len(data)} bytes) is too large to send back",
            "traceback": "", "line": None, "source": None}})
    return data


def _send(channel: int, payload: dict) -> None:
    """The answer, as plain data: the harness decodes it, never runs it."""
    data = _encoded(payload)
    os.write(channel, struct.pack("!Q", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(channel, view):]


# Always on: a print loop must not fill the disk, and an abort must not write a core file.
DEFAULT_LIMITS = {"FSIZE": 64 * 1024 * 1024, "CORE": 0}


def _limit_resources(extra: dict) -> None:
    """Apply resource limits (the grader adds memory, processes and CPU time); they are inherited
    by every process the student's code starts."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the harness's time budget still applies
        return
    for name, value in {**DEFAULT_LIMITS, **extra}.items():
        limit = getattr(resource, f"RLIMIT_{name}", None)
        if limit is None:
            continue
        soft, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, value))


def start_kit_process(proc):
    """Start a process of the kit's own, a helper of the scenario: the registry marks it as the
    kit's (kind "kit"), so that no verdict about the student's processes counts it."""
    proc._baozi_kit = True
    proc.start()
    return proc


# A process of the kit's that waits for the student's processes alone, and when its wait times out
# only answers or ends (never wakes one of them), says so while it waits: ``<registry>.awaits.<pid>``
# names what stands between ("queues", or "broker" where the student's processes are reached
# through RabbitMQ), and is emptied after. The deadlock watch counts such a process as one more
# that waits forever, however much CPU its looks take (grader.checking.harness._DeadlockWatch).
AWAITS_MARK = "awaits"
AWAITS_THROUGH = ("queues", "broker")


def awaiting(registry_path: str) -> dict[int, str]:
    """The processes that say they wait for the student's alone, now (AWAITS_MARK): pid -> through."""
    return {pid: text for pid, text in _all_kept(registry_path, AWAITS_MARK).items() if text in AWAITS_THROUGH}


@contextlib.contextmanager
def awaiting_student(through: str = "queues"):
    """Around a wait of the kit's, in any process of the check, that only the student's processes can
    end early (see AWAITS_MARK)."""
    registry = os.environ.get(REGISTRY_ENV)  # the check's, in every process of it
    if registry:
        _keep(registry, AWAITS_MARK, os.getpid(), through)
    try:
        yield
    finally:
        if registry:
            _keep(registry, AWAITS_MARK, os.getpid(), "")


class _ObserverFds:
    """File descriptors only the observer may hold (the answer channel): every process forked from
    it closes them first thing, before any student code can run there."""

    fds: list[int] = []

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


_observer_fds = _ObserverFds()


def run(request: dict, channel: int) -> None:
    """The observer: the kit's side of the scenario, then the answer."""
    global _observer_pid
    started = time.monotonic()
    _observer_pid = os.getpid()
    _observer_fds.fds = [channel]
    compat.register_after_fork(_observer_fds, _ObserverFds.close)
    arm_stack_dump()
    compat.register_after_fork(arm_stack_dump, lambda _: arm_stack_dump())
    compat.register_after_fork(_enter_child, _enter_child)
    multiprocessing.set_start_method(request["start_method"], force=True)
    _install_registry(request["registry"])
    _prestart(request["start_method"], fork_server=False)  # the hosts share this one's tracker
    # Started with -S (see the harness): third-party packages stay importable, after the stdlib.
    # The student's folder is never on this process's path; hosts put it first on theirs.
    sys.path.extend(p for p in request.get("site_paths", []) if p not in sys.path)
    module_file = os.path.abspath(request["module_file"])
    # The environment carries the two paths to spawn and forkserver children.
    os.environ[REGISTRY_ENV], os.environ[STUDENT_FILE_ENV] = request["registry"], module_file
    watch_student(request["registry"], module_file)
    job = {"module_file": module_file, "module": request["module"], "registry": request["registry"],
           "scenario": request["scenario"], "params": request["params"], "start_method": request["start_method"],
           "deadline": started + request["deadline"],
           "last_deadline": started + request.get("last_deadline", request["deadline"])}
    result = _run_scenario(job)
    _keep(request["registry"], OVERTIME_MARK, os.getpid(), "")  # the student's part is over: answering
    result["helpers"] = _helpers_forked()
    result["elapsed"] = time.monotonic() - started
    _send(channel, result)


def _run_scenario(job: dict) -> dict:
    if not os.path.isfile(job["module_file"]):
        return {"status": "missing_file", "error": {"message": job["module_file"]}}
    package, _, name = job["scenario"].partition(":")
    scenarios = importlib.import_module(package)
    if hasattr(scenarios, "prepare"):  # e.g. ex07: guard pika connections against crossing a fork
        scenarios.prepare()
    scenario = getattr(scenarios, name)
    if not getattr(scenario, "observed", False):
        return _host_whole(job)
    ctx = Context(job, job["deadline"])
    try:
        value = scenario(ctx, **job["params"])
        result = {"status": "returned", "value": value}
    except StudentFault as fault:
        result = fault.reply
    except (queue.Empty, queue.Full) as exc:  # raised by a StudentCall, and not expected there
        result = getattr(exc, "reply", None) or {"status": "raised", "error": _describe_exception(exc, "")}
    result["registry"] = _registry.entries + [e for claim in ctx.claims for e in claim.get("registry", [])]
    result["notes"] = sorted({n for claim in ctx.claims for n in claim.get("notes", [])})
    tamper = sorted({t for claim in ctx.claims for t in claim.get("tamper", [])})
    if tamper:
        result["tamper"] = tamper
    return result


def _host_context():
    """How the observer starts a host: a fork of itself, the cheapest way, while it has no other
    thread (a fork must not copy a queue's feeder thread); spawn otherwise, and where fork is missing."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _start_host(target, args):
    """Start a host that runs `target(*args)` (args[0] is the job) after _enter_host. The host says
    on a pipe of its own which helpers it forked, then closes it, before the student's code runs
    there: the observer reads it (_helpers_forked), and no process of the student's holds it."""
    helpers_reader, helpers_writer = multiprocessing.Pipe(duplex=False)
    _observer_fds.fds.append(helpers_reader.fileno())  # no later host or child holds it open
    host = _host_context().Process(target=_host_main, args=(helpers_writer, target, args), name="main")
    host._baozi_host = True
    host.start()
    helpers_writer.close()
    _host_helpers.append((helpers_reader, host))
    return host


def _host_main(helpers_writer, target, args) -> None:
    _enter_host(args[0], helpers_writer)
    target(*args)


_host_helpers: list = []  # (the read end of its helpers pipe, the host) for each host started
HELPERS_WAIT = 2.0  # seconds the observer waits for a living host to say which helpers it forked
MAX_HELPERS = 16  # helpers one process may fork: a tracker and a fork server, with room to spare


def _helpers_forked() -> list[int]:
    """The pids of the helpers the kit forked in this check (grader.checking.infrastructure), as
    the observer knows them: its own, and those each host said it forked before the student's code
    ran there. The registry file lists them too, but the student's code can write that file."""
    pids = _helpers_here()
    for reader, host in _host_helpers:
        try:
            if reader.poll(HELPERS_WAIT if host.exitcode is None else 0):
                text = reader.recv_bytes(MAX_HELPERS * 12).decode("ascii")
                pids += [int(pid) for pid in text.split(",")[:MAX_HELPERS] if pid.isdigit()]
        except (EOFError, OSError, UnicodeDecodeError):  # the host ended before it said
            pass
    return pids


def _helpers_here() -> list[int]:
    """The helpers this process forked before the student's code ran here (_prestart)."""
    return [entry["pid"] for entry in _registry.entries if entry["kind"] == HELPER_KIND]


HOST_POLL = 0.1  # seconds between two looks at whether a host that has not replied is still alive
HOST_STATUSES = frozenset({"returned", "raised", "import_error", "missing_function", "started_at_import"})
# Exceptions a scenario may expect from a student's function, raised again in the observer.
EXPECTED_EXCEPTIONS = {"queue.Empty": queue.Empty, "_queue.Empty": queue.Empty, "queue.Full": queue.Full}


def _receive(reader, host) -> dict:
    """A host's reply, decoded as plain data; a host that died first gives a "crashed" reply. (Its
    end of the pipe, and of its sentinel, may live on in a process it forked: its exit status is
    what tells that it died.) The kit's code in a host sends one reply: bytes already waiting
    behind it were written by the student's code, and are named in the reply's "tamper"."""
    from grader.checking import wire

    try:
        while not reader.poll(HOST_POLL):
            if host.exitcode is not None and not reader.poll(0):
                return {"status": "crashed", "error": {"returncode": host.exitcode}}
        data = reader.recv_bytes(wire.MAX_ANSWER_BYTES)
        more = _more_waiting(reader)
    except EOFError:
        host.join(1.0)
        return {"status": "crashed", "error": {"returncode": host.exitcode}}
    except OSError as exc:  # a length that is not one: bytes the host's own framing never writes
        return {"status": "bad_answer", "error": {"message": f"the host's reply: {exc}"}}
    finally:
        reader.close()
    try:
        reply = wire.decode(data, wire.MAX_ANSWER_BYTES)
    except wire.WireError as exc:
        return {"status": "bad_answer", "error": {"message": f"the host's reply: {exc}"}}
    if not isinstance(reply, dict) or reply.get("status") not in HOST_STATUSES:
        return {"status": "bad_answer", "error": {"message": "the host's reply is not a reply"}}
    reply = {key: reply[key] for key in ("status", "value", "error", "registry", "notes") if key in reply}
    if more:
        reply["tamper"] = ["its main process wrote more after its reply on the kit's channel"]
    return reply


def _more_waiting(reader) -> bool:
    """Whether bytes wait behind a reply (a closed pipe's end, the kit's own close, is not more).
    Not judged on Windows, whose pipes are handles, not file descriptors."""
    if os.name != "posix" or not reader.poll(0):
        return False
    try:
        os.set_blocking(reader.fileno(), False)
        return os.read(reader.fileno(), 1) != b""
    except BlockingIOError:
        return False


_held: list = []  # the observer's end of each host's release pipe: open until the observer ends


def _host_whole(job: dict) -> dict:
    """Run the whole scenario in one host, the student's main process; its observation is a claim."""
    reader, writer = multiprocessing.Pipe(duplex=False)
    release, held = multiprocessing.Pipe(duplex=False)
    _held.append(held)
    _observer_fds.fds.append(held.fileno())  # so that the host does not hold it open itself
    host = _start_host(_host_scenario, (job, writer, release))
    writer.close()
    release.close()
    reply = _receive(reader, host)
    reply["registry"] = _registry.entries + reply.get("registry", [])
    return reply


def _call_in_host(ctx: Context, name: str, args: tuple, kwargs: dict):
    reader, writer = multiprocessing.Pipe(duplex=False)
    host = _start_host(_host_call, (ctx.job, name, args, kwargs, writer))
    writer.close()
    ctx.hosts.append(host)
    reply = _receive(reader, host)
    ctx.claims.append(reply)
    if reply.get("status") == "returned":
        return reply.get("value")
    exception = EXPECTED_EXCEPTIONS.get((reply.get("error") or {}).get("type"))
    if reply.get("status") == "raised" and exception is not None:
        raised = exception()
        raised.reply = reply
        raise raised
    raise StudentFault(reply)


def _enter_host(job: dict, helpers_writer) -> None:
    """A host's first steps, before any of the student's code: an empty registry, the helpers
    forked and said (_start_host), and the tallies on (``_import_student`` puts the student's
    folder first on the path)."""
    _observer_fds.close()
    # A process takes its parent's start method for its own children, unless told otherwise.
    multiprocessing.set_start_method(job["start_method"], force=True)
    _install_registry(job["registry"])
    _prestart(job["start_method"])
    helpers_writer.send_bytes(",".join(map(str, _helpers_here())).encode("ascii"))
    helpers_writer.close()
    watch_student(job["registry"], job["module_file"])


def _prestart(start_method: str, fork_server: bool = True) -> None:
    """Start multiprocessing's resource tracker, and under forkserver the fork server, as forks of
    this process, before the student's code runs here (grader.checking.infrastructure)."""
    from grader.checking import infrastructure

    infrastructure.prestart(start_method, _registry.record, fork_server=fork_server)


def _import_student(job: dict):
    """The student's module, imported in this process (a host or a child of the check)."""
    module_dir = os.path.dirname(job["module_file"])
    if module_dir not in sys.path:
        sys.path.insert(0, module_dir)
    return importlib.import_module(job["module"])


def _imported(job: dict):
    """(module, None), or (None, the reply that says why the module cannot be used)."""
    try:
        module = _import_student(job)
    except BaseException as exc:  # SyntaxError, ImportError, sys.exit() at import, ...
        return None, {"status": "import_error", "error": _describe_exception(exc, job["module_file"])}
    if os.path.abspath(getattr(module, "__file__", "") or "") != job["module_file"]:
        return None, {"status": "import_error", "error": {
            "type": "ImportError", "traceback": "", "line": None, "source": None,
            "message": f"'{job['module']}' was imported from {module.__file__}, not {job['module_file']}"}}
    at_import = [entry for entry in _registry.entries if entry["kind"] == "process"]
    if at_import:
        return None, {"status": "started_at_import", "error": {"message": ", ".join(
            f"{entry['role']} (pid {entry['pid']})" for entry in at_import)}}
    # Mark the end of the import, so that a crash can be told apart from a crash while importing.
    _registry.record({"kind": "phase", "pid": os.getpid(), "role": "imported", "name": "-",
                      "daemon": False, "parent": os.getpid()})
    return module, None


def _reply(writer, reply: dict, caught) -> None:
    reply["registry"] = _registry.entries
    if any(w.category is DeprecationWarning and "fork()" in str(w.message) for w in caught):
        reply["notes"] = ["fork-with-threads"]
    writer.send_bytes(_encoded(reply))
    writer.close()


def _host_scenario(job: dict, writer, release) -> None:
    """A host that runs the whole scenario, then waits, alive, until the observer ends."""
    package, _, name = job["scenario"].partition(":")
    scenarios = importlib.import_module(package)
    if hasattr(scenarios, "prepare") and _observer_pid is None:
        scenarios.prepare()  # a spawned host (a fork inherits the guards)
    scenario = getattr(scenarios, name)  # taken before the student's module can replace it
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=FORK_WARNING, category=DeprecationWarning)
        module, reply = _imported(job)
        if module is not None:
            ctx = Context(job, job["deadline"], module)
            try:
                reply = {"status": "returned", "value": scenario(ctx, **job["params"])}
            except MissingFunction as exc:
                reply = {"status": "missing_function", "error": {"message": str(exc)}}
            except BaseException as exc:  # the student's code raised (or called sys.exit): report it
                reply = {"status": "raised", "error": _describe_exception(exc, job["module_file"])}
    # The scenario is over: the observer's steps follow, which a busy machine may keep from a CPU.
    _keep(job["registry"], REPLIED_MARK, os.getpid(), "")
    _reply(writer, reply, caught)
    try:
        release.recv_bytes(1)  # never sent: returns (EOFError) when the observer has ended
    except BaseException:
        pass
    os._exit(0)


def _host_call(job: dict, name: str, args: tuple, kwargs: dict, writer) -> None:
    """A host that calls one function of the student's module and says how the call ended. It then
    ends as a process does, so that what the call put on a queue is flushed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=FORK_WARNING, category=DeprecationWarning)
        module, reply = _imported(job)
        if module is not None:
            try:
                fn = _function(module, name)
            except MissingFunction as exc:
                fn, reply = None, {"status": "missing_function", "error": {"message": str(exc)}}
            if fn is not None:
                try:
                    reply = {"status": "returned", "value": fn(*args, **kwargs)}
                except BaseException as exc:
                    reply = {"status": "raised", "error": _describe_exception(exc, job["module_file"])}
    _reply(writer, reply, caught)


def main(argv: list[str]) -> None:
    # The check's folder is on the path (python -m), and the student's code can write there: a
    # module planted in it must never be imported here.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.getcwd()]
    import traceback

    from grader.checking import wire

    with open(argv[1], "rb") as handle:
        request = wire.decode(handle.read(), wire.MAX_ANSWER_BYTES)
    # Keep the real stdout for the answer; the student's prints go to the log the harness gave us.
    channel = os.dup(1)
    log = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.close(log)
    _limit_resources(request.get("limits", {}))
    try:
        run(request, channel)
    except BaseException as exc:  # a fault of the kit's own, reported rather than hidden
        _send(channel, {"status": "internal_error", "error": {
            "type": type(exc).__name__, "message": str(exc), "line": None, "source": None,
            "traceback": traceback.format_exc()}})
    finally:
        sys.stdout.flush()
        # Stay alive while the harness inspects our children; it closes stdin when it is done.
        try:
            sys.stdin.buffer.read()
        finally:
            os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
elif __name__ == "__mp_main__":  # a spawn or forkserver child of a check
    arm_stack_dump()
    watch_student()
    compat.register_after_fork(_enter_child, _enter_child)
    # A spawn child runs no after-fork hooks (SpawnProcess._after_fork does nothing): its own, then.
    compat.run_in_spawn_children(_enter_child)
    if os.environ.get(REGISTRY_ENV):  # the processes it starts are in the check's account too
        _install_registry(os.environ[REGISTRY_ENV])
