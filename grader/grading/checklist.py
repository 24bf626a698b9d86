"""Every check the grader runs: the visible tests of each exercise plus its hidden checks, and the
plan that says under which start methods each one runs.

A visible test is a function ``test_*(kit)`` in ``exercises/<exercise>/test_<module>.py``, with its
points in the exercise's ``exercise.toml``; a hidden check is a function ``check_*(kit)`` in
``grader/grading/hidden/<exercise>.py``, with its points on it (``@points(N)``). The grader calls
these functions itself, without pytest's collection, so it can run many of them at once.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import multiprocessing
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from grader.checking.exercise import Exercise, MetadataError

if TYPE_CHECKING:
    from grader.checking.harness import Isolation
    from grader.checking.results import CheckResult


@dataclasses.dataclass(frozen=True)
class Check:
    exercise: Exercise
    name: str  # function name: test_* (visible) or check_* (hidden)
    func: Callable
    points: int
    hidden: bool
    turn: int = 0  # a hidden check's place among its exercise's hidden checks (Plan.methods)

    @property
    def title(self) -> str:
        words = self.name.split("_", 1)[1].replace("_", " ")
        return f"{self.exercise.name}: {words}{' (hidden)' if self.hidden else ''}"

    @property
    def key(self) -> str:
        return f"{self.exercise.name}::{self.name}"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Under which start methods each check runs, together covering every available one.

    Visible checks run under `visible`, the platform's default method (the student ran them under
    it, and under spawn too). The hidden checks run under `hidden`, the other methods, from the
    cheapest to the dearest (BY_COST): in each exercise, its first hidden checks take the dearer
    methods, one each, and the rest run under the cheapest. Spawn and forkserver both send the
    target to a fresh process by name, so either one catches the code that only works under fork
    (a lambda target, a queue collected too early), and every exercise, with at least as many
    hidden checks as there are other methods, is still run under each of them. A check under one
    method costs its interpreters once, not once per method; the hidden modules put first the
    check that starts the fewest processes.
    """

    visible: tuple[str, ...]
    hidden: tuple[str, ...]

    def methods(self, check: Check) -> tuple[str, ...]:
        if not check.hidden:
            return self.visible
        cheapest, dearer = self.hidden[0], self.hidden[1:]
        return (dearer[check.turn] if check.turn < len(dearer) else cheapest,)

    def runs(self, checks) -> list[tuple[Check, str]]:
        """Every (check, start method) the plan runs, in the checks' order."""
        return [(check, method) for check in checks for method in self.methods(check)]

    def to_json(self) -> dict:
        return {"visible": list(self.visible), "hidden": list(self.hidden)}

    @classmethod
    def from_json(cls, data) -> Plan:
        """A plan another process sent (a remote worker's): ValueError unless it names methods."""
        lists = [data.get(kind) for kind in ("visible", "hidden")] if isinstance(data, dict) else []
        if not lists or not all(isinstance(methods, list) and methods and all(isinstance(m, str) for m in methods)
                                for methods in lists):
            raise ValueError("a grading plan needs start methods for visible and hidden checks")
        return cls(*(tuple(methods) for methods in lists))


# The start methods from the cheapest to the dearest for a check that starts several processes:
# fork copies the parent; a fork server is a copy of the kit's process (on Linux: a fork of it,
# grader.checking.infrastructure) that has loaded the kit and its libraries (pika) once for all of
# a check's processes; spawn starts a new interpreter for each, which loads them again.
BY_COST = ("fork", "forkserver", "spawn")


def grading_plan() -> Plan:
    """This machine's plan: visible checks under its default start method, hidden ones under every
    other available method (the default alone where it is the only one), cheapest first."""
    available = multiprocessing.get_all_start_methods()
    default = multiprocessing.get_start_method(allow_none=True) or available[0]
    others = tuple(m for m in available if m != default) or (default,)
    return Plan(visible=(default,), hidden=tuple(sorted(others, key=_cost)))


def _cost(method: str) -> int:
    return BY_COST.index(method) if method in BY_COST else len(BY_COST)


