"""multiprocessing's own processes, the resource tracker and the fork server, started as forks of a
process of the kit instead of as new interpreters (Linux).

Under spawn and forkserver, multiprocessing starts each of them as a new interpreter
(``multiprocessing.util.spawnv_passfds``) that imports what it needs: 30 to 45 ms of CPU each, in
every check that runs under those methods. A fork of the kit's process costs a few milliseconds,
and runs the very program the new interpreter would have run (the ``-c`` text multiprocessing
wrote), with only the files multiprocessing passes it.

A fork carries its parent's state, so ``prestart`` forks them only before the student's code has
run in that process, while it has a single thread: the fork server's children then hold nothing of
the student's module, and import it as they would from a new interpreter. Any later start, in any
process, is multiprocessing's own. Each one forked is written in the check's registry (kind
HELPER_KIND), since its command line is its parent's: ``grader.checking.diagnose.Roles`` knows it as
infrastructure by that entry.
"""

from __future__ import annotations

import faulthandler
import functools
import gc
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import multiprocessing.util
import os
import signal
import sys
import threading
import traceback
from typing import Callable

from grader.checking import compat
from grader.checking.driver import HELPER_KIND

# The program multiprocessing gives each new interpreter (after -c), by the module it imports.
PROGRAMS = {"from multiprocessing.resource_tracker import": "resource_tracker",
            "from multiprocessing.forkserver import": "forkserver"}

_spawnv_passfds = multiprocessing.util.spawnv_passfds


def prestart(start_method: str, record: Callable[[dict], None], fork_server: bool = True) -> None:
    """Start, as forks of this process, the helpers that its processes would otherwise start as new
    interpreters: under spawn and forkserver the resource tracker, and under forkserver the fork
    server too, unless `fork_server` is false (a fork server serves only the process that started
    it). Call it before the student's code runs here. `record(entry)` writes each helper in the
    check's registry.

    A process that already has a living tracker (a fork child inherits its parent's) starts
    none. One whose parent had started a fork server starts neither: multiprocessing cannot ask
    whether its parent's server still runs (it is not this process's child), so ensure_running()
    would raise here, as it does when such a process starts a process itself. Elsewhere than
    Linux, under fork, or with a second thread, it does nothing: multiprocessing starts them
    itself when they are first needed."""
    if start_method == "fork" or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return
    if start_method == "forkserver" and fork_server and compat.has_fork_server():
        return
    multiprocessing.util.spawnv_passfds = functools.partial(_fork_passfds, record)
    try:
        if start_method == "forkserver" and fork_server:
            multiprocessing.forkserver.ensure_running()
        else:
            multiprocessing.resource_tracker.ensure_running()
    finally:
        multiprocessing.util.spawnv_passfds = _spawnv_passfds


def _fork_passfds(record: Callable[[dict], None], path: str, args: list[str], passfds) -> int:
    """multiprocessing.util.spawnv_passfds while prestart() runs: a helper's program runs in a fork
    of this process, written in the registry with `record`."""
    program = args[args.index("-c") + 1] if "-c" in args else ""
    role = next((name for start, name in PROGRAMS.items() if program.startswith(start)), None)
    if role is None:
        return _spawnv_passfds(path, args, passfds)
    pid = os.fork()
    if pid == 0:
        _run_helper(program, passfds)
    record({"kind": HELPER_KIND, "pid": pid, "role": role, "name": role, "daemon": True,
            "parent": os.getpid()})
    return pid


def _run_helper(program: str, passfds) -> None:
    """In the fork: keep only the files a new interpreter would have, run the program, and end."""
    status = 1
    try:
        # Nothing of the parent's is ever collected here: a finalizer that closed one of its files
        # would close whatever this process opened under that number since.
        gc.freeze()
        faulthandler.disable()  # the parent's crash file is its own
        if hasattr(signal, "SIGUSR1"):
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)  # no stack dump: the harness asks none
        _close_all_but({0, 1, 2, *passfds})
        exec(compile(program, "<string>", "exec"), {"__name__": "__main__"})
        status = 0
    except SystemExit as stop:
        status = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        os._exit(status)


def _close_all_but(keep: set[int]) -> None:
    for fd in map(int, os.listdir("/proc/self/fd")):  # Linux; the listing's own file is closed by now
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
