"""Run one check of a student's module in a process tree of its own, with a time budget.

``run_check`` starts ``grader.checking.driver`` in a new session (POSIX) or process group (Windows),
watches its process tree with psutil while it works, and returns an ``Outcome``:

- what the scenario observed, or the exception the student's code raised;
- on a hang: every process still alive when the budget ran out, each with its role, state and the
  line it was blocked on (see ``grader.checking.diagnose``);
- the processes the student's code left running after it returned (a leak);
- the processes that kept a CPU busy while they should have been waiting (a spin).

Whatever happens, every process of the check has ended when ``run_check`` returns.
"""

from __future__ import annotations

import collections
import compileall
import dataclasses
import enum
import importlib
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import psutil

from grader.checking import diagnose, wire, zygote
from grader.checking.driver import (DUMP_DIR_ENV, EARLY_SENTINELS, FATAL_SUFFIX, HELPER_KIND, INTERNAL_ROLES,
                                    OVERTIME_MARK, REPLIED_MARK, WAITING_STATES, WORK_TALLIES, awaiting,
                                    rewritten_within, tallies)
from grader.checking.exercise import KIT_ROOT, PACKAGE_DIR
from grader.checking.sitepaths import site_paths

SAMPLE_INTERVAL = 0.05  # seconds between two looks at the process tree (answers are not polled)
LEAK_GRACE = 0.5  # how long a process may take to finish after the check returned
# Interpreter start-up CPU is not spinning: a process's busy time counts from the first look at it
# at least BUSY_WARMUP after it was first seen that finds it ready (the driver once it armed its
# stack dump; a process started through multiprocessing once it began its target, after its
# arguments were unpickled and the student's module imported), so that a start-up slowed down by
# the load is not counted; one that never says so counts from UNREADY_WARMUP.
BUSY_WARMUP = 0.1
UNREADY_WARMUP = 1.0
BUSY_MIN_WINDOW = 0.3  # shorter lives are too short to judge
# A loop that spins without asking a queue is told from outside, at each look, by whether the
# kernel finds it running or waiting for a CPU, and by how often it gave up a CPU by itself
# (grader.checking.diagnose.busy): counted from the warm-up on, over at least RUNNABLE_MIN_LOOKS looks.
# Where the kernel does not say which processes sleep (psutil reports every process of Windows and
# macOS as running), the share of one CPU decides alone: above BUSY_FRACTION, divided by the load
# but never below BUSY_FLOOR. A process blocked in get() uses about 0 and a spinning one close to 1
# on a quiet machine; a consumer blocked in a Manager queue's get() (each one a round trip) was
# measured at 6-7% of a CPU with four checks on two cores, a spinner at 20% on a saturated one.
RUNNABLE_MIN_LOOKS = 5
STATES_TELL_SLEEP = psutil.LINUX or psutil.BSD
BUSY_FRACTION = 0.25
BUSY_FLOOR = 0.12
# A process of the check is held until the harness has seen it, at most this long
# (grader.checking.driver.SEEN_WAIT): a harness that looked away longer cannot tell a short life from
# none.
SEEN_WAIT = 5.0
TAIL_BYTES = 2000  # how much of the student's output a report quotes
# A deadlock is reported before the budget runs out when, after DEADLOCK_MIN_AGE, every process
# has been idle for DEADLOCK_QUIET and two looks at the stacks, DEADLOCK_CONFIRM apart, find each
# one waiting without a timeout at the same place (see _DeadlockWatch).
DEADLOCK_MIN_AGE = 0.5
DEADLOCK_QUIET = 0.3
DEADLOCK_CONFIRM = 0.25
QUIET_CPU = 0.01  # seconds of CPU a process may use during DEADLOCK_QUIET and still be idle
# A loaded machine (a batch grading on every core, CI beside other jobs) starves a check that is
# right. Two allowances keep its verdict the same as on a quiet machine: every budget grows with
# the load per core when the check starts (load_factor, at most MAX_LOAD_SCALE), and a check still
# at work when its budget runs out (using the CPU, waiting for one, or making the calls of its work)
# gets up to OVERTIME times its budget more. A process that is idle, blocked or deadlocked gets
# neither.
MAX_LOAD_SCALE = 4.0
OVERTIME = 2.0
PROGRESS_WINDOW = 0.5  # seconds: "still using the CPU" means in the last this many seconds
PROGRESS_CPU = 0.05  # seconds of CPU the whole tree used in that window
# ...or the student's code put an item on a queue or took one in that window (WORK_TALLIES): a
# program that works through the delays it was given uses almost no CPU, however busy the machine.
# Sleeping alone is no progress: a loop that polls and sleeps never ends.
# A scenario waits on past its own deadline while the work moves (driver.Context.remaining), and
# marks it (OVERTIME_MARK), as it does when it begins to answer: it then has this long to answer.
# Once the answer's first bytes have come, the rest is waited for (up to the overtime), and so is
# the answer of a scenario whose host has replied (REPLIED_MARK): only the kit's steps are left.
ANSWER_GRACE = 1.0


def load_factor() -> float:
    """How much slower than a quiet machine this one runs now: the 1-minute load per core, between
    1 and MAX_LOAD_SCALE (1 where the platform has no load average)."""
    try:
        load = psutil.getloadavg()[0] / (psutil.cpu_count() or 1)
    except (AttributeError, OSError):
        return 1.0
    return min(MAX_LOAD_SCALE, max(1.0, load))


@dataclasses.dataclass(frozen=True)
class Isolation:
    """How the grader confines a check beyond its own session: another user, resource limits.

    The visible tests use the default (the student's own user, only the output-size limit).
    """

    user: tuple[int, int] | None = None  # (uid, gid) the student's code runs as (POSIX, as root)
    limits: dict = dataclasses.field(default_factory=dict)  # RLIMIT name without prefix -> value

    def hand_over(self, workdir: Path) -> None:
        """Give the check's folder to the student's user, who must write its logs there."""
        if self.user is None:
            return
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, *self.user)

    def popen_options(self) -> dict:
        if self.user is None:
            return {}
        return {"user": self.user[0], "group": self.user[1], "extra_groups": []}


