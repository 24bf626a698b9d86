"""Name the processes of a check, find where each one is stuck, and guess why.

A stuck process is asked for its stack with SIGUSR1 (``grader.checking.driver.arm_stack_dump`` installed
faulthandler's handler in every process of the check). The innermost frame in the student's file
says where it is, the library call just inside it says what it waits for (``q.get()``,
``p.join()``), and psutil says whether it is asleep or burning CPU. Without SIGUSR1 (Windows) the
report keeps the roles and the CPU use and says the stack is unavailable.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import psutil

from grader.checking import compat, mistakes
from grader.checking.driver import HELPER_KIND, RUNNING_SUFFIX, SPINNING, WRAPPERS, parse_registry_line
from grader.checking.roles import CONSUMER, PRODUCER, PUBLISHER, WORKER, plays

STACK_WAIT = 1.0  # seconds to wait for the stacks to be written
THREAD_HEADER = re.compile(r"^((Current thread|Thread) 0x[0-9a-fA-F]+|Stack \(most recent call first\))")
FRAME_LINE = re.compile(r'^\s+File "(?P<file>.*)", line (?P<line>\d+) in (?P<func>.*)$')

# What a library function means when a process sits in it.
WAITING_CALLS = {
    ("queues.py", "get"): "get",
    ("queues.py", "put"): "put",
    ("queues.py", "join"): "join",  # JoinableQueue.join
    ("process.py", "join"): "join",
    ("managers.py", "_callmethod"): "proxy",
    ("blocking_connection.py", "start_consuming"): "consume",  # pika: waiting for messages
    ("blocking_connection.py", "consume"): "consume",
}


@dataclasses.dataclass
class Frame:
    file: str
    line: int
    func: str


@dataclasses.dataclass
class ProcReport:
    pid: int
    role: str  # "main", "consumer-2", "producer-1", ...
    kind: str  # the role without its number: "main", "consumer", "producer", ...
    state: str  # "blocked", "busy", "exiting", "unknown"
    call: str | None = None  # what it waits in, as the student wrote it: "q.get()"
    waits_for: str | None = None  # "get", "put", "join", ... (library function)
    line: int | None = None  # line in the student's file
    source: str | None = None  # that line
    cpu: float | None = None  # share of one CPU while we watched
    runnable: float | None = None  # share of our looks that found it running or waiting for a CPU
    blocked: tuple[int, int] | None = None  # (voluntary, involuntary) context switches meanwhile
    polls: int = 0  # longest run of queue calls that found nothing without waiting (a spinning loop)
    stack: str = ""  # innermost frames, for the curious

    def where(self, module_file: str) -> str:
        return f"{Path(module_file).name}:{self.line}" if self.line else "library code"

    def describe(self, module_file: str, language: str = mistakes.DEFAULT_LANGUAGE) -> str:
        def say(name: str, **params) -> str:
            return mistakes.say("process", name, language, **params)

        cpu = say("cpu", cpu=self.cpu) if self.cpu is not None and self.cpu >= 0.1 else ""
        if self.state in ("exiting", "exit-join"):
            what = say(self.state)
        elif self.state == "busy":
            what = say("busy", where=self.where(module_file))
        elif self.call:
            what = say("blocked", call=self.call, where=self.where(module_file))
        elif self.line:
            what = say("waiting", where=self.where(module_file))
        else:
            what = say("library" if self.stack else "no-stack")
        source = f"    `{self.source}`" if self.source else ""
        return f"{self.role:<12} pid {self.pid:<7} {what}{cpu}{source}"


MAX_HELPER_PROGRAM = 128 * 1024  # characters: Linux's longest argument; a fork server's names sys.path


def _helper_program(program: str) -> str | None:
    """The helper whose program `program` is, exactly as multiprocessing writes it: ``from
    multiprocessing.<helper> import main; main(...)`` with only literals as arguments. None for any
    other program. It is parsed, never run."""
    if len(program) > MAX_HELPER_PROGRAM:
        return None
    try:
        body = ast.parse(program).body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if len(body) != 2 or not isinstance(body[0], ast.ImportFrom) or not isinstance(body[1], ast.Expr):
        return None
    imported, call = body[0], body[1].value
    module = imported.module or ""
    if (imported.level or not module.startswith("multiprocessing.") or len(imported.names) != 1
            or (imported.names[0].name, imported.names[0].asname) != ("main", None)):
        return None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "main"):
        return None
    for value in [*call.args, *(keyword.value for keyword in call.keywords)]:
        try:
            ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return module.partition(".")[2]


def python_settings(environ) -> dict:
    """The settings of Python in a process's environment: among them, where it finds its modules."""
    return {key: value for key, value in environ.items() if key.startswith("PYTHON")}