def _functions(module, prefix: str) -> dict[str, Callable]:
    """The module's own functions named `prefix`..., in the order it defines them."""
    return {name: fn for name, fn in vars(module).items()
            if name.startswith(prefix) and inspect.isfunction(fn) and fn.__module__ == module.__name__}


def _visible_module(exercise: Exercise):
    path = exercise.folder / f"test_{exercise.module}.py"
    spec = importlib.util.spec_from_file_location(f"baozi_visible_{exercise.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checks_for(exercise: Exercise) -> list[Check]:
    """The exercise's checks in a stable order: visible ones first, as its metadata lists them,
    then the hidden ones, as their module defines them.

    Points and checks must name each other exactly: a name with points and no check would count in
    the exercise's maximum and never be earned, a check without points would never run. Either is
    a MetadataError when the checks are loaded, never a check silently dropped."""
    visible = _functions(_visible_module(exercise), "test_")
    _expect_points(exercise, visible)
    found = [Check(exercise, name, visible[name], points, hidden=False) for name, points in exercise.points.items()]
    try:
        module = importlib.import_module(f"grader.grading.hidden.{exercise.name}")
    except ModuleNotFoundError:  # a release bundle: no hidden checks
        return found
    hidden = _functions(module, "check_")
    unscored = [name for name, check in hidden.items() if not isinstance(getattr(check, "points", None), int)]
    if unscored:
        raise MetadataError(f"grader/grading/hidden/{exercise.name}.py: no points for {', '.join(unscored)} "
                            "(@points(N) on the line above each)")
    return found + [Check(exercise, name, check, check.points, hidden=True, turn=turn)
                    for turn, (name, check) in enumerate(hidden.items())]


def max_score(exercise: Exercise) -> int:
    """What the grader awards the exercise at most: its visible and hidden checks' points."""
    return sum(check.points for check in checks_for(exercise))


def _expect_points(exercise: Exercise, visible: dict) -> None:
    points = exercise.points
    unknown, unscored = sorted(set(points) - set(visible)), sorted(set(visible) - set(points))
    if unknown or unscored:
        raise MetadataError(
            f"{exercise.folder / 'exercise.toml'}: [points] and test_{exercise.module}.py disagree: "
            + "; ".join(filter(None, [unknown and f"points for {', '.join(unknown)}, which it does not define",
                                      unscored and f"no points for {', '.join(unscored)}"])))


HIDDEN_SEED_OFFSET = 1000  # hidden checks draw other items than the visible ones


def _rerun(check: Check, method: str, seed: int):
    from grader.checking.kit import rerun_command
    from grader.checking.mistakes import Words

    if check.hidden:
        return Words("hidden-check-no-rerun")
    nodeid = f"exercises/{check.exercise.name}/test_{check.exercise.module}.py::{check.name}"
    return rerun_command(nodeid, impl=None, start_method=method, seed=seed)


def run_one(check: Check, method: str, *, impl_root: Path, seed: int, scale: float,
            isolation: Isolation | None = None, rerun: str | None = None, fault: bool = True,
            require_broker: bool = True, language: str | tuple[str, ...] = "en") -> CheckResult:
    """Run `check` once under `method` (results.run_check_function): the grader's runner and the
    notebook both run a check this way. `rerun` says how to run it again (default: the pytest
    command of a visible check). Grading never skips (`require_broker`): a missing broker is the
    grader's fault, not the student's. `language`: of the report, or several (each in turn)."""
    # Imported here: the report and the nbgrader export read the checklist without running a check.
    from grader.checking.kit import Kit
    from grader.checking.results import run_check_function

    seed = seed + (HIDDEN_SEED_OFFSET if check.hidden else 0)
    kit = Kit(exercise=check.exercise, impl_root=impl_root, start_method=method, seed=seed,
              scale=scale, rerun=rerun or _rerun(check, method, seed), isolation=isolation,
              require_broker=require_broker, language=language)
    return run_check_function(check.func, kit, check=check.name, points=check.points, hidden=check.hidden,
                              fault=fault)