class Status(str, enum.Enum):
    """How a check ended. The first nine are what the driver answers (its word is the value); the
    harness decides the others, and BAD_ANSWER and CRASHED too when the driver cannot say."""

    RETURNED = "returned"  # the scenario returned its observation
    RAISED = "raised"  # the student's function raised
    MISSING_FILE = "missing_file"
    IMPORT_ERROR = "import_error"
    MISSING_FUNCTION = "missing_function"
    STARTED_AT_IMPORT = "started_at_import"  # importing the module started processes
    INTERNAL_ERROR = "internal_error"  # the kit's own code failed
    CRASHED = "crashed"  # the process running the check died before it answered
    BAD_ANSWER = "bad_answer"  # not an answer: the student's code wrote to the channel or broke the kit
    HANG = "hang"
    INCONSISTENT = "inconsistent"  # the answer's account of the processes is not what the harness saw
    UNRELIABLE = "unreliable"  # a process died of a fault twice, in the kit's code: it cannot grade it

    __str__ = str.__str__  # "returned", as on the wire (Python 3.10 has no StrEnum)


@dataclasses.dataclass
class Outcome:
    """What happened in one check."""

    status: Status
    action: str  # what the check called, e.g. "run(items, n_consumers=2)"
    budget: float
    elapsed: float
    start_method: str
    module_file: str
    value: object = None
    error: dict | None = None
    stuck: list[diagnose.ProcReport] = dataclasses.field(default_factory=list)
    leaked: list[diagnose.ProcReport] = dataclasses.field(default_factory=list)
    busy: list[diagnose.ProcReport] = dataclasses.field(default_factory=list)
    registry: list[dict] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    deadlock: bool = False  # the hang was seen before the budget ran out: nothing could move
    early_sentinels: int = 0  # processes that put a None while a producer could still put
    # For the instructor only (grader.grading.review).
    flags: list[str] = dataclasses.field(default_factory=list)
    fatal: list[str] = dataclasses.field(default_factory=list)  # stacks of processes that died of a fault

    @property
    def hints(self) -> list[str]:
        return diagnose.hints(self)