class Roles:
    """Names processes: a host of the student's code is "main", the student's processes are named
    after their target, and the driver's observer, which runs only the kit's code, is "kit" and
    counts as infrastructure."""

    INFRASTRUCTURE = ("resource_tracker", "forkserver")

    def __init__(self, driver_pid: int, registry_path: Path, python_settings: dict | None = None):
        self.driver_pid = driver_pid
        self.python_settings = python_settings  # the driver's (python_settings()); None: not compared
        self.registry_path = registry_path
        self._names: dict[int, tuple[str, str]] = {}
        self._helpers: set[int] = set()  # the helpers the kit forked (infrastructure), by the registry
        self._trusted: set[int] | None = None  # ...and by the observer, once it has answered
        self._entries: list[dict] = []
        self._looks: dict[psutil.Process, bool] = {}  # looks_infrastructure, once per process

    def entries(self) -> list[dict]:
        self._load()
        return list(self._entries)

    def _load(self) -> None:
        try:
            lines = self.registry_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        self._entries = [e for e in map(parse_registry_line, lines) if e is not None]
        counts: Counter = Counter()
        for entry in self._entries:
            if entry["kind"] == "host":
                self._names[entry["pid"]] = ("main", "main")
            if (entry["kind"] == HELPER_KIND and entry["role"] in self.INFRASTRUCTURE
                    and (self._trusted is None or entry["pid"] in self._trusted)):
                self._helpers.add(entry["pid"])
            if entry["kind"] not in ("process", "kit"):
                continue
            kind = entry["role"]
            counts[kind] += 1
            self._names[entry["pid"]] = (f"{kind}-{counts[kind]}", kind)

    def trust_helpers(self, pids: list[int]) -> None:
        """The observer's answer has come: of the helpers the registry names, only those it lists
        (grader.checking.driver._helpers_forked) are the kit's. Any other entry of that kind was
        written by the student's code, to have one of its processes left out of the checks."""
        self._trusted = set(pids)
        self._helpers &= self._trusted

    def looks_infrastructure(self, proc: psutil.Process) -> bool:
        """Whether `proc` was started as multiprocessing starts its tracker or fork server: a new
        interpreter without site processing (-S, as every process of a check), whose whole program
        is ``from multiprocessing.<helper> import main; main(<literals>)``, with nothing in its
        folder or its environment that could put other code in place of multiprocessing's. What
        a process was started with stays as it was: each process is read once."""
        if proc not in self._looks:
            looks = self._read_as_helper(proc)
            if looks is None:
                return False
            self._looks[proc] = looks
        return self._looks[proc]

    def _read_as_helper(self, proc: psutil.Process) -> bool | None:
        """looks_infrastructure, read from the process; None if its command line cannot be read."""
        try:
            cmdline = proc.cmdline()
        except psutil.Error:  # ended (a zombie has none), or not ours to read
            return None
        if not (len(cmdline) >= 3 and cmdline[-2] == "-c" and "-S" in cmdline[1:-2]
                and _helper_program(cmdline[-1]) in self.INFRASTRUCTURE):
            return False
        try:
            shadowed = any(os.path.exists(os.path.join(proc.cwd(), name))
                           for name in ("multiprocessing", "multiprocessing.py"))
            settings = python_settings(proc.environ())
        except (psutil.AccessDenied, psutil.ZombieProcess):
            return True  # the program is multiprocessing's; the rest cannot be read on this platform
        except psutil.Error:
            return None
        return not shadowed and (self.python_settings is None or settings == self.python_settings)

    def is_infrastructure(self, proc: psutil.Process) -> bool:
        """The resource tracker or the forkserver itself; not the processes a forkserver forked,
        which carry its command line too. One the kit forked (grader.checking.infrastructure) has
        its parent's command line: its entry in the registry tells it (once the observer has
        answered, only if the answer lists it too), unless the registry also names that process as
        one the student's code started."""
        if proc.pid == self.driver_pid:
            return True
        if proc.pid not in self._names and proc.pid not in self._helpers:
            self._load()
        if proc.pid in self._helpers:
            return proc.pid not in self._names
        if not self.looks_infrastructure(proc) or proc.pid in self._names:  # the registry was read above
            return False
        try:
            parent = proc.parent()
        except psutil.Error:
            parent = None
        return not (parent is not None and parent.pid != self.driver_pid and self.looks_infrastructure(parent))

    def name(self, pid: int) -> tuple[str, str]:
        if pid == self.driver_pid:
            return "kit", "kit"
        if pid not in self._names:
            self._load()
        return self._names.get(pid, (f"process-{pid}", "process"))


