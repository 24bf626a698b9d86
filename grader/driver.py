"""The process that runs a student's code for one check.

The harness (``grader.harness``) starts ``python -m grader.driver REQUEST`` in a session of its own.
The driver imports the student's module, runs one scenario from ``grader.scenarios`` against it and
sends back a picklable observation on its original stdout. Everything the student prints goes to a log
file instead. Then it waits, alive, until the harness has inspected the processes it left behind and
closes its stdin; it never runs the interpreter's exit handlers, which would join the student's
non-daemon processes and hang exactly like the lesson's first demo.

This module is also the ``__main__`` that spawn and forkserver children import, so it stays light and
does nothing at import time.
"""

from __future__ import annotations

import faulthandler
import importlib
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import multiprocessing.util
import pickle
import signal
import struct
import sys
import threading
import time
import warnings

# Python 3.12+ warns when a process with threads forks. A multiprocessing.Queue that has been put to
# owns a feeder thread, so code that puts before it starts a process triggers it. We record the
# warning and show it to the student as a note instead of hiding it or failing the check.
FORK_WARNING = r".*multi-threaded, use of fork\(\) may lead to deadlocks"

# Process targets that belong to multiprocessing itself, named for the reports.
INTERNAL_TARGETS = {"_run_server": "manager", "worker": "pool-worker"}
INTERNAL_ROLES = frozenset(INTERNAL_TARGETS.values())


# Where every process of the check writes its stack when the harness sends SIGUSR1 (POSIX only).
DUMP_DIR_ENV = "BAOZI_DUMP_DIR"
_dump_file = None  # kept open: faulthandler writes to it from a signal handler


def arm_stack_dump() -> None:
    """Make this process write its threads' stacks to DUMP_DIR/<pid>.txt on SIGUSR1.

    Runs in the driver, in fork children (an after-fork hook) and in spawn and forkserver children,
    which import this module as ``__mp_main__`` before they run the student's target. The handler
    is faulthandler's, so it works while the process is blocked inside a lock or a pipe read.
    """
    global _dump_file
    folder = os.environ.get(DUMP_DIR_ENV)
    if not folder or not hasattr(signal, "SIGUSR1"):
        return
    final = os.path.join(folder, f"{os.getpid()}.txt")
    try:
        # Ignored first: faulthandler restores the handler it replaced when the interpreter shuts
        # down, and SIGUSR1's default action would kill a process that is just exiting normally.
        # A fork child inherits the armed handler, and faulthandler would not install it again if
        # we replaced it, so it is left alone there.
        if _dump_file is None:
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        _dump_file = open(final + ".arming", "w", encoding="utf-8")
        faulthandler.register(signal.SIGUSR1, file=_dump_file, all_threads=True, chain=False)
        # The file appears under its final name only now: the harness signals a process only once
        # its file exists, and SIGUSR1 would kill a process that has no handler yet.
        os.replace(final + ".arming", final)
    except OSError:
        return


# Where spawn and forkserver children of a check log the student's sleeps (see count_sleeps).
SLEEP_LOG_ENV = "BAOZI_SLEEP_LOG"
STUDENT_FILE_ENV = "BAOZI_STUDENT_FILE"
SLEEP_WRAPPER = "_counted_sleep"  # its frame is left out of the stack reports (grader.diagnose)


def count_sleeps(registry_path: str | None = None, module_file: str | None = None) -> None:
    """Count the ``time.sleep`` calls of the student's module, and the seconds they ask for; the
    sleeps themselves are unchanged. Each process keeps its count in a file of its own beside the
    registry (``<registry>.sleep.<pid>``: "calls seconds"), rewritten at each call, so a loop of
    sleeps cannot grow it.

    A check that a delay was honoured times the whole call, and under heavy load starting the
    processes alone can take longer than the delays. The seconds asked of ``time.sleep`` do not grow
    with the load: a delay not passed on shows as ``sleep(0)`` on any machine.

    Runs in the driver before the student's module is imported (fork children inherit it), and in
    spawn and forkserver children, which find the two paths in the environment.
    """
    registry_path = registry_path or os.environ.get(SLEEP_LOG_ENV)
    module_file = module_file or os.environ.get(STUDENT_FILE_ENV)
    if not registry_path or not module_file or getattr(time.sleep, "__name__", "") == SLEEP_WRAPPER:
        return
    original = time.sleep
    count = {"pid": None, "calls": 0, "seconds": 0.0}  # a fork child starts its own count

    def _counted_sleep(seconds):
        try:
            caller = sys._getframe(1).f_code.co_filename
        except ValueError:  # called from C, with no Python frame above
            caller = ""
        if os.path.abspath(caller) == module_file and isinstance(seconds, (int, float)) and seconds >= 0:
            if count["pid"] != os.getpid():
                count.update(pid=os.getpid(), calls=0, seconds=0.0)
            count["calls"] += 1
            count["seconds"] += float(seconds)
            try:  # written whole, then renamed: a reader never sees half of it
                with open(f"{registry_path}.sleeping.{count['pid']}", "w", encoding="utf-8") as log:
                    log.write(f"{count['calls']} {count['seconds']!r}")
                os.replace(f"{registry_path}.sleeping.{count['pid']}", f"{registry_path}.sleep.{count['pid']}")
            except OSError:
                pass
        return original(seconds)

    time.sleep = _counted_sleep