class _Tracked:
    """One process of the tree and the CPU time we saw it use."""

    def __init__(self, proc: psutil.Process, now: float):
        self.proc = proc
        self.first_seen = now
        self.first = None  # (time, cpu seconds) once past the warm-up
        self.last = None
        self.recent: collections.deque = collections.deque(maxlen=16)
        self.looks = 0  # since the warm-up
        self.runnable_looks = 0  # of those, the looks that found it running or waiting for a CPU
        self.switches = None  # (first, last) context-switch counts since the warm-up, where known
        self.gone = False  # ended and reaped: no look needs to ask it again

    def sample(self, now: float, ready: bool) -> None:
        try:
            with self.proc.oneshot():  # one read of each of the process's status files
                times = self.proc.cpu_times()
                runnable = self.proc.status() == psutil.STATUS_RUNNING
                switches = self.proc.num_ctx_switches() if STATES_TELL_SLEEP else None
        except psutil.ZombieProcess:  # ended, or ending (_ending): still there to be asked
            return
        except psutil.NoSuchProcess:
            self.gone = True
            return
        except psutil.Error:
            return
        point = (now, times.user + times.system)
        age = now - self.first_seen
        if self.first is None and ((ready and age >= BUSY_WARMUP) or age >= UNREADY_WARMUP):
            self.first = point
        if self.first is not None:
            self.looks += 1
            self.runnable_looks += runnable
            if switches is not None:
                self.switches = (self.switches or (switches, switches))[0], switches
        self.last = point
        self.recent.append(point)

    def cpu_used(self, seconds: float, now: float) -> float | None:
        """CPU seconds used during the last `seconds`; None if we have not watched it so long."""
        older = [p for p in self.recent if now - p[0] >= seconds]
        if not older or self.last is None:
            return None
        return self.last[1] - older[-1][1]

    def quiet_for(self, seconds: float, now: float) -> bool:
        """Used (almost) no CPU during the last `seconds`; False if we have not watched it so long."""
        used = self.cpu_used(seconds, now)
        return used is not None and used < QUIET_CPU

    def busy_fraction(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        window = self.last[0] - self.first[0]
        if window < BUSY_MIN_WINDOW:
            return None
        return (self.last[1] - self.first[1]) / window

    def runnable_share(self) -> float | None:
        """Share of the looks since the warm-up that found it runnable; None where the platform
        cannot tell (see STATES_TELL_SLEEP) or the looks are too few to judge."""
        if not STATES_TELL_SLEEP or self.looks < RUNNABLE_MIN_LOOKS:
            return None
        return self.runnable_looks / self.looks

    def blocked(self) -> tuple[int, int] | None:
        """Since the warm-up: how often it gave up a CPU by itself (to wait or sleep) and how often
        the kernel took the CPU from it; None where the platform cannot tell (see STATES_TELL_SLEEP)."""
        if self.switches is None:
            return None
        first, last = self.switches
        return last.voluntary - first.voluntary, last.involuntary - first.involuntary


class _ParentMap:
    """Who is whose parent, for the whole machine, read at most once per interval.

    Finding a process's descendants means knowing every process's parent, and the grader watches
    several checks at once: they share one reading instead of each making its own. A reading lists
    the pids (cheap) and asks only the processes new since the last one for their parent: reading
    every process's parent at every look cost a busy machine, with hundreds of processes, a large
    share of a CPU per watching process. A process keeps its parent until that parent ends, and then
    hangs below no process of any check (its old parent is gone from the map), so a parent once read
    is as good as a fresh one. Pids come back only after the kernel has run through all of them, so
    a map older than STALE is read whole again.
    """

    STALE = 1.0  # seconds

    def __init__(self, max_age: float):
        self.max_age = max_age
        self._lock = threading.Lock()
        self._taken = -1.0
        self._parents: dict[int, int] = {}
        self._children: dict[int, list[int]] = {}

    def children(self, fresh: bool = False) -> dict[int, list[int]]:
        with self._lock:
            now = time.monotonic()
            if fresh or now - self._taken > self.max_age:
                known = self._parents if now - self._taken <= self.STALE else {}
                parents: dict[int, int] = {}
                for pid in psutil.pids():
                    ppid = known.get(pid)
                    if ppid is None:
                        try:
                            ppid = psutil.Process(pid).ppid()
                        except psutil.Error:
                            continue  # ended meanwhile
                    parents[pid] = ppid
                children: dict[int, list[int]] = {}
                for pid, ppid in parents.items():
                    children.setdefault(ppid, []).append(pid)
                self._parents, self._children, self._taken = parents, children, now
            return self._children

    def descendants(self, pid: int, fresh: bool = False) -> list[int]:
        children = self.children(fresh)
        found, todo = [], [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found


_PARENTS = _ParentMap(max_age=SAMPLE_INTERVAL)


class _Tree:
    """Every process seen below the driver, so that none escapes even after its parent died."""

    def __init__(self, root_pid: int, ready: Callable[[int], bool], seen_dir: Path | None = None):
        self.root_pid = root_pid
        self.ready = ready  # whether a process has finished starting
        self.seen: dict[int, _Tracked] = {}
        self.root = psutil.Process(root_pid)
        self.seen_dir = seen_dir  # where each process seen is acknowledged, as an empty file
        self.last_sample: float | None = None
        self.max_gap = 0.0  # the longest time between two samples: the harness's own blind spot

    def sample(self, fresh: bool = False) -> None:
        now = time.monotonic()
        if self.last_sample is not None:
            self.max_gap = max(self.max_gap, now - self.last_sample)
        self.last_sample = now
        procs = [self.root]
        for pid in _PARENTS.descendants(self.root_pid, fresh):
            if pid in self.seen:
                procs.append(self.seen[pid].proc)
            else:
                try:
                    procs.append(psutil.Process(pid))
                except psutil.Error:
                    pass
        for tracked in self.seen.values():
            if tracked.proc.pid != self.root_pid and tracked.proc not in procs:
                procs.append(tracked.proc)  # orphans: their parent ended, they did not
        for proc in procs:
            tracked = self.seen.get(proc.pid)
            if tracked is None:
                tracked = self.seen[proc.pid] = _Tracked(proc, now)
                self._acknowledge(proc.pid)
            if not tracked.gone:
                tracked.sample(now, tracked.first is not None or self.ready(proc.pid))

    def _acknowledge(self, pid: int) -> None:
        if self.seen_dir is not None:
            try:
                (self.seen_dir / str(pid)).touch()
            except OSError:
                pass

    def progressing(self, students: Callable[[psutil.Process], bool]) -> bool:
        """Whether the tree used the CPU lately (PROGRESS_CPU in PROGRESS_WINDOW), or one of the
        student's processes waits for a CPU right now (runnable: a machine saturated for less than
        a minute starves it before the load average says so), so may finish. The kit's own
        processes are left out of the second test: they wake up often just to look."""
        now = time.monotonic()
        used = 0.0
        for tracked in self.seen.values():
            recent = tracked.cpu_used(PROGRESS_WINDOW, now)
            if recent is not None:
                used += recent
            elif tracked.first_seen > now - PROGRESS_WINDOW:
                return True  # a process started in the window: the check is still moving
        if used >= PROGRESS_CPU:
            return True
        return any(_runnable(t.proc) for t in self.unreaped()
                   if t.proc.pid != self.root_pid and students(t.proc))

    def unreaped(self) -> list[_Tracked]:
        """The processes seen that may still be there to ask: not yet found reaped."""
        return [t for t in self.seen.values() if not t.gone]

    def alive(self) -> list[psutil.Process]:
        self.sample(fresh=True)
        return [t.proc for t in self.unreaped() if _is_alive(t.proc)]


POKE_NAME = "poke"  # a FIFO in the check's folder (grader.checking.driver._wait_seen)
POKE_MIN_GAP = 0.005  # seconds: however often it is poked, the watch looks at most this often


class _Poke(threading.Thread):
    """Wakes the watch loop when a process of the check asks to be seen (a byte on the check's
    FIFO), so that start() waits a few milliseconds for the harness's look, not a whole
    SAMPLE_INTERVAL. Without FIFOs (Windows) the loop just looks every SAMPLE_INTERVAL."""

    def __init__(self, path: Path, wake: threading.Event):
        super().__init__(daemon=True, name="baozi-poke")
        self.wake, self.fd, self.closing = wake, None, False
        self.pending = False  # poked since the last look: that look must read the processes afresh
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a writer of its own: no endless EOF
        except (OSError, AttributeError):
            return
        self.start()

    def run(self) -> None:
        import select

        while not self.closing:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                if ready:
                    os.read(self.fd, 4096)
                    self.pending = True
                    self.wake.set()
                    time.sleep(POKE_MIN_GAP)
            except (OSError, ValueError):
                return

    def take(self) -> bool:
        """Whether it was poked since the last call."""
        pending, self.pending = self.pending, False
        return pending

    def close(self) -> None:
        self.closing = True
        if self.fd is not None:
            try:
                os.write(self.fd, b"!")  # wakes its select() at once
            except OSError:
                pass
            self.join(timeout=1.0)
            os.close(self.fd)


class _DeadlockWatch:
    """Ends a hang early when nothing can ever move again.

    A check is deadlocked when every process of it (the infrastructure aside) is idle and its main
    thread waits, in the student's code, in a call that has no timeout (``q.get()``, ``p.join()``,
    ``event.wait()``) or in the queue flush of an exiting process, and its other threads wait the
    same way (``diagnose.waits_forever``): no process sleeps, computes or runs the kit's code, so no
    process can wake another. Two looks at the stacks must agree before it says so, and from the
    first look on no thread of the tree may run or wait for a CPU and no byte may pass through any
    of its pipes: a starved pipeline shows the same lines twice while its items still move. Until
    then, and wherever stacks cannot be had (Windows), the budget decides.

    A process of the kit's that says it waits for the student's processes alone
    (driver.awaiting_student: a helper in ``q.get()``, a scenario watching the broker's counts)
    counts as one more that waits forever, whatever CPU and bytes its looks take. While the kit
    waits through the broker, a student's wait for its messages does not count: the broker, outside
    the tree, may be slow to deliver them.

    A scenario that has just left an overtime mark is deciding by its own rules
    (driver.Context.remaining) and answers within ANSWER_GRACE: the watch lets it, as the budget
    does, however little CPU its last look took.
    """

    def __init__(self, tree: _Tree, roles: diagnose.Roles, stacks: diagnose.Stacks, module_file: str,
                 registry: str):
        self.tree, self.roles, self.stacks = tree, roles, stacks
        self.module_file = str(module_file)
        self.registry = registry
        # Since the first look: (when, where each process waits, the bytes each had moved, the
        # processes of the kit's that wait for the student's).
        self.candidate: tuple[float, dict, dict, dict] | None = None
        self.next_look = 0.0

    def __call__(self, age: float) -> bool:
        now = time.monotonic()
        if not hasattr(signal, "SIGUSR1") or age < DEADLOCK_MIN_AGE:
            return False
        if self.candidate is None and now < self.next_look:
            return False
        tracked, ended = [], []
        for t in self.tree.unreaped():
            (tracked if _is_alive(t.proc) else ended).append(t)
        if any(_ending(t.proc) for t in ended):
            self.candidate = None  # its join still waits, and its last threads may yet run
            return False
        # A process of the kit's that waits for the student's alone (driver.awaiting_student) may
        # look around as it waits: its CPU and bytes say nothing of the student's.
        alive = {t.proc.pid for t in tracked}
        awaits = {pid: through for pid, through in awaiting(self.registry).items() if pid in alive}
        active = [t for t in tracked if t.proc.pid not in awaits]
        if (not tracked or not all(t.quiet_for(DEADLOCK_QUIET, now) for t in active)
                or any(_may_run(t.proc) for t in tracked)):
            self.candidate = None
            return False
        if now < self.next_look:
            return False
        self.next_look = now + DEADLOCK_CONFIRM
        moved = _bytes_moved(active)
        watched = [t.proc for t in tracked if not self.roles.is_infrastructure(t.proc)
                   and self.roles.name(t.proc.pid)[1] not in INTERNAL_ROLES]
        stacks = self.stacks.request([p for p in watched if p.pid not in awaits], freeze=False, wait=0.2)
        places = {p.pid: ("awaits",) if p.pid in awaits else
                  _place(stacks.get(p.pid, ""), self.module_file, "broker" in awaits.values())
                  for p in watched}
        if not watched or None in places.values():
            self.candidate = None
            return False
        if self.candidate is None or self.candidate[1:] != (places, moved, awaits):
            # Read after the stacks, so that the next look counts no byte of their dumps.
            self.candidate = (now, places, _bytes_moved(active), awaits)
            return False
        if now - self.candidate[0] < DEADLOCK_CONFIRM:
            return False
        # A scenario deciding in overtime answers within ANSWER_GRACE: it has the last word.
        return not rewritten_within(self.registry, (OVERTIME_MARK,), ANSWER_GRACE)


def _place(stack: str, module_file: str, broker_awaited: bool) -> tuple | None:
    """Where a student's process waits forever (diagnose.waits_forever). While the kit waits for
    the student through the broker, a wait for the broker's messages is not one: the broker, which
    the watch cannot see, may be slow to deliver them."""
    place = diagnose.waits_forever(stack, module_file)
    if place is not None and broker_awaited and len(place) > 1 and place[1] in diagnose.PIKA_WAITS:
        return None
    return place


def _may_run(proc: psutil.Process) -> bool:
    """Whether a thread of the process may be moving now: each thread where psutil can see one
    (Linux), else the process as a whole."""
    try:
        ids = [t.id for t in proc.threads()] if psutil.LINUX else [proc.pid]
    except psutil.Error:
        return False
    for tid in ids:
        try:
            status = (proc if tid == proc.pid else psutil.Process(tid)).status()
        except psutil.Error:
            continue  # the thread has ended
        if status not in WAITING_STATES:
            return True
    return False


def _bytes_moved(tracked: list) -> dict[int, tuple | None]:
    """Bytes each process has read and written through its files, pipes and sockets so far (None
    where the platform does not count them: macOS)."""
    moved = {}
    for t in tracked:
        try:
            io = t.proc.io_counters()
            moved[t.proc.pid] = (io.read_chars, io.write_chars)
        except (psutil.Error, AttributeError):
            moved[t.proc.pid] = None
    return moved


def _runnable(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_RUNNING
    except psutil.Error:
        return False


def _is_alive(proc: psutil.Process) -> bool:
    """Running, sleeping or stopped; not ended (a zombie has ended, its parent just hasn't looked,
    or it is ending: see _ending)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _ending(proc: psutil.Process) -> bool:
    """A zombie whose other threads have not all ended: its main thread is gone, but the process
    is not over (its parent's join still waits) until the last of them is. An ending process on a
    busy machine can show that way for as long as those threads wait for a CPU."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE and proc.num_threads() > 1
    except psutil.Error:
        return False


def _wait_ended(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait (bounded) for processes that are not our children to end; return those still alive."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _is_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.01)  # polling: psutil cannot wait on a process that is not our child
        alive = [p for p in alive if _is_alive(p)]
    return alive


class _Answer(threading.Thread):
    """Reads the driver's one answer without blocking the watch loop.

    The driver runs the student's code, so its answer is a claim, decoded as plain data
    (``grader.checking.wire``, length-prefixed, capped) and checked field by field (``answer_fields``);
    one that is not well formed is a `problem`, never an exception here.
    """

    def __init__(self, stream, wake: threading.Event):
        super().__init__(daemon=True, name="baozi-answer")
        self.stream = stream
        self.wake = wake  # set with done: the watch loop looks at once
        self.payload: dict | None = None
        self.problem = ""  # why an answer that came could not be taken
        self.coming = threading.Event()  # its first bytes have come: the driver is done
        self.done = threading.Event()

    def run(self) -> None:
        try:
            header = self.stream.read(8)
            if len(header) != 8:
                return  # no answer: the driver crashed
            self.coming.set()
            (size,) = struct.unpack("!Q", header)
            if size > wire.MAX_ANSWER_BYTES:
                self.problem = f"an answer of {size} bytes, more than the {wire.MAX_ANSWER_BYTES} allowed"
                return
            data = self.stream.read(size)
            if len(data) == size:
                self.payload = answer_fields(wire.decode(data, wire.MAX_ANSWER_BYTES))
        except wire.WireError as exc:
            self.problem = str(exc)
        except (OSError, ValueError):  # a broken pipe: the driver crashed
            pass
        finally:
            self.done.set()
            self.wake.set()


STATUSES_ANSWERED = frozenset({Status.RETURNED, Status.RAISED, Status.MISSING_FILE, Status.IMPORT_ERROR,
                               Status.MISSING_FUNCTION, Status.STARTED_AT_IMPORT, Status.INTERNAL_ERROR,
                               Status.CRASHED, Status.BAD_ANSWER})
ERROR_FIELDS = {"type": str, "message": str, "traceback": str, "line": int, "source": str, "function": str,
                "returncode": int}
REGISTRY_KINDS = frozenset({"process", "thread", "phase", "host", "kit", HELPER_KIND})
REGISTRY_ENTRY = {"kind": str, "pid": int, "role": str, "name": str, "daemon": bool, "parent": int,
                  "alive_at_start": list}


ANSWER_FIELDS = frozenset({"status", "value", "error", "registry", "notes", "tamper", "elapsed", "helpers"})
MAX_HELPERS = 256  # pids in an answer's "helpers": the helpers the kit forked (driver._helpers_forked)


def answer_fields(answer) -> dict:
    """The driver's answer, every field checked; WireError for anything else."""
    if not isinstance(answer, dict) or not set(answer) <= ANSWER_FIELDS:
        raise wire.WireError("not the fields of an answer")
    try:
        answer["status"] = Status(answer.get("status"))
    except (ValueError, TypeError):
        raise wire.WireError("an unknown status") from None
    if answer["status"] not in STATUSES_ANSWERED:
        raise wire.WireError("an unknown status")
    error = answer.get("error")
    if error is not None:
        _check_fields(error, ERROR_FIELDS, "error", optional=True)
    registry = answer.get("registry", [])
    if not isinstance(registry, list):
        raise wire.WireError("a registry that is not a list")
    for entry in registry:
        _check_fields(entry, REGISTRY_ENTRY, "registry entry", optional=False)
        if entry["kind"] not in REGISTRY_KINDS or not all(isinstance(r, str) for r in entry.get("alive_at_start", [])):
            raise wire.WireError("a registry entry of an unknown kind")
    helpers = answer.get("helpers", [])
    if not (isinstance(helpers, list) and len(helpers) <= MAX_HELPERS
            and all(type(pid) is int and pid > 0 for pid in helpers)):
        raise wire.WireError("helpers that are not pids")
    for field in ("notes", "tamper"):
        texts = answer.get(field, [])
        if not (isinstance(texts, list) and all(isinstance(t, str) for t in texts)):
            raise wire.WireError(f"{field} that are not text")
    return answer


def _check_fields(record, fields: dict, what: str, *, optional: bool) -> None:
    """`record` is a dict of `fields` (name -> type; ints and texts may be None where `optional`)."""
    if not isinstance(record, dict) or not set(record) <= set(fields):
        raise wire.WireError(f"an {what} with unknown fields")
    for name, kind in fields.items():
        if name not in record:
            if optional or name == "alive_at_start":
                continue
            raise wire.WireError(f"an {what} without {name}")
        value = record[name]
        if value is None and optional:
            continue
        if type(value) is not kind:
            raise wire.WireError(f"an {what} whose {name} is not {kind.__name__}")


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return ("…" + text) if size > TAIL_BYTES else text


def session_options() -> dict:
    """Popen options that give a child a session (POSIX) or process group (Windows) of its own."""
    if os.name == "posix":
        return {"start_new_session": True}
    return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}


# Left out of the byte-code: the hidden checks, and the solutions an installed kit carries.
_HIDDEN_PATH = re.compile(r"[/\\](hidden|solutions)([/\\]|$)")


_compiled: set[Path] = set()
_compiling = threading.Lock()  # the grader's runner starts several checks at once, in threads


def compile_kit(root: Path = KIT_ROOT) -> None:
    """Compile the kit's own modules into their ``__pycache__``, once per process, where the kit's
    folder can be written (it is up to date after that: a few stats). Every check starts
    interpreters that import the driver, and they run with PYTHONDONTWRITEBYTECODE (_driver_env;
    machines often set it too), which reads byte-code but never writes it: without this each of
    them would compile the driver again, most of the CPU a short check costs. The hidden checks
    are left out: no byte-code of them is made for the sandbox to show."""
    with _compiling:
        if root in _compiled:
            return
        try:
            compileall.compile_dir(str(root / PACKAGE_DIR.name), quiet=2, rx=_HIDDEN_PATH)
        except OSError:
            pass  # a read-only kit (an installed copy, the sandbox): each interpreter compiles it
        _compiled.add(root)


def _driver_libraries(scenario: str) -> tuple[str, ...]:
    """The libraries the driver of a check of `scenario` ("package:function") imports, as its
    scenario module lists them (DRIVER_LIBRARIES): a fork server of drivers can load them once."""
    package = scenario.partition(":")[0]
    try:
        module = importlib.import_module(package)
    except ImportError:
        return ()
    libraries = getattr(module, "DRIVER_LIBRARIES", ())
    return tuple(name for name in libraries if isinstance(name, str))


def _start_driver(workdir: Path, env: dict, stderr, isolation: Isolation, libraries: tuple[str, ...] = ()):
    """``python -S -m grader.checking.driver REQUEST`` in `workdir`, in a session of its own: forked by a
    server that has imported the driver already where fork exists (``grader.checking.zygote``), else
    started as a new interpreter."""
    args = [str(workdir / "request.json")]
    forked = zygote.start_driver(args, cwd=workdir, env=env, user=isolation.user, stderr=stderr,
                                 libraries=libraries)
    if forked is not None:
        return forked
    return subprocess.Popen(
        # -S: no site processing. It costs more than the rest of an interpreter's start-up (the
        # .pth files of editable installs above all), and every check starts several
        # interpreters; the driver puts site-packages back at the end of sys.path instead.
        [sys.executable, "-S", "-m", "grader.checking.driver", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
        cwd=workdir, env=env, **session_options(), **isolation.popen_options(),
    )


# The temporary files of a check's processes go into its own folder, removed after it (a fork
# server's socket folder would otherwise stay behind: the driver ends with os._exit), where the
# folder's name is short enough for a Unix socket's path inside it.
SOCKET_ROOM = 60


def _environment() -> dict[str, str]:
    """A copy of os.environ, taken again if another thread changed it meanwhile: checks run ahead of
    their turn in threads while pytest sets and deletes PYTEST_CURRENT_TEST for every test it runs,
    and a copy made across such a change raises (KeyError, or RuntimeError from the dict)."""
    while True:
        try:
            return dict(os.environ)
        except (KeyError, RuntimeError):
            continue


def _driver_env(dump_dir: Path, workdir: Path) -> dict:
    env = _environment()
    if len(str(workdir)) <= SOCKET_ROOM:
        env["TMPDIR"] = str(workdir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(KIT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"  # so a hang report can quote the last lines printed
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the student's folder as it was
    env[DUMP_DIR_ENV] = str(dump_dir)
    return env


def run_check(
    *,
    module_file: Path,
    module: str,
    scenario: str,
    params: dict,
    start_method: str,
    budget: float,
    action: str,
    isolation: Isolation | None = None,
) -> Outcome:
    """Run one scenario against the student's module; see the module docstring.

    A run where a process died of a fault (``FAULT_SIGNALS``) is run once more, since the kit's
    own instrumentation runs in every process and could be the cause. A clean rerun is taken and
    the first run's death recorded for the instructor as a kit fault. A second death is the
    student's crash, reported with its stack, unless the kit's code is where it crashed: then the
    check is "unreliable", failed with that reason and recorded as a kit fault.
    """
    isolation = isolation or Isolation()
    compile_kit()

    def once() -> Outcome:
        workdir = Path(tempfile.mkdtemp(prefix="baozi-check-"))
        try:
            return _run_in(workdir, module_file, module, scenario, params, start_method, budget, action,
                           isolation)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    outcome = once()
    deaths = signal_deaths(outcome)
    if not deaths:
        return outcome
    first = "; ".join(deaths)
    outcome = once()
    again = _fault_deaths(outcome)
    said = "; ".join(_told(again))
    if not again:
        outcome.flags.append(f"kit fault: in the first run {first}; the rerun was clean and was taken")
    elif _kit_crashed(outcome, {signum for _, signum in again}):
        outcome.flags.append(f"kit fault: {said}, in two runs, inside the kit's own code")
        outcome.status = Status.UNRELIABLE
        outcome.error = {"message": said}
    return outcome


# Signals a right program never dies of, but a fault in the kit's code running inside it could
# cause (SIGUSR1: a process the kit asked for its stack before it could answer).
FAULT_SIGNALS = frozenset(getattr(signal, name) for name in
                          ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGUSR1")
                          if hasattr(signal, name))


def signal_deaths(outcome: Outcome) -> list[str]:
    """Which processes of the run died of a fault signal, in words."""
    return _told(_fault_deaths(outcome))


def _told(deaths: list[tuple[str, int]]) -> list[str]:
    return [f"{who} died by signal {signum}" for who, signum in deaths]


def _fault_deaths(outcome: Outcome) -> list[tuple[str, int]]:
    """(who, signal) for each process of the run that died of a fault signal: the one running the
    check, or those whose exit codes the observation lists."""
    deaths = []
    if outcome.status == Status.CRASHED:
        code = (outcome.error or {}).get("returncode")
        if isinstance(code, int) and -code in FAULT_SIGNALS:
            deaths.append(("the process running the check", -code))
    codes = outcome.value.get("exitcodes") if isinstance(outcome.value, dict) else None
    named = codes.items() if isinstance(codes, dict) else enumerate(codes) if isinstance(codes, list) else ()
    for name, code in named:
        if isinstance(code, int) and -code in FAULT_SIGNALS:
            deaths.append((name if isinstance(name, str) else f"process {name + 1}", -code))
    return deaths


def _kit_crashed(outcome: Outcome, signals: set[int]) -> bool:
    """Whether the kit's code is where the run's processes crashed: the kit's own signal killed
    one, or the innermost frame of a crashing thread that is the kit's or the student's is the
    kit's."""
    if getattr(signal, "SIGUSR1", None) in signals:
        return True
    kit = PACKAGE_DIR
    for text in outcome.fatal:
        threads = diagnose.parse_dump(text, skip=())
        for frame in threads[0] if threads else []:
            if diagnose.same_file(frame.file, outcome.module_file):
                break
            if Path(frame.file).resolve().is_relative_to(kit):
                return True
    return False


FATAL_BYTES = 8000  # of each fatal stack: it is the student's process that wrote it


def _fatal_stacks(dump_dir: Path) -> list[str]:
    """What faulthandler wrote in the processes of the check that died of a fault."""
    found = []
    for path in sorted(dump_dir.glob(f"*{FATAL_SUFFIX}"))[:20]:
        try:
            with open(path, "rb") as handle:
                text = handle.read(FATAL_BYTES).decode("utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            found.append(text)
    return found


def _run_in(workdir, module_file, module, scenario, params, start_method, budget, action,
            isolation: Isolation) -> Outcome:
    dump_dir = workdir / "stacks"
    dump_dir.mkdir()
    seen_dir = workdir / "seen"
    seen_dir.mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(workdir / POKE_NAME, 0o600)
    request = {
        "module_file": str(Path(module_file).resolve()),
        "module": module,
        "scenario": scenario,
        "params": params,
        "start_method": start_method,
        "deadline": budget * 0.8,  # leave the scenario time to report partial results
        "last_deadline": budget * 0.8 * (1 + OVERTIME),  # the same, for a check still at work
        "registry": str(workdir / "registry.jsonl"),
        "stdout": str(workdir / "stdout.log"),
        "limits": isolation.limits,
        "site_paths": site_paths(),
    }
    (workdir / "request.json").write_bytes(wire.encode(request))
    isolation.hand_over(workdir)
    stderr_path = workdir / "stderr.log"
    outcome = Outcome(status=Status.HANG, action=action, budget=budget, elapsed=0.0,
                      start_method=start_method, module_file=request["module_file"])
    started = time.monotonic()
    # Where only the CPU share can tell a spin, a loaded machine gives a spinning process only its
    # share of a CPU: judge it by that share.
    busy_fraction = max(BUSY_FLOOR, BUSY_FRACTION / load_factor())
    env = _driver_env(dump_dir, workdir)
    with open(stderr_path, "wb") as stderr:
        driver = _start_driver(workdir, env, stderr, isolation, _driver_libraries(scenario))
    wake = threading.Event()
    answer = _Answer(driver.stdout, wake)
    answer.start()
    poked = _Poke(workdir / POKE_NAME, wake)
    stacks = diagnose.Stacks(dump_dir)
    tree = _Tree(driver.pid, lambda pid: stacks.running(pid) or (pid == driver.pid and stacks.armed(pid)),
                 seen_dir)
    roles = diagnose.Roles(driver.pid, workdir / "registry.jsonl", diagnose.python_settings(env))
    deadlocked = _DeadlockWatch(tree, roles, stacks, module_file, request["registry"])
    try:
        while True:
            tree.sample(fresh=poked.take())
            wake.wait(SAMPLE_INTERVAL)
            wake.clear()
            if answer.done.is_set():
                break
            if driver.poll() is not None:
                answer.done.wait(1.0)  # the answer may still be in the pipe
                break
            age = time.monotonic() - started
            if age > budget and not (age < budget * (1 + OVERTIME) and (
                    answer.coming.is_set()  # only this process's own pace is left
                    or tree.progressing(lambda p: not roles.is_infrastructure(p))
                    or rewritten_within(request["registry"], WORK_TALLIES, PROGRESS_WINDOW)
                    or rewritten_within(request["registry"], (OVERTIME_MARK,), ANSWER_GRACE)
                    or rewritten_within(request["registry"], (REPLIED_MARK,), age))):
                break
            if deadlocked(age):
                outcome.deadlock = True
                break
        outcome.elapsed = time.monotonic() - started
        if answer.payload is not None:
            _take_answer(outcome, answer.payload)
            roles.trust_helpers(answer.payload.get("helpers", []))
            _find_leaks(outcome, tree, roles, stacks)
            if outcome.status == Status.RETURNED:  # only a value can earn points: the claim to check
                _cross_check(outcome, tree, roles)
        elif answer.problem:
            outcome.status = Status.BAD_ANSWER
            outcome.error = {"message": answer.problem}
        elif answer.done.is_set() or driver.poll() is not None:
            outcome.status = Status.CRASHED
            outcome.error = {"returncode": driver.wait(timeout=5)}
        else:
            outcome.status = Status.HANG
            alive = [p for p in tree.alive() if not roles.is_infrastructure(p)]
            outcome.stuck = diagnose.inspect(alive, tree.seen, roles, stacks, module_file)
        outcome.busy = diagnose.busy(tree.seen, roles, module_file, busy_fraction,
                                     polls=tallies(str(workdir / "registry.jsonl"), "polls"))
        if not outcome.registry:
            outcome.registry = roles.entries()
        # written by the student's processes: only whether each one put such a None is taken
        outcome.early_sentinels = sum(1 for values in tallies(request["registry"], EARLY_SENTINELS).values()
                                      if values and values[0] >= 1)
        # Read the output now: shutting down adds the library's own complaints to it.
        outcome.stdout = _tail(workdir / "stdout.log")
        outcome.stderr = _tail(stderr_path)
        outcome.fatal = _fatal_stacks(dump_dir)
    finally:
        _end_everything(driver, tree, roles, hung=outcome.status == Status.HANG)
        answer.join(timeout=1.0)
        poked.close()
    return outcome


def _take_answer(outcome: Outcome, payload: dict) -> None:
    outcome.status = payload["status"]
    outcome.value = payload.get("value")
    outcome.error = payload.get("error")
    outcome.registry = payload.get("registry", [])
    outcome.notes = payload.get("notes", [])
    outcome.flags += [text[:300] for text in payload.get("tamper", [])[:5]]


def _find_leaks(outcome: Outcome, tree: _Tree, roles: diagnose.Roles, stacks: diagnose.Stacks) -> None:
    """Student processes still running after the checked function returned (after a short grace)."""
    students = [p for p in tree.alive() if not roles.is_infrastructure(p) and roles.name(p.pid)[1] != "main"]
    # Looked at again after the grace: a resource tracker or forkserver caught between its fork and
    # its exec still shows its parent's command line (a loaded machine makes that moment long).
    left = [p for p in _wait_ended(students, LEAK_GRACE) if not roles.is_infrastructure(p)]
    if left:
        outcome.leaked = diagnose.inspect(left, tree.seen, roles, stacks, outcome.module_file)


def _claimed_counts(value) -> dict[str, int | None]:
    """The puts and gets an observation counts (``put_spans``, ``gets``), all processes together;
    None for a count that is not one. A kind the observation does not report is left out."""
    def count(n) -> bool:
        return isinstance(n, int) and not isinstance(n, bool) and n >= 0

    counts: dict[str, int | None] = {}
    if not isinstance(value, dict):
        return counts
    spans = value.get("put_spans")
    if spans is not None:
        ok = isinstance(spans, list) and all(isinstance(s, dict) and count(s.get("puts")) for s in spans)
        counts["puts"] = sum(s["puts"] for s in spans) if ok else None
    gets = value.get("gets")
    if gets is not None:
        ok = isinstance(gets, dict) and all(count(n) for n in gets.values())
        counts["gets"] = sum(gets.values()) if ok else None
    return counts


def _counts_over_records(value, registry_path: Path) -> str:
    """How the observation's counts of puts and gets exceed the tallies the kit reads now from the
    check's folder ("" if they do not). The tallies only grow, and are read after the observation
    was made: a count above them was not made from them."""
    over = []
    for kind, claimed in _claimed_counts(value).items():
        recorded = sum(int(values[0]) for values in tallies(str(registry_path), kind).values() if values)
        if claimed is None:
            over.append(f"{kind}: not a count")
        elif claimed > recorded:
            over.append(f"{kind}: {claimed} claimed, {recorded} recorded")
    return "; ".join(over)


def _cross_check(outcome: Outcome, tree: _Tree, roles: diagnose.Roles) -> None:
    """The answer's account of the processes against itself and against what the harness saw.

    An observation that lists other processes than the answer's own registry is not the account
    of this run: the check fails as "inconsistent" (right code cannot cause it). The harness's own
    view is weighed too, but only to flag the run for the instructor (``outcome.flags``): a process
    of the check waits as it ends until the harness has seen it (``grader.checking.driver._wait_seen``),
    yet a harness starved of the CPU, or a process that vanished unseen, could make right code
    look forged, and the kit must not blame a student for its own blind spots.
    """
    named = sorted(e["role"] for e in outcome.registry
                   if e["kind"] == "process" and e["role"] not in INTERNAL_ROLES)
    observed = outcome.value.get("processes") if isinstance(outcome.value, dict) else None
    if observed is not None and (not isinstance(observed, list) or sorted(map(str, observed)) != named):
        outcome.status = Status.INCONSISTENT
        outcome.error = {"message": "its observation lists other processes than its registry"}
        return
    over = _counts_over_records(outcome.value, roles.registry_path)
    if over:
        outcome.status = Status.INCONSISTENT
        outcome.error = {"message": f"its observation counts more calls than the kit recorded ({over})"}
        return
    entries = [*outcome.registry, *roles.entries()]
    claimed = {e["pid"] for e in entries if e["kind"] in ("process", "kit", "host")}
    never_seen = sorted(claimed - set(tree.seen))
    unnamed = sorted(pid for pid, t in tree.seen.items()
                     if pid not in claimed and not roles.is_infrastructure(t.proc))
    if never_seen and tree.max_gap < SEEN_WAIT:
        outcome.flags.append(f"its answer names processes the kit never saw (pids {never_seen[:5]})")
    if unnamed:
        outcome.flags.append(f"processes ran that its answer does not name (pids {unnamed[:5]})")


def read_observation(outcome: Outcome, kind: type) -> None:
    """A returned run's observation as `kind`, the Seen class of its scenario, in `outcome.value`.
    An answer with a field its scenario does not return, or none of fields at all, is not the
    account of this run (right code cannot cause it): the run is inconsistent, as when its account
    of the processes differs from the kit's (_cross_check)."""
    if outcome.status != Status.RETURNED:
        return
    try:
        outcome.value = kind(**outcome.value)
    except (TypeError, ValueError) as problem:  # not a dict of fields, or a field it does not have
        outcome.status = Status.INCONSISTENT
        outcome.error = {"message": f"its observation is not a {kind.__name__} ({problem})"}


def _kill(procs) -> None:
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass


def _end_everything(driver, tree: _Tree, roles: diagnose.Roles, hung: bool) -> None:
    """End every process of the check, by pid and (POSIX) by process group.

    The student's processes go first, with SIGKILL. Then the driver is told to leave (its stdin
    closes), so the resource tracker and forkserver see their pipe close and clean up the named
    semaphores they hold; only if they linger are they killed too.
    """
    everyone = tree.alive()
    _kill([p for p in everyone if p.pid == driver.pid and hung
           or p.pid != driver.pid and not roles.is_infrastructure(p)])
    try:
        driver.stdin.close()
    except OSError:
        pass
    try:
        driver.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver.wait(timeout=5.0)
    _kill(_wait_ended(everyone, 1.0))
    if hasattr(os, "killpg"):
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # anything of the session we never saw
        except (ProcessLookupError, PermissionError):
            pass
    _wait_ended(everyone, 2.0)
    if driver.stdout:
        driver.stdout.close()
