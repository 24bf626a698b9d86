"""The private names of CPython, pika and pytest that the kit relies on (grader.checking.compat)
still mean what it takes them to mean on this Python, and no other module of the kit uses one."""

from __future__ import annotations

import ast
import multiprocessing
import multiprocessing.managers
import multiprocessing.pool
import multiprocessing.queues
import multiprocessing.util
import os
import pickle
import queue
import sys
import types
from pathlib import Path
from unittest import mock

import pytest

from grader.checking import compat

GRADER = Path(__file__).resolve().parents[1] / "grader"
WAIT = 30.0


def _frame(function) -> types.SimpleNamespace:
    """A stack entry as the diagnosis reads it (diagnose.Frame: file, func) for `function`."""
    code = function.__code__
    return types.SimpleNamespace(file=code.co_filename, func=code.co_name)


def _nothing() -> None:
    pass


def test_the_frames_of_the_interpreter():
    here = sys._getframe()
    assert compat.thread_frames()[__import__("threading").get_ident()] is here

    def inner():
        return compat.caller_frame(1)

    assert inner() is here


def test_a_process_before_and_after_it_runs():
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_nothing)
    assert compat.target_of(proc) is _nothing
    assert compat.started_here(proc)
    assert not compat.was_started(proc) and compat.reaped_code(proc) is None
    proc.start()
    try:
        assert compat.was_started(proc)
        assert compat.target_of(proc) is None  # start() lets go of it
        assert compat.sentinel_of(proc) == proc.sentinel
        assert proc in compat.unreaped_children()
    finally:
        proc.join(WAIT)
    assert compat.reaped_code(proc) == 0 and compat.poll_code(proc) == 0
    multiprocessing.active_children()
    assert proc not in compat.unreaped_children()


def test_the_hooks_multiprocessing_runs():
    assert callable(multiprocessing.context.SpawnProcess._after_fork)
    assert compat.register_after_fork is multiprocessing.util.register_after_fork
    assert callable(multiprocessing.util._exit_function)
    if os.name == "posix":
        from multiprocessing import popen_fork

        assert callable(popen_fork.Popen._send_signal)


def test_the_targets_multiprocessing_runs_itself_have_the_names_the_kit_knows():
    assert multiprocessing.managers.BaseManager._run_server.__name__ in compat.INTERNAL_TARGETS
    assert multiprocessing.pool.worker.__name__ in compat.INTERNAL_TARGETS


def test_a_queue_read_from_its_pipe():
    q = multiprocessing.Queue()
    try:
        reader, writer = compat.queue_pipe_ends(q)
        assert compat.is_connection(reader) and compat.is_connection(writer)
        assert not compat.queue_has_feeder(q) and not compat.queue_has_data(q)
        with pytest.raises(queue.Empty):
            compat.receive_bytes(q, 0.0, 1024)
        q.put({"item": 1})
        assert compat.queue_has_feeder(q)
        assert q._thread.name.startswith(compat.FEEDER_THREAD_PREFIX)
        assert compat.queue_has_data(q, WAIT)
        assert pickle.loads(compat.receive_bytes(q, WAIT, 1024)) == {"item": 1}
        q.put("x" * 4096)
        assert compat.queue_has_data(q, WAIT)
        with pytest.raises(OSError):
            compat.receive_bytes(q, WAIT, 1024)
    finally:
        q.close()
        q.join_thread()


def test_the_frames_of_multiprocessing_as_the_diagnosis_names_them():
    assert compat.in_queue_feeder([_frame(multiprocessing.queues.Queue._feed)])
    assert compat.in_exit_handler([_frame(multiprocessing.util._exit_function)])
    assert compat.flushing_a_queue([_frame(multiprocessing.queues.Queue._finalize_join)])
    assert compat.flushing_a_queue([_frame(multiprocessing.queues.Queue.join_thread)])
    assert compat.joining_a_child([_frame(multiprocessing.process.BaseProcess.join)])
    assert not compat.in_queue_feeder([_frame(_nothing)])


def test_a_managers_queue_proxy():
    with multiprocessing.get_context("spawn").Manager() as manager:
        proxy = manager.Queue()
        assert compat.proxy_typeid(proxy) == "Queue"
        assert compat.proxy_call(multiprocessing.managers) is multiprocessing.managers.BaseProxy._callmethod


def test_a_pika_channel_knows_its_connection():
    from pika.adapters.blocking_connection import BlockingChannel

    connection = object()
    channel = BlockingChannel(mock.MagicMock(), connection)
    assert compat.channel_connection(channel) is connection


def test_the_scopes_of_a_tests_fixtures(request, tmp_path_factory, tmp_path):
    scopes = compat.fixture_scopes(request.node)
    assert scopes["tmp_path_factory"] == "session" and scopes["tmp_path"] == "function"


def _names_defined(tree) -> set[str]:
    """The names a module of the kit defines: its top-level names and variables, its classes'
    methods and the attributes they set on `self`, and the names it imports from the kit."""
    names = _top_level_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            names.update(item.name for item in node.body
                         if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("grader")):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _top_level_names(tree) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


# os._exit is documented, whatever its name says; the kit marks the library objects it watches with
# attributes of its own, all named _baozi...
PUBLIC = {"_exit"}
OWN_PREFIX = "_baozi"


def _private(name: str) -> bool:
    return (name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
            and name not in PUBLIC and not name.startswith(OWN_PREFIX))


def _private_names_used(tree) -> list[tuple[int, str]]:
    """(line, name) of every private name the module takes from outside: `x._name`,
    getattr(x, "_name") or `from library import _name`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not (node.level or (node.module or "").startswith("grader")):
            found.extend((node.lineno, alias.name) for alias in node.names if _private(alias.name))
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append((node.lineno, node.attr))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _private(node.args[1].value)):
            found.append((node.lineno, node.args[1].value))
    return found


def test_only_the_compat_module_uses_a_private_name_of_a_library():
    """A private name a module of the kit reads is its own, another kit module's (at its top level),
    or it is read in compat."""
    modules = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(GRADER.rglob("*.py"))}
    kit_wide = set().union(*(_top_level_names(tree) for path, tree in modules.items() if path.name != "compat.py"))
    strays = [f"{path.relative_to(GRADER.parent)}:{line} {name}"
              for path, tree in modules.items() if path.name != "compat.py"
              for line, name in sorted(_private_names_used(tree))
              if name not in kit_wide | _names_defined(tree)]
    assert not strays, "private names of a library used outside grader/checking/compat.py:\n" + "\n".join(strays)


def test_the_compat_check_finds_a_private_name_used_elsewhere():
    tree = ast.parse("import sys\nframes = sys._current_frames()\nq = getattr(x, '_reader', None)\n"
                     "from multiprocessing.util import _exit_function\nself._mine = cls._ours\n")
    assert sorted(_private_names_used(tree)) == [(2, "_current_frames"), (3, "_reader"), (4, "_exit_function")]
