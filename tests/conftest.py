"""Shared fixtures of the kit's own tests: no test may leave a process of a check behind.

The suite runs on WORKERS pytest-xdist workers at once unless ``-n`` says otherwise (``-n 0``: in
this process). This file asks for them, rather than ``addopts``, because pyproject.toml's options
also reach a student's ``pytest exercises/ --impl DIR`` run from the kit's folder, where xdist is not
installed. It also makes the parallel run safe and quick:

- each worker marks the processes it starts with a value of its own, so that a worker never takes
  another worker's running checks for processes left behind;
- a test module with a fixture of wider scope than a function (a graded batch, a private broker, an
  nbgrader course) is handed to one worker as a whole, which builds the fixture once; every other
  test is handed out on its own (``SharedFixtureScheduling``);
- the costliest work is handed out first, so that no worker starts a long module last while the
  others sit idle.

pytest-xdist's own ``--dist loadgroup`` would do the grouping, but on pytest 9.2 it silently stops
grouping (pytest-xdist issue 1386), which builds every shared fixture once per worker.
"""

from __future__ import annotations

import importlib
import os
import uuid
from pathlib import Path

import psutil
import pytest

from grader.checking import payloads, settings, summary
from grader.checking.driver import DUMP_DIR_ENV

# Many tests run pytest sessions inside this process (pytester: every golden case, the run-ahead and
# summary tests), and each such session forgets the modules it imported when it ends. Imported here,
# once per worker, the kit's modules, rich and Faker's locales stay for all of them, as a student's run
# imports them once for all its checks; imported again by each session, they cost 0.3 CPU-seconds
# each time, a fifth of the golden cases' CPU.
importlib.import_module("grader.checking.kit")
payloads.items(0, 1)
summary.render([], 80, False)

# The suite reads the kit's English words: a developer's Chinese locale must not change them (a test
# of another language asks for it with --lang).
os.environ[settings.LANG_ENV] = "en"

# Every process this test session starts inherits this mark, so that checks run by anything else
# on the machine at the same time (another worker of this run included) are not mistaken for ours.
SESSION_MARK = "BAOZI_TEST_SESSION"
_RUN = os.environ.get(SESSION_MARK) or uuid.uuid4().hex
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
os.environ[SESSION_MARK] = f"{_RUN}-{_WORKER}" if _WORKER else _RUN

# Most of the suite waits on processes (deadlock watches, delays, a broker), so more workers than
# cores pay (README: "The suite's budget").
WORKERS = 4
# Four workers already keep both cores busy: a check run ahead in a child or nested pytest session
# (the golden cases, the kit's suites) runs beside one other, not three, so that the long shared
# modules are not starved. The golden cases are still judged with checks run ahead, on a busy machine.
os.environ.setdefault("BAOZI_CHECKS_AT_ONCE", "2")
# The test modules with fixtures of wider scope than a function, and how many seconds each one's
# tests take together on two quiet cores (`pytest -n 0 --durations=0`): each goes to one worker, the
# costliest first. A module that gains such a fixture must be listed (collection says so).
SHARED_MODULES = {"test_grading": 160, "test_distributed": 150, "test_nbgrader": 75, "test_gradescope": 30}
SHARED_AT_ONCE = 2  # see SharedFixtureScheduling
# A test marked slow that shares nothing comes next, in the order collected. Those that run a whole
# suite in a child process (test_kit, test_release) are not moved ahead: started beside the shared
# modules' batches, their checks' budgets grow with the load and they took 3 to 6 times as long.
SLOW_SECONDS = 10


def check_processes() -> list[str]:
    """Processes of this session's checks still alive: those that carry the dump-folder variable, and
    the drivers a fork server made (grader.checking.zygote) and their children, which show the server's
    command line and environment. A server itself lives as long as the process that started it."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            identity = (proc.pid, proc.create_time())
            if identity in _OUTSIDE:
                continue
            env = proc.environ()
            if env.get(SESSION_MARK) != os.environ[SESSION_MARK]:
                _OUTSIDE.add(identity)
                continue
            command = " ".join(proc.cmdline())
            if proc.status() != psutil.STATUS_ZOMBIE and (
                    DUMP_DIR_ENV in env or ZYGOTE in command and not _is_fork_server(proc)):
                found.append(f"pid {proc.pid}: {command[:120]}")
        except psutil.Error:
            continue
    return found


# Processes seen without this session's mark, by pid and start time. A process gets its environment
# from its parent, and only a process of this session hands the mark down: one seen without it never
# belongs to the session. Reading every process's environment before and after each test cost the
# suite tens of CPU-seconds; now only the processes started since the last look are read.
_OUTSIDE: set[tuple[int, float]] = set()


ZYGOTE = "grader.checking.zygote"


def _is_fork_server(proc: psutil.Process) -> bool:
    """A server, not one of its forks: its parent (alive, not init) is not a server's fork."""
    try:
        parent = proc.parent()
        return parent is not None and parent.pid != 1 and ZYGOTE not in " ".join(parent.cmdline())
    except psutil.Error:
        return False


@pytest.fixture(autouse=True)
def no_process_left():
    before = set(check_processes())
    yield
    left = [p for p in check_processes() if p not in before]
    assert not left, "processes outlived their test:\n" + "\n".join(left)


def _module(nodeid: str) -> str:
    return Path(nodeid.split("::", 1)[0]).stem


def _shared_module(item: pytest.Item) -> str | None:
    """The test module whose fixtures of wider scope than a function the test uses, or None."""
    info = getattr(item, "_fixtureinfo", None)
    for definitions in (info.name2fixturedefs.values() if info else ()):
        for definition in definitions:
            if definition.scope != "function" and definition.baseid.endswith(".py"):
                return _module(definition.baseid)
    return None


def _seconds(item: pytest.Item) -> float:
    """How early the test is handed out."""
    return SHARED_MODULES.get(_module(item.nodeid)) or (SLOW_SECONDS if item.get_closest_marker("slow") else 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unlisted = {_shared_module(item) for item in items} - set(SHARED_MODULES) - {None}
    if unlisted:
        raise pytest.UsageError(f"tests/conftest.py: add {sorted(unlisted)} to SHARED_MODULES: their fixtures "
                                "are shared by several tests, which must run in one worker")
    # Every worker collects, in this order; the controller hands the work out in it.
    items.sort(key=_seconds, reverse=True)  # stable: each module keeps its own order


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which turns -n into its workers
def pytest_cmdline_main(config: pytest.Config) -> None:
    options = config.option
    if getattr(options, "numprocesses", 0) is None and "PYTEST_XDIST_WORKER" not in os.environ and not (
            options.collectonly or options.usepdb):
        options.numprocesses = WORKERS


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without xdist (-p no:xdist) it is simply unused
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for explicitly: xdist's own
    config.option.loadscopereorder = False  # hand the units out in the order collected
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        """A module of SHARED_MODULES is one unit of work; any other test is a unit of its own.

        At most SHARED_AT_ONCE shared modules run at a time: each grades whole classes on every
        core, and more of them at once would only starve each other and the checks beside them.
        """

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if _module(nodeid) in SHARED_MODULES else nodeid

        def _assign_work_unit(self, node) -> None:
            running = sum(1 for units in self.assigned_work.values() for scope, tests in units.items()
                          if _module(scope) in SHARED_MODULES and not all(tests.values()))
            if running >= SHARED_AT_ONCE:
                single = next((scope for scope in self.workqueue if _module(scope) not in SHARED_MODULES), None)
                if single is not None:
                    self.workqueue.move_to_end(single, last=False)
            super()._assign_work_unit(node)

    return SharedFixtureScheduling(config, log)