def sleeps_logged(registry_path: str) -> dict:
    """How often the student's code called time.sleep, and the seconds it asked for in all."""
    calls, seconds = 0, 0.0
    folder, prefix = os.path.split(registry_path + ".sleep.")
    for name in os.listdir(folder or "."):
        if not name.startswith(prefix):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as log:
                n, total = log.read().split()
            calls, seconds = calls + int(n), seconds + float(total)
        except (OSError, ValueError):
            continue  # being rewritten just now, or tampered with
    return {"calls": calls, "seconds": round(seconds, 4)}


class MissingFunction(Exception):
    """The student's module has no function of the name the check needs."""


def _has_ended(proc) -> bool:
    """Whether a process has ended, without reaping it (so that a join the student forgot stays
    visible): its sentinel becomes ready when it exits."""
    try:
        return bool(multiprocessing.connection.wait([proc.sentinel], 0))
    except (ValueError, OSError):  # closed, or never started
        return True


class Context:
    """What a scenario gets: the student's module and a few helpers."""

    def __init__(self, module, module_file: str, deadline: float, registry: list[dict],
                 handles: list, registry_path: str):
        self.module = module
        self.module_file = module_file
        self.deadline = deadline  # time.monotonic() by which the scenario should have its answer
        self._registry = registry
        self._handles = handles  # (registry entry, Process) for processes started here
        self._registry_path = registry_path

    def audit(self, reap: bool = True) -> dict:
        """How the student's processes were shut down, seen right after the checked call returned:
        which were never joined, which still run, and every exit code. Reading an exit code reaps
        the process; with `reap=False` (a look while the call still runs) none is read, so that a
        join the student forgets stays visible."""
        counts: dict[str, int] = {}
        unjoined, running, exitcodes = [], [], {}
        for entry, proc in self._handles:
            if entry["role"] in INTERNAL_ROLES or entry["role"].startswith("kit_"):
                continue
            counts[entry["role"]] = counts.get(entry["role"], 0) + 1
            name = f"{entry['role']}-{counts[entry['role']]}"
            popen = getattr(proc, "_popen", None)
            if popen is not None and popen.returncode is None:
                unjoined.append(name)  # nobody waited for it: not join(), not is_alive()
            if (popen is None or popen.returncode is None) and not _has_ended(proc):
                # (a joined process has ended: under forkserver its sentinel may lag behind)
                running.append(name)
            elif popen is not None and reap:
                exitcodes[name] = popen.poll()
        return {"unjoined": unjoined, "running": running, "exitcodes": exitcodes}

    def func(self, name: str):
        fn = getattr(self.module, name, None)
        if not callable(fn):
            raise MissingFunction(name)
        return fn

    def remaining(self, floor: float = 0.05) -> float:
        return max(floor, self.deadline - time.monotonic())

    def started(self, kind: str = "process") -> list[dict]:
        """Processes (or threads) the student's code has started in this process so far."""
        return [entry for entry in self._registry if entry["kind"] == kind]

    def slept(self) -> dict:
        """The student's time.sleep calls so far, in every process of the check (count_sleeps)."""
        return sleeps_logged(self._registry_path)


# Threads that libraries start for themselves: not the student's threads.
LIBRARY_THREADS = ("multiprocessing", "threading", "concurrent", "queue", "pika")

REGISTRY_FIELDS = ("kind", "pid", "role", "name", "daemon", "parent")


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
    if target is None:  # a Process or Thread subclass that overrides run()
        return type(obj).__name__
    name = getattr(target, "__name__", None) or type(target).__name__
    if getattr(target, "__module__", "").startswith("multiprocessing"):
        return INTERNAL_TARGETS.get(name, name)
    return name


