"""Run the kit's checks from a Jupyter notebook: the test cells of the nbgrader course call these.

    from grader.integrations.notebook import check
    check("ex03_sentinel", "test_run_returns_every_item_in_order")

The student's code is not in the notebook's kernel: a ``%%writefile sentinel.py`` cell wrote it to
a module beside the notebook, and the check runs that module in a fresh process tree through the
harness, with the check's own time budget. So a hang ends inside the cell with the kit's HANG
report (which process waits where), long before nbgrader's cell timeout, and the worker functions
live in a module that children can import under every start method (a function defined in a
notebook cell cannot be found by a child under spawn, the default on macOS and Windows).

nbgrader reads a test cell's grade from its outputs: an error scores 0, anything written to stderr
scores 0, a number as the cell's value is partial credit, and nothing at all is full marks. So a
check that fails everywhere raises ``CheckFailed`` with the kit's teaching message; one that passes
under some start methods only prints the failures and returns its share of the points (the share
``python -m grader grade`` gives); one that passes prints one line per run and returns None. The
kit's warnings (a fork with threads) go to stdout, since stderr would cost the student the cell.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

from grader.checking import mistakes, settings
from grader.checking.mistakes import Words
from grader.checking.exercise import MetadataError, find
from grader.grading.checklist import Check, checks_for, grading_plan, run_one


class CheckFailed(AssertionError):
    """A check of the kit failed; its message is the kit's report (expected, got, look at)."""


class CheckNotRun(AssertionError):
    """A check could not run here (a broker it needs is missing): no points until it can."""


def _find_check(exercise_name: str, name: str) -> Check:
    try:
        exercise = find(exercise_name)
    except (MetadataError, OSError) as exc:
        raise CheckNotRun(f"this copy of baozi-kit has no exercise {exercise_name!r} ({exc}); "
                          "install the kit the course uses in this notebook's kernel") from None
    for found in checks_for(exercise):
        if found.name == name:
            return found
    raise CheckNotRun(f"{exercise_name} has no check {name!r} in this copy of the kit; it lives in "
                      + ("grader/grading/hidden/ (the instructor's copy of the kit)" if name.startswith("check_")
                         else f"exercises/{exercise_name}/test_{exercise.module}.py"))


def _scale(scale: float | None) -> float:
    try:
        return settings.budget_scale(scale)
    except ValueError:
        return 1.0


def _run(found: Check, method: str, impl_root: Path, seed: int, scale: float,
         languages: tuple[str, ...]) -> tuple[str, str]:
    """Run the check once: ("passed" | "failed" | "skipped", report). A fault of the kit's is raised
    in the cell, as it is."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_one(found, method, impl_root=impl_root, seed=seed, scale=scale,
                         rerun=Words("rerun", section="notebook"), language=languages,
                         fault=False, require_broker=False)  # no broker here: not checked, rather than failed
    for warning in caught:  # stdout, not stderr: nbgrader scores a cell that wrote to stderr 0
        print(f"note: {warning.message}")
    return result.verdict.value, result.message


def check(exercise: str, name: str, *, impl: str | os.PathLike = ".", seed: int = 1,
          scale: float | None = None, start_methods: list[str] | None = None,
          lang: str | None = None) -> float | None:
    """Run the check `name` of `exercise` against the module in the folder `impl`; its report in
    `lang` (the course's choice at export: "zh_CN", "en" or "zh_CN,en"; default English).

    Each check runs under its start methods of the grading plan, as ``python -m grader grade`` runs
    it: a visible one under the platform's default, a hidden one under the other method whose turn
    it is (``grader.grading.checklist.Plan``); `start_methods` chooses others. Returns None when
    every run passed, the share of the points earned when some did; raises ``CheckFailed`` when
    none did.
    """
    __tracebackhide__ = True  # IPython and pytest: show the report, not the kit's frames
    return run(_find_check(exercise, name), impl=impl, seed=seed, scale=scale, start_methods=start_methods,
               languages=settings.course_languages(lang))


def run(found: Check, *, impl: str | os.PathLike = ".", seed: int = 1, scale: float | None = None,
        start_methods: list[str] | None = None, languages: tuple[str, ...] = ("en",)) -> float | None:
    """``check`` for a Check already found (see there)."""
    __tracebackhide__ = True

    def say(name: str, /, **params) -> str:  # the notebook's own words, in the course's first language
        return mistakes.say("notebook", name, languages[0], **params)

    impl_root = Path(impl).resolve()
    module_file = found.exercise.module_file(impl_root)
    if not module_file.is_file():
        raise CheckFailed(say("missing-file", module=found.exercise.module, folder=impl_root)) from None
    methods = start_methods or list(grading_plan().methods(found))
    scale = _scale(scale)
    failures, skips, passed = [], [], 0
    for method in methods:
        started = time.monotonic()
        verdict, text = _run(found, method, impl_root, seed, scale, languages)
        seconds = time.monotonic() - started
        if verdict == "passed":
            passed += 1
            print(say("passed", check=found.title, method=method, seconds=seconds))
        elif verdict == "skipped":
            skips.append(f"[{method}] {text}")
        else:
            failures.append(f"[{method}] {text}" if len(methods) > 1 else text)
    sys.stdout.flush()
    if passed == len(methods):
        return None
    report = "\n\n".join(failures + skips)
    if passed == 0 and not failures:
        raise CheckNotRun(f"{say('not-checked', check=found.title)}\n{report}") from None
    if passed == 0:
        worth = say("point" if found.points == 1 else "points", count=found.points)
        raise CheckFailed(f"{say('failed', check=found.title, points=worth)}\n{report}") from None
    print(f"{say('partial', check=found.title, passed=passed, methods=len(methods))}\n{report}")
    return round(found.points * passed / len(methods), 2)