def parse_dump(text: str, skip: tuple[str, ...] = WRAPPERS) -> list[list[Frame]]:
    """Threads of one stack dump, each as frames innermost first, without the functions in
    `skip` (by default the kit's wrappers, which are not the student's code)."""
    threads: list[list[Frame]] = []
    for raw in text.splitlines():
        if THREAD_HEADER.match(raw):
            threads.append([])
            continue
        match = FRAME_LINE.match(raw)
        if match and threads and match["func"] not in skip:
            threads[-1].append(Frame(match["file"], int(match["line"]), match["func"]))
    return threads


def _main_thread(threads: list[list[Frame]], module_file: str) -> list[Frame]:
    """The thread that matters: the one in the student's code, else one not started by threading."""
    for frames in threads:
        if any(same_file(f.file, module_file) for f in frames):
            return frames
    for frames in threads:
        if frames and not frames[-1].file.endswith("threading.py"):
            return frames
    return threads[0] if threads else []


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _parsed(module_file: str) -> tuple[list[str], ast.AST | None]:
    """The student's file as lines and as a tree, read once per version (the deadlock watch asks
    often)."""
    try:
        version = os.stat(module_file).st_mtime_ns
    except OSError:
        return [], None
    return _parse(module_file, version)


@functools.lru_cache(maxsize=32)
def _parse(module_file: str, version: int) -> tuple[list[str], ast.AST | None]:
    try:
        text = Path(module_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return [], None
    try:
        return text.splitlines(), ast.parse(text)
    except (SyntaxError, ValueError):
        return text.splitlines(), None


def _nodes_on_line(module_file: str, line: int) -> list[ast.AST]:
    try:
        version = os.stat(module_file).st_mtime_ns
    except OSError:
        return []
    return _nodes_at(module_file, version, line)


@functools.lru_cache(maxsize=256)
def _nodes_at(module_file: str, version: int, line: int) -> list[ast.AST]:
    tree = _parse(module_file, version)[1]
    if tree is None:
        return []
    return [n for n in ast.walk(tree) if getattr(n, "lineno", None) is not None
            and n.lineno <= line <= (getattr(n, "end_lineno", None) or n.lineno)]


def _calls_of(nodes: list[ast.AST], func: str | None) -> list[ast.Call]:
    """The calls among `nodes`, those of `func` only when given ('get' matches q.get(...))."""
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    if func is None:
        return calls
    return [c for c in calls if _called_name(c) == func]


def _called_name(call: ast.Call) -> str | None:
    """'get' for q.get(...) and for get(...)."""
    return getattr(call.func, "attr", None) or getattr(call.func, "id", None)


def _call_text(module_file: str, line: int, func: str | None) -> str | None:
    """The call on `line` as the student wrote it: 'q.get()' for func 'get'."""
    matching = _calls_of(_nodes_on_line(module_file, line), func)
    return f"{ast.unparse(matching[0].func)}()" if matching else None


def _source_line(module_file: str, line: int) -> str | None:
    lines = _parsed(module_file)[0]
    return lines[line - 1].strip() if 0 < line <= len(lines) else None


def _analyse(report: ProcReport, frames: list[Frame], module_file: str) -> None:
    report.stack = "\n".join(f"{Path(f.file).name}:{f.line} in {f.func}" for f in frames[:8])
    if compat.in_exit_handler(frames) and compat.flushing_a_queue(frames):
        report.state = "exiting"
        report.waits_for = "flush"
        return  # its target has returned; a fork child's older frames are its parent's
    if _exit_joins_a_child(frames):
        report.state = "exit-join"
        report.waits_for = "exit-join"
        return
    index = next((i for i, f in enumerate(frames) if same_file(f.file, module_file)), None)
    if index is None:
        return
    report.line = frames[index].line
    report.source = _source_line(module_file, report.line)
    if index > 0:
        inner = frames[index - 1]
        report.waits_for = WAITING_CALLS.get((Path(inner.file).name, inner.func), inner.func)
        report.call = _call_text(module_file, report.line, inner.func) or f"{inner.func}()"
    else:  # inside a C function (time.sleep, a lock) or looping in the student's own code
        report.call = _call_text(module_file, report.line, None)


class Stacks:
    """Asks processes for their stacks (SIGUSR1) and reads what each wrote since the last time.

    Every process of a check has a dump file of its own once it is ready for the signal (see
    ``grader.checking.driver.arm_stack_dump``); a process without one is never signalled, since SIGUSR1
    would kill it.
    """

    def __init__(self, dump_dir: Path):
        self.dump_dir = dump_dir
        self._offsets: dict[int, int] = {}

    def armed(self, pid: int) -> bool:
        """Whether the process has finished starting (where stacks can be had; else always)."""
        return not hasattr(signal, "SIGUSR1") or (self.dump_dir / f"{pid}.txt").exists()

    def running(self, pid: int) -> bool:
        """Whether a process started through multiprocessing has begun to run its target: its
        start-up (unpickling its arguments, importing the student's module) is behind it."""
        return (self.dump_dir / f"{pid}{RUNNING_SUFFIX}").exists()

    def request(self, procs: list[psutil.Process], *, freeze: bool, wait: float = STACK_WAIT) -> dict[int, str]:
        """The newest stack of each process; with `freeze`, the tree is stopped first and left
        stopped, so that what is read is one moment (for a final report)."""
        if not hasattr(signal, "SIGUSR1"):
            return {}
        if freeze:
            _each(procs, "suspend")
        pending = {}
        for proc in procs:
            path = self.dump_dir / f"{proc.pid}.txt"
            if path.exists():
                try:
                    proc.send_signal(signal.SIGUSR1)
                    if freeze:
                        proc.resume()  # just long enough to run the handler
                    pending[proc.pid] = path
                except psutil.Error:
                    pass
        stacks: dict[int, str] = {}
        deadline = time.monotonic() + wait
        while pending and time.monotonic() < deadline:
            time.sleep(0.01)  # polling files other processes write
            for pid, path in list(pending.items()):
                text = self._read_new(pid, path)
                # Complete once it has frames and stopped growing since the last look.
                if text and text == stacks.get(pid):
                    del pending[pid]
                    self._offsets[pid] = self._offsets.get(pid, 0) + len(text.encode("utf-8"))
                stacks[pid] = text
        if freeze:
            _each(procs, "suspend")
        return stacks

    def _read_new(self, pid: int, path: Path) -> str:
        try:
            with open(path, "rb") as handle:
                handle.seek(self._offsets.get(pid, 0))
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


def _each(procs, method: str) -> None:
    for proc in procs:
        try:
            getattr(proc, method)()
        except psutil.Error:
            pass


def _exit_joins_a_child(frames: list[Frame]) -> bool:
    """The thread is in multiprocessing's exit handler (the end of the program, or of a child),
    joining a child process: it waits until that child ends by itself."""
    return compat.in_exit_handler(frames) and compat.joining_a_child(frames)


def _in_queue_join(report: ProcReport) -> bool:
    """The process waits in JoinableQueue.join(), not in a Process's join()."""
    return any(re.match(r"queues\.py:\d+ in join$", line) for line in report.stack.splitlines())


# The arity of each blocking call when it is given no timeout: q.get(), q.put(item), p.join(),
# event.wait(), lock.acquire(). More arguments (or a timeout=) mean the call wakes up by itself.
UNTIMED_ARITY = {"get": 0, "put": 1, "join": 0, "wait": 0, "acquire": 0, "recv": 0, "recv_bytes": 0}


# pika's waits for messages: the keyword that bounds one (None: nothing does) and the number of
# positional arguments before it. channel.start_consuming() and channel.consume(queue) wait forever.
PIKA_WAITS = {"start_consuming": (None, 0), "consume": ("inactivity_timeout", 4)}


def _untimed(module_file: str, line: int, func: str) -> bool:
    """Whether the student's call of `func` on `line` waits with no timeout."""
    on_line = _nodes_on_line(module_file, line)
    if func in PIKA_WAITS:
        keyword, before = PIKA_WAITS[func]
        calls = _calls_of(on_line, func)
        return bool(calls) and all(len(c.args) <= before and not any(k.arg == keyword for k in c.keywords)
                                   for c in calls)
    if func not in UNTIMED_ARITY:
        return False
    calls = _calls_of(on_line, func)
    if calls:
        return all(len(c.args) <= UNTIMED_ARITY[func] and not c.keywords for c in calls)
    # iter(q.get, None) and the like: the method is passed, not called, so no timeout either.
    return any(isinstance(n, ast.Attribute) and n.attr == func for n in on_line)


def waits_forever(text: str, module_file: str) -> tuple | None:
    """Where a process waits with nothing to wake it, from its stack dump: its main thread sits in
    a blocking call made without a timeout from the student's file, or it is exiting and flushing
    a queue, and no other thread of the student's code can still move. Returns a signature of that
    place, or None if it may still move on its own (a thread sleeps, computes, waits with a
    timeout, or runs the kit's own code)."""
    threads = parse_dump(text)
    if not threads:
        return None
    frames = _main_thread(threads, module_file)
    found = _thread_waits_forever(frames, module_file)
    if found is None:
        return None
    for other in threads:
        if other is frames:
            continue
        if any(same_file(f.file, module_file) for f in other):
            if _thread_waits_forever(other, module_file) is None:
                return None  # e.g. main waits in t.join() for a thread of the student's that sleeps
        elif not _library_waits_forever(other):
            return None  # e.g. a threading.Timer, whose wait has a timeout
    return found


def _library_waits_forever(frames: list[Frame]) -> bool:
    """Whether a thread that runs none of the student's lines (a queue's feeder, a library's
    worker) waits with nothing to wake it but another thread or process: its innermost frame calls
    a blocking function without a timeout (threading's ``waiter.acquire()``; not the timed
    ``waiter.acquire(True, timeout)`` of a Timer, nor a sleep or a select). A queue's feeder counts
    wherever it is: it waits for the next put, or writes to a pipe, which ends only when a reader
    takes the bytes (the deadlock watch sees bytes that still move)."""
    if not frames:
        return False
    if compat.in_queue_feeder(frames):
        return True
    inner = frames[0]
    calls = [c for c in _calls_of(_nodes_on_line(inner.file, inner.line), None)
             if _called_name(c) in UNTIMED_ARITY]
    return bool(calls) and all(len(c.args) <= UNTIMED_ARITY[_called_name(c)] and not c.keywords
                               for c in calls)


def _thread_waits_forever(frames: list[Frame], module_file: str) -> tuple | None:
    if compat.in_exit_handler(frames) and compat.flushing_a_queue(frames):
        return ("exiting",)
    if _exit_joins_a_child(frames):
        return ("exit-join",)
    index = next((i for i, f in enumerate(frames) if same_file(f.file, module_file)), None)
    if not index:  # None: not in the student's code; 0: in a C call (time.sleep) or a loop
        return None
    call = frames[index - 1].func
    if not _untimed(module_file, frames[index].line, call):
        return None
    return (frames[index].line, call, frames[0].file, frames[0].line)


def inspect(procs, seen, roles: Roles, stacks: Stacks, module_file) -> list[ProcReport]:
    """Reports for `procs` (alive, not infrastructure): role, state, where, CPU."""
    module_file = str(module_file)
    stacks = stacks.request(procs, freeze=True)
    reports = []
    for proc in procs:
        role, kind = roles.name(proc.pid)
        tracked = seen.get(proc.pid)
        cpu = tracked.busy_fraction() if tracked else None
        report = ProcReport(pid=proc.pid, role=role, kind=kind, state="blocked", cpu=cpu)
        threads = parse_dump(stacks.get(proc.pid, ""))
        if threads:
            _analyse(report, _main_thread(threads, module_file), module_file)
        elif proc.pid in stacks or not hasattr(signal, "SIGUSR1"):
            report.state = "unknown"
        if cpu is not None and cpu > 0.5 and report.state == "blocked" and report.waits_for is None:
            report.state = "busy"
        reports.append(report)
    order = {"main": 0}
    reports.sort(key=lambda r: (order.get(r.kind, 1), r.role))
    return reports


# A run of this many queue calls that found nothing and did not wait (grader.checking.driver._Polls) is a
# spinning loop, whatever CPU share the machine gave it: waiting code makes none, and a loop that
# drains a queue until Empty makes one per drain.
SPIN_POLLS = SPINNING
# A loop that spins without asking a queue, seen from outside. At each look the kernel says whether
# a process is runnable (running, or waiting for a CPU) or sleeps: a spinning one is runnable at
# nearly every look however small its share of a busy CPU, a waiting one sleeps, and a right one is
# runnable only in the short moments it has work. On a CPU crowded enough, though, even those
# moments stretch over most looks; what still tells them apart is who gives the CPU up. A waiting
# process gives it up by itself after each moment's work (a voluntary context switch, to sleep in
# get() or time.sleep()); a spinning one never does and loses the CPU only when the kernel takes it.
# Neither count depends on how much CPU the machine had to spare.
RUNNABLE_SHARE = 0.6
SPIN_BLOCKS_ALLOWED = 2  # gave up the CPU by itself at most this often (a page to read in, a lock)...
SPIN_BLOCK_SHARE = 0.25  # ...plus this share of the times the kernel took the CPU from it


def never_yields(blocked: tuple[int, int]) -> bool:
    """Whether a process that was runnable at most looks kept the CPU until the kernel took it."""
    voluntary, involuntary = blocked
    return voluntary <= SPIN_BLOCKS_ALLOWED + SPIN_BLOCK_SHARE * involuntary


def busy(seen, roles: Roles, module_file, threshold: float,
         polls: dict[int, list[float]] | None = None) -> list[ProcReport]:
    """Student processes that spun: asked a queue for items SPIN_POLLS times in a row without
    waiting, or (loops that spin without asking a queue) were runnable at most of the harness's
    looks and never gave up a CPU by themselves (RUNNABLE_SHARE, never_yields); where the platform
    cannot tell a runnable process from a sleeping one, used more than `threshold` of a CPU while
    we watched."""
    reports = {}
    for pid, counts in (polls or {}).items():
        if counts and counts[0] >= SPIN_POLLS and pid != roles.driver_pid:
            role, kind = roles.name(pid)
            tracked = seen.get(pid)
            reports[pid] = ProcReport(pid=pid, role=role, kind=kind, state="busy", polls=int(counts[0]),
                                      cpu=tracked.busy_fraction() if tracked else None)
    for pid, tracked in seen.items():
        fraction = tracked.busy_fraction()
        if pid in reports or fraction is None or roles.is_infrastructure(tracked.proc):
            continue
        runnable, blocked = tracked.runnable_share(), tracked.blocked()
        if runnable is None or blocked is None:
            spun = fraction >= threshold
        else:
            spun = runnable >= RUNNABLE_SHARE and never_yields(blocked)
        if spun:
            role, kind = roles.name(pid)
            reports[pid] = ProcReport(pid=pid, role=role, kind=kind, state="busy", cpu=fraction,
                                      runnable=runnable, blocked=blocked)
    return list(reports.values())


@dataclasses.dataclass(frozen=True)
class Cause:
    """A likely cause of a hang or a leak: which message of the catalogue's ``[cause]`` table says
    it, with what, and the mistake it names (a key of grader.checking.mistakes), or None when it
    cannot tell one mistake."""

    message: str
    params: dict = dataclasses.field(default_factory=dict)
    mistake: str | None = None
    decisive: bool = False  # read from the output, it tells the whole story: it goes first

    def text(self, language: str = mistakes.DEFAULT_LANGUAGE, action: str | None = None) -> str:
        """The cause in `language`; `action` names the check's run in that language (the run's own
        label, in English, otherwise)."""
        params = {**self.params, "action": action} if action and "action" in self.params else self.params
        return mistakes.say("cause", self.message, language, **params)


def hints(outcome, exercise: str = "", language: str = mistakes.DEFAULT_LANGUAGE) -> list[str]:
    """The likely causes of a hang or a leak, most likely first, in the lesson's words."""
    return [cause.text(language) for cause in causes(outcome, exercise)]


@functools.lru_cache(maxsize=None)
def rules_of(exercise: str):
    """The exercise's own rules (``DIAGNOSIS`` beside its scenarios, a
    grader.checking.scenarios.common.Diagnosis), or rules that add nothing to the general ones."""
    import importlib

    from grader.checking.scenarios.common import Diagnosis

    try:
        module = importlib.import_module(f"grader.checking.scenarios.{exercise}")
    except ImportError:
        return Diagnosis()
    return getattr(module, "DIAGNOSIS", None) or Diagnosis()


@dataclasses.dataclass(frozen=True)
class Hang:
    """What the rules of an exercise (Diagnosis) see of a hang or a leak."""

    main: ProcReport | None  # the process that ran the student's function
    reports: list  # every process stuck or left running
    waiting: list  # the consumers and workers among them that wait in get()
    consumers: list  # the registry's consumers and workers
    producers: list  # the registry's producers and publishers
    at_main: dict  # the action, file and line of the main process, for a cause's params


def causes(outcome, exercise: str = "") -> list[Cause]:
    """The likely causes of a hang or a leak, most likely first, each with its mistake. `exercise`
    (its folder name) brings the rules that only its programs need (rules_of)."""
    reports = outcome.stuck or outcome.leaked
    if not reports:
        return []
    rules = rules_of(exercise)
    file = Path(outcome.module_file).name
    main = next((r for r in reports if r.kind == "main"), None)
    processes = [e for e in outcome.registry if e["kind"] == "process"]
    consumers = [e for e in processes if plays(e["role"], CONSUMER, WORKER)]
    producers = [e for e in processes if plays(e["role"], PRODUCER, PUBLISHER)]
    waiting = [r for r in reports if plays(r.kind, CONSUMER, WORKER) and r.waits_for == "get"]
    at_main = {"action": outcome.action, "file": file, "line": main.line if main else 0}
    hang = Hang(main, reports, waiting, consumers, producers, at_main)
    own_join = own_waiting = None  # what the exercise's own rules make of a join, of idle consumers
    if main is not None and main.waits_for == "join" and rules.when_main_joins:
        own_join = rules.when_main_joins(hang)
    if waiting and rules.when_consumers_wait:
        own_waiting = rules.when_consumers_wait(hang)
    found = []
    for r in reports:
        if r.state != "exiting":
            continue
        if plays(r.kind, PRODUCER):
            found.append(Cause("producer-cannot-exit", {"role": r.role}))
        else:
            found.append(Cause("worker-cannot-exit", {"role": r.role}, "any.join-before-drain"))
        break
    consuming = [r for r in reports if r.waits_for == "consume"]
    if consuming:
        found.append(_stop_hint(consuming, consumers))
    if own_join is not None:
        found.append(Cause(*own_join))
    elif main is not None and main.waits_for == "exit-join":
        # Exercise 5: the program ends, and its exit handler joins children that never end.
        daemon = {e["pid"]: e["daemon"] for e in processes}
        stuck = [r.role for r in reports if r is not main and not daemon.get(r.pid, True)]
        message = "not-daemons" if len(stuck) > 1 else "not-a-daemon" if stuck else "child-not-a-daemon"
        found.append(Cause(message, {"action": outcome.action, "names": ", ".join(stuck)},
                           "ex05.consumers-not-daemon"))
    elif main is not None and _in_queue_join(main) and (
            waiting or not any(plays(r.kind, CONSUMER, WORKER) for r in reports)):
        # Exercise 5: q.join() on a JoinableQueue whose items were not all marked done (and not
        # consumers still at work when the time ran out).
        params = {**at_main, "call": main.call or "q.join()"}
        if waiting:
            found.append(Cause("queue-join-consumers-idle", {**params, "get": waiting[0].call or "q.get()"},
                               "ex05.task-done-missing"))
        else:
            found.append(Cause("queue-join-consumers-ended", params))
    elif own_waiting is not None:
        found.append(Cause(*own_waiting))
    elif waiting and (main is None or main.waits_for in ("join", "get")):
        total = max(len(consumers), len(waiting))
        told = total - len(waiting)
        if total == 1:
            found.append(Cause("consumer-never-told", {}, "ex03.no-sentinel"))
        elif not told:
            found.append(Cause("no-consumer-told", {"total": total}, "ex03.no-sentinel"))
        else:
            per_producer = len(producers) > 1 and told == len(producers)
            found.append(Cause("some-consumers-told", {"total": total, "told": told, "waiting": len(waiting)},
                               "ex04.sentinel-per-producer" if per_producer else "ex04.one-sentinel-for-many-consumers"))
    for r in reports:
        if plays(r.kind, PRODUCER) and r.waits_for == "put":
            found.append(Cause("producer-blocked-in-put", {"role": r.role, "call": r.call or "q.put()"}))
            break
    for r in reports:
        if r.state == "busy":
            found.append(Cause("busy-wait", {"role": r.role, "where": r.where(outcome.module_file)}, "any.busy-wait"))
            break
    if main is not None and main.state != "busy" and not found:
        others = [r for r in reports if r is not main]
        if main.waits_for == "get" and not others and processes and outcome.early_sentinels:
            found.append(Cause("sentinel-too-early", {**at_main, "call": main.call or "get()"},
                               rules.key("sentinel-too-early", "ex04.sentinels-before-every-producer-ended")))
        elif main.waits_for == "get" and not others and processes:
            found.append(Cause("consumer-stopped-early", {**at_main, "call": main.call or "get()"}))
        elif main.waits_for == "get" and not others:
            found.append(Cause("get-waits-forever", {**at_main, "call": main.call or "q.get()"},
                               rules.key("get-waits-forever", None)))
        elif main.waits_for == "put" and not others:
            found.append(Cause("put-waits-forever", {**at_main, "call": main.call or "q.put()"},
                               rules.key("put-waits-forever", None)))
        elif main.waits_for == "join":
            found.append(Cause("join-waits", {**at_main, "call": main.call or "join()"}))
        elif main.waits_for == "get":
            found.append(Cause("result-never-comes", {**at_main, "call": main.call or "get()"}))
    return found


def _stop_hint(consuming: list[ProcReport], workers: list[dict]) -> Cause:
    """Exercise 7: workers still waiting for messages on the broker."""
    if all(r.kind.startswith("kit_") for r in consuming):
        return Cause("kit-worker-after-stop")
    total = max(len(workers), len(consuming))
    params = {"total": total, "told": total - len(consuming), "waiting": len(consuming),
              "call": consuming[0].call or "channel.consume()"}
    if len(consuming) == total:
        return Cause("no-worker-took-stop", params)
    return Cause("some-workers-took-stop", params, "ex07.one-stop-for-many-workers")


def render_processes(reports: list[ProcReport], module_file: str, language: str = mistakes.DEFAULT_LANGUAGE) -> str:
    return "\n".join("  " + r.describe(module_file, language) for r in reports)