def _install_registry(registry: list[dict], handles: list, path: str) -> None:
    """Record every process (and non-library thread) the student's code starts.

    The harness reads the file while the driver may be stuck, to name processes by role
    ("consumer-2") in its reports.
    """
    base_start = multiprocessing.process.BaseProcess.start
    thread_start = threading.Thread.start

    def record(entry: dict) -> None:
        registry.append(entry)
        with open(path, "a", encoding="utf-8") as log:
            log.write(registry_line(entry))

    def start_process(self):
        role = _role_of(getattr(self, "_target", None), self)  # start() deletes _target
        alive = [e["role"] for e, p in handles if p._parent_pid == os.getpid() and not _has_ended(p)]
        base_start(self)
        entry = {"kind": "process", "pid": self.pid, "role": role, "name": self.name,
                 "daemon": bool(self.daemon), "parent": os.getpid(), "alive_at_start": alive}
        handles.append((entry, self))
        record(entry)

    def start_thread(self):
        thread_start(self)
        target = getattr(self, "_target", None)
        # A threading.Timer keeps its callable in .function: pika resolves host names in one.
        runs = target or getattr(self, "function", None)
        module = getattr(runs, "__module__", "") or ""
        if not module.startswith(LIBRARY_THREADS):
            record({"kind": "thread", "pid": os.getpid(), "role": _role_of(target, self),
                    "name": self.name, "daemon": bool(self.daemon), "parent": os.getpid()})

    multiprocessing.process.BaseProcess.start = start_process
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


def _send(channel: int, payload: dict) -> None:
    try:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # the scenario returned something unpicklable: say so, don't die
        data = pickle.dumps({"status": "raised", "error": {
            "type": "PicklingError", "message": f"the result could not be sent back: {exc}",
            "traceback": "", "line": None, "source": None}})
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


def run(request: dict, channel: int) -> None:
    started = time.monotonic()
    registry: list[dict] = []
    handles: list = []
    arm_stack_dump()
    multiprocessing.util.register_after_fork(arm_stack_dump, lambda _: arm_stack_dump())
    multiprocessing.set_start_method(request["start_method"], force=True)
    _install_registry(registry, handles, request["registry"])
    module_dir = os.path.dirname(request["module_file"])
    sys.path.insert(0, module_dir)
    # Started with -S (see the harness): third-party packages stay importable, after the stdlib.
    sys.path.extend(p for p in request.get("site_paths", []) if p not in sys.path)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=FORK_WARNING, category=DeprecationWarning)
        result = _run_scenario(request, registry, handles, started)
    if any(w.category is DeprecationWarning and "fork()" in str(w.message) for w in caught):
        notes.append("fork-with-threads")
    result["notes"] = notes
    result["registry"] = registry
    result["elapsed"] = time.monotonic() - started
    _send(channel, result)


def _run_scenario(request: dict, registry: list[dict], handles: list, started: float) -> dict:
    module_file = os.path.abspath(request["module_file"])
    if not os.path.isfile(module_file):
        return {"status": "missing_file", "error": {"message": module_file}}
    package, _, name = request["scenario"].partition(":")
    scenarios = importlib.import_module(package)
    if hasattr(scenarios, "prepare"):  # e.g. ex07: guard pika connections against crossing a fork
        scenarios.prepare()
    # Before the import: `from time import sleep` takes the counted one. The environment carries
    # the two paths to spawn and forkserver children.
    os.environ[SLEEP_LOG_ENV], os.environ[STUDENT_FILE_ENV] = request["registry"], module_file
    count_sleeps(request["registry"], module_file)
    try:
        module = importlib.import_module(request["module"])
    except BaseException as exc:  # SyntaxError, ImportError, sys.exit() at import, ...
        return {"status": "import_error", "error": _describe_exception(exc, module_file)}
    if os.path.abspath(getattr(module, "__file__", "") or "") != module_file:
        return {"status": "import_error", "error": {
            "type": "ImportError", "traceback": "", "line": None, "source": None,
            "message": f"'{request['module']}' was imported from {module.__file__}, not {module_file}"}}
    at_import = [entry for entry in registry if entry["kind"] == "process"]
    if at_import:
        return {"status": "started_at_import", "error": {"message": ", ".join(
            f"{entry['role']} (pid {entry['pid']})" for entry in at_import)}}

    # Mark the end of the import, so that a crash can be told apart from a crash while importing.
    with open(request["registry"], "a", encoding="utf-8") as log:
        log.write(registry_line({"kind": "phase", "pid": os.getpid(), "role": "imported", "name": "-",
                                 "daemon": False, "parent": os.getpid()}))
    scenario = getattr(scenarios, name)
    ctx = Context(module, module_file, started + request["deadline"], registry, handles, request["registry"])
    try:
        value = scenario(ctx, **request["params"])
    except MissingFunction as exc:
        return {"status": "missing_function", "error": {"message": str(exc)}}
    except BaseException as exc:  # the student's code raised (or called sys.exit): report it
        return {"status": "raised", "error": _describe_exception(exc, module_file)}
    return {"status": "returned", "value": value}


def main(argv: list[str]) -> None:
    with open(argv[1], "rb") as handle:
        request = pickle.load(handle)
    # Keep the real stdout for the answer; the student's prints go to the log the harness gave us.
    channel = os.dup(1)
    log = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.close(log)
    _limit_resources(request.get("limits", {}))
    try:
        run(request, channel)
    except BaseException as exc:  # a fault of the kit's own, reported rather than hidden
        import traceback

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
    count_sleeps()
