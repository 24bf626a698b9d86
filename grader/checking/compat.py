"""What the kit relies on in CPython, pika and pytest beyond their documented APIs, in one place.

The kit watches the student's processes from the inside: it wraps the methods of queues and
processes, reads a queue's pipe without unpickling, tells multiprocessing's own threads and frames
from the student's, stamps pika's channels and reads the scopes of a test's fixtures. None of that
has a public API, so every private name the kit uses is read or written here, each with what it
relies on. They hold on CPython 3.10 to 3.13 and on the library versions ``pyproject.toml``
allows: ``.ci/run`` runs ``grader check`` on each of those Pythons, and ``tests/test_compat.py``
checks every name below on the Python it runs on (a release that moves one fails there, by name)
and that no other module of the kit touches a private name of these libraries.

Only the standard library is imported here: this module loads in every child of a check, where
pika is imported only when asked for.
"""

from __future__ import annotations

import multiprocessing.connection
import multiprocessing.context
import multiprocessing.process
import multiprocessing.queues
import multiprocessing.util
import os
import queue
import sys
import threading
import time
from collections.abc import Callable

# -- the interpreter ---------------------------------------------------------------------------

# sys._current_frames: every thread's innermost frame (CPython and PyPy).
thread_frames = sys._current_frames


def caller_frame(depth: int):
    """The frame `depth` levels above the caller of this function (sys._getframe); ValueError if
    there is none (called from C)."""
    return sys._getframe(depth + 1)


def wrap_thread_bootstrap(wrap: Callable[[Callable], Callable]) -> None:
    """Replace what every new thread runs first, in the thread itself (threading.Thread._bootstrap,
    which calls run()), by ``wrap(original)``; once (an already wrapped one is marked _baozi)."""
    if not getattr(threading.Thread._bootstrap, "_baozi", False):
        wrapped = wrap(threading.Thread._bootstrap)
        wrapped._baozi = True
        threading.Thread._bootstrap = wrapped


# -- multiprocessing.process: a Process and the children of this process -------------------------

LIBRARY_DIR = os.path.dirname(multiprocessing.__file__) + os.sep  # frames of multiprocessing itself

# Targets multiprocessing itself runs in a process, by the role the reports give them: a Manager's
# server (managers.BaseManager._run_server) and a Pool's worker (pool.worker).
INTERNAL_TARGETS = {"_run_server": "manager", "worker": "pool-worker"}


def _popen(proc):
    """BaseProcess._popen: None until start(), then the Popen of the child (returncode, poll())."""
    return getattr(proc, "_popen", None)


def was_started(proc) -> bool:
    return _popen(proc) is not None


def reaped_code(proc) -> int | None:
    """The child's exit code if this process has already collected it (join, is_alive, poll), else
    None: without waiting and without reaping."""
    popen = _popen(proc)
    return None if popen is None else popen.returncode


def poll_code(proc) -> int | None:
    """The child's exit code if it has ended, reaping it; None while it runs or before start()."""
    popen = _popen(proc)
    return None if popen is None else popen.poll()


def started_here(proc) -> bool:
    """Whether this process started `proc` (BaseProcess._parent_pid is set at construction, to the
    pid of the process that made the object; a forked copy keeps it)."""
    return getattr(proc, "_parent_pid", None) == os.getpid()


def target_of(proc):
    """The callable a Process was made with (BaseProcess._target); start() deletes it, so ask before."""
    return getattr(proc, "_target", None)


def sentinel_of(proc):
    """The fd that becomes ready when the child ends (BaseProcess._sentinel; the public `sentinel`
    raises before start())."""
    return getattr(proc, "_sentinel", None)


def unreaped_children() -> list:
    """The processes this process started and has not reaped yet (multiprocessing.process._children,
    which active_children() prunes)."""
    return list(multiprocessing.process._children)


def has_fork_server() -> bool:
    """Whether this process has started a fork server, or inherited its parent's
    (multiprocessing.forkserver._forkserver's pid, which a fork child keeps)."""
    import multiprocessing.forkserver  # here: spawn children import this module, and need it not

    return multiprocessing.forkserver._forkserver._forkserver_pid is not None


def run_in_spawn_children(hook: Callable) -> None:
    """Call `hook(process)` in a spawn child as it starts, before the target, as fork children call
    their after-fork hooks: SpawnProcess._after_fork is a no-op that _bootstrap calls there."""
    multiprocessing.context.SpawnProcess._after_fork = staticmethod(hook)


def wrap_signal_sending(wrap: Callable[[Callable], Callable]) -> None:
    """Replace how terminate() and kill() signal a child (popen_fork.Popen._send_signal, which the
    fork, forkserver and spawn Popens share on POSIX) by ``wrap(original)``; nothing on Windows."""
    try:
        from multiprocessing import popen_fork
    except ImportError:
        return
    popen_fork.Popen._send_signal = wrap(popen_fork.Popen._send_signal)


# multiprocessing.util's registry of hooks: undocumented but public names, unchanged since 3.4.
register_after_fork = multiprocessing.util.register_after_fork
Finalize = multiprocessing.util.Finalize


