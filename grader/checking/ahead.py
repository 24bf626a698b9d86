"""Running the checks of a pytest session ahead of their turn, a few at once.

A check mostly waits: for its processes to start, for the deadlock watch to be sure of a hang, for
a slow consumer's items. Run one after the other, an exercise costs the sum of those waits (an ex04
that hangs in each of its 18 runs took 19 s). So when pytest reaches the first check, the plugin
starts every check of the session that can run on its own (it takes only the kit, and no fixture
but session-wide ones; no skip mark) in a pool of ``settings.checks_at_once()`` threads, in the
session's order. Each thread calls the test function with a Kit of its own, as the grader's runner
does. Pytest still runs the tests one by one, in its order: a test whose check ran ahead waits for
it and takes its result (the exception it raised, re-raised as it was) and the warnings it held.
The reports, their order, junit, ``-x``, ``-k`` and ``--lf`` stay pytest's own.

A check run ahead is the same check: its own processes and queues (and broker queues), its budget
counted from its own start; the harness judges by calls and process states, never by the CPU a
process got, and the budgets grow with the machine's load (``harness.load_factor``), so running
beside other checks cannot turn a pass into a hang. ``--serial`` runs nothing ahead;
``tests/test_ahead.py`` proves both ways give the same outcomes and reports.

Nothing runs ahead under pytest-xdist: a worker runs only its share of the session's items.
"""

from __future__ import annotations

import dataclasses
import inspect
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from grader.checking import compat

if TYPE_CHECKING:
    from grader.checking.kit import Kit

ARGUMENTS = {"kit", "start_method"}  # what a check that can run away from pytest takes
ALONE = ARGUMENTS | {"request"}  # the fixtures that gives it (the kit's fixture takes the request)


@dataclasses.dataclass
class Ran:
    """What a check run ahead did: the exception it raised (None if it returned) and its warnings."""

    error: BaseException | None
    warnings: list[Warning]


def can_run_alone(item) -> bool:
    """A kit check whose test function takes nothing but its kit, with no skip mark and no other
    fixture but session-wide ones (a plugin's autouse fixture, set up before the first test)."""
    names = set(getattr(item, "fixturenames", ()))
    scopes = compat.fixture_scopes(item)
    function = getattr(item, "obj", None)
    return ("kit" in names and all(scopes.get(name) == "session" for name in names - ALONE) and callable(function)
            and set(inspect.signature(function).parameters) <= ARGUMENTS
            and item.get_closest_marker("skip") is None and item.get_closest_marker("skipif") is None)


class RunAhead:
    """The pool of checks run ahead for one session (see the module's docstring)."""

    def __init__(self, items, make_kit: Callable[[object], Kit], workers: int):
        self._items = [item for item in items if can_run_alone(item)]
        self._make_kit = make_kit
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future] = {}

    def take(self, item) -> Ran | None:
        """The result of `item`'s check, run ahead (waiting for it if it still runs); None if it did
        not run ahead (the caller runs it)."""
        if self._pool is None and self._items:
            self._start()
        future = self._futures.pop(item.nodeid, None)
        return future.result() if future is not None else None

    def close(self) -> None:
        """Drop the checks not started (the session ended early: -x, Ctrl-C) and wait for the running
        ones: each ends within its budget, and ends every process it started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._futures.clear()

    def _start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="baozi-check")
        for item in self._items:
            self._futures[item.nodeid] = self._pool.submit(self._run, item)

    def _run(self, item) -> Ran | None:
        try:
            kit = self._make_kit(item)
        except BaseException:  # the kit fixture fails the same way in the test's own setup
            return None
        kit.held_warnings = []
        wanted = inspect.signature(item.obj).parameters
        arguments = {name: value for name, value in (("kit", kit), ("start_method", kit.start_method))
                     if name in wanted}  # can_run_alone: nothing else
        try:
            item.obj(**arguments)
        except BaseException as exc:  # pytest's fail, skip and xfail too: the test re-raises it
            return Ran(exc, kit.held_warnings)
        return Ran(None, kit.held_warnings)