def run_exit_handlers() -> None:
    """What the interpreter does with multiprocessing at exit (util._exit_function): terminate the
    daemon children, then join the others, for as long as they take."""
    multiprocessing.util._exit_function()


# -- multiprocessing.queues: the pipe under a Queue ---------------------------------------------------

FEEDER_THREAD_PREFIX = "QueueFeederThread"  # the name Queue._start_thread gives its feeder


def is_connection(obj) -> bool:
    return isinstance(obj, multiprocessing.connection._ConnectionBase)


def queue_pipe_ends(q):
    """(reader, writer) of a Queue's pipe (Queue._reader, Queue._writer): connection.Connection
    objects, or None for a queue of another kind."""
    return getattr(q, "_reader", None), getattr(q, "_writer", None)


def queue_has_feeder(q) -> bool:
    """Whether this process has put on `q`: its feeder thread (Queue._thread) exists from the first
    put on."""
    return getattr(q, "_thread", None) is not None


def queue_has_data(q, timeout: float = 0.0) -> bool:
    """Whether a get() on `q` would find bytes in the pipe within `timeout` (Queue._poll)."""
    return q._poll(timeout)


def receive_bytes(q, timeout: float | None, max_bytes: int) -> bytes:
    """The next item's pickled bytes from a Queue, as get() takes them but without unpickling: the
    read lock (Queue._rlock), the bytes (Queue._reader.recv_bytes), then the slot it frees
    (Queue._sem). queue.Empty on timeout or at the pipe's end; OSError for an item longer than
    `max_bytes` (its slot is not freed: the pipe is unusable after it anyway)."""
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    if not q._rlock.acquire(True, timeout):
        raise queue.Empty
    try:
        try:
            if deadline is not None and not q._poll(max(0.0, deadline - time.monotonic())):
                raise queue.Empty
            data = q._reader.recv_bytes(max_bytes)
        except (EOFError, BrokenPipeError):
            raise queue.Empty from None
        q._sem.release()
    finally:
        q._rlock.release()
    return data


def no_task_unfinished(q) -> bool:
    """Whether a JoinableQueue has no unfinished task now: its counter (JoinableQueue._unfinished_tasks,
    a Semaphore) is zero, read without taking it (SemLock._is_zero)."""
    return q._unfinished_tasks._semlock._is_zero()


def unfinished_counter(q):
    """The shared counter of a JoinableQueue's unfinished tasks, to hand to another queue or process:
    ``no_task_unfinished`` reads it in any process that has it."""
    return q._unfinished_tasks


def counter_is_zero(counter) -> bool:
    return counter._semlock._is_zero()


def all_done_condition(q):
    """The Condition a JoinableQueue's task_done() notifies when the last task is done
    (JoinableQueue._cond), which join() waits on."""
    return q._cond


# -- multiprocessing.managers: a Manager's proxies ----------------------------------------------

PROXY_CALL = "_callmethod"  # BaseProxy._callmethod(methodname, args, kwds): every proxied call


def proxy_call(managers) -> Callable:
    return getattr(managers.BaseProxy, PROXY_CALL)


def set_proxy_call(managers, call: Callable) -> None:
    setattr(managers.BaseProxy, PROXY_CALL, call)


def proxy_typeid(proxy) -> str | None:
    """The typeid a proxy was registered under ("Queue", "JoinableQueue", ...): BaseProxy._token."""
    return getattr(getattr(proxy, "_token", None), "typeid", None)


# -- stacks: frames of multiprocessing's own code, as the diagnosis reads them ------------------------


def _is(frame, func: str, file: str | None = None) -> bool:
    return frame.func == func and (file is None or os.path.basename(frame.file) == file)


def in_queue_feeder(frames) -> bool:
    """The thread is a queue's feeder (queues.Queue._feed)."""
    return any(_is(f, "_feed", "queues.py") for f in frames)


def in_exit_handler(frames) -> bool:
    """The thread runs multiprocessing's exit handler (util._exit_function): the program, or a
    child, is ending."""
    return any(_is(f, "_exit_function") for f in frames)


def flushing_a_queue(frames) -> bool:
    """The thread waits for a queue's feeder to flush (Queue.join_thread, util's _finalize_join)."""
    return any(_is(f, "_finalize_join") or _is(f, "join_thread") for f in frames)


def joining_a_child(frames) -> bool:
    """The thread waits in Process.join (process.py)."""
    return any(_is(f, "join", "process.py") for f in frames)


# -- pika ----------------------------------------------------------------------------------------


def channel_connection(channel):
    """The BlockingConnection a BlockingChannel belongs to (BlockingChannel._connection)."""
    return channel._connection


# -- pytest --------------------------------------------------------------------------------------

def fixture_scopes(item) -> dict[str, str]:
    """The scope ("function", "module", "session", ...) of each fixture a test item uses, as its
    collection resolved them (Item._fixtureinfo.name2fixturedefs: for each name its FixtureDefs,
    the last one the one the test gets). A fixture missing here counts as function-scoped."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", None) or {}
    return {name: str(getattr(defs[-1], "scope", "function")) for name, defs in definitions.items() if defs}
