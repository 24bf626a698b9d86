"""Golden submissions: each case in tests/cases/<exercise>/<case>/ must get its expected verdict.

A case folder holds the student's module (flat) and case.toml:

    description = "one None for three consumers"
    verdict = "fail"                 # or "pass"
    checks = ["test_one_sentinel_per_consumer"]   # fail: these visible checks must fail
    expect = ["3 consumers but only 1 received a sentinel"]   # text every failure report must hold
    mistakes = ["ex04.one-sentinel-for-many-consumers"]   # fail: keys some failed check must carry
    start_methods = ["fork", "spawn"]   # optional, default: fork (where available) and spawn
    max_seconds = 5.0                # optional: the slowest a check of the case should take

How long the checks take is measured by ``python bench/run.py --cases``, on a quiet machine: a time
asserted here would fail on a busy one.

A "pass" case must pass every visible check of its exercise, and a "fail" case names the mistake it
makes (a key of grader/checking/catalogue/en.toml): the key results.json tags its failures with.
Every shipped wrong case names one; ``mistakes = []`` is for an exercise whose mistakes the
catalogue has no key for yet.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import sys
from pathlib import Path

import pytest

from grader.checking import exercise as exercise_meta
from grader.checking import mistakes as mistake_keys
from grader.checking.settings import REPORT_ENV

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CASES_DIR = Path(__file__).parent / "cases"
DEFAULT_METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


@dataclasses.dataclass(frozen=True)
class Case:
    folder: Path
    exercise: str
    description: str
    verdict: str
    checks: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()
    mistakes: tuple[str, ...] | None = None
    start_methods: tuple[str, ...] = tuple(DEFAULT_METHODS)
    max_seconds: float = 5.0

    @property
    def id(self) -> str:
        return f"{self.exercise}/{self.folder.name}"


def load_case(path: Path) -> Case:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(Case)} - {"folder", "exercise"}
    unknown = set(data) - known
    assert not unknown, f"{path}: unknown keys {sorted(unknown)}"
    for key in ("checks", "expect", "mistakes", "start_methods"):
        if key in data:
            data[key] = tuple(data[key])
    case = Case(folder=path.parent, exercise=path.parent.parent.name, **data)
    assert case.verdict in ("pass", "fail"), f"{path}: verdict must be pass or fail"
    assert case.verdict == "pass" or case.checks, f"{path}: a failing case names its checks"
    assert case.verdict == "pass" or case.mistakes is not None, (
        f"{path}: a failing case names its mistake keys (mistakes = [] if no key tells it apart yet)")
    unknown = set(case.mistakes or ()) - mistake_keys.keys()
    assert not unknown, f"{path}: no such mistake keys {sorted(unknown)} (grader/checking/catalogue/en.toml)"
    return case


CASES = [load_case(p) for p in sorted(CASES_DIR.glob("ex*/*/case.toml"))]


def test_every_wrong_case_of_the_kit_names_a_mistake_key():
    unnamed = [case.id for case in CASES if case.verdict == "fail" and not case.mistakes]
    assert not unnamed, f"wrong cases that name no mistake key: {unnamed}"


def test_the_corpus_is_big_enough():
    wrong = [c for c in CASES if c.verdict == "fail"]
    right = [c for c in CASES if c.verdict == "pass"]
    assert len(wrong) >= 20 and len(right) >= 5, f"{len(wrong)} wrong and {len(right)} right cases"


def test_every_case_names_real_checks():
    for case in CASES:
        points = exercise_meta.find(case.exercise).points
        unknown = set(case.checks) - set(points)
        assert not unknown, f"{case.id}: no such checks {sorted(unknown)}"


# Each case under each of its start methods: one test each, so that the runs spread over the workers.
RUNS = [pytest.param(case, method, id=f"{case.id}[{method}]") for case in CASES for method in case.start_methods
        if method in multiprocessing.get_all_start_methods()]


@pytest.mark.slow
@pytest.mark.parametrize("case, method", RUNS)
def test_case_gets_its_verdict(case: Case, method: str, pytester, monkeypatch):
    exercise = exercise_meta.find(case.exercise)
    test_file = exercise.folder / f"test_{exercise.module}.py"
    # -vv: every check's report whole, not folded into "same cause as" (grader.checking.summary)
    args = [str(test_file), "--impl", str(case.folder), "--start-method", method, "-p", "no:cacheprovider", "-vv"]
    if case.checks:
        args += ["-k", " or ".join(case.checks)]
    report_file = pytester.path / "report.json"
    monkeypatch.setenv(REPORT_ENV, str(report_file))  # the plugin writes each check's result there
    result = pytester.runpytest(*args)
    output = result.stdout.str()
    outcomes = result.parseoutcomes()
    if case.verdict == "pass":
        assert outcomes.get("passed") == len(exercise.points) and not outcomes.get("failed"), (
            f"{case.id} ({method}) should pass every check:\n{output[-4000:]}")
    else:
        assert outcomes.get("failed") == len(case.checks) and not outcomes.get("passed"), (
            f"{case.id} ({method}) should fail {list(case.checks)}:\n{output[-4000:]}")
        for text in case.expect:
            assert text in output, f"{case.id} ({method}): report lacks {text!r}:\n{output[-4000:]}"
        records = json.loads(report_file.read_text(encoding="utf-8"))
        shown = {key for record in records if record["verdict"] == "failed" for key in record["mistakes"]}
        missing = set(case.mistakes or ()) - shown
        assert not missing, (f"{case.id} ({method}): no failed check names {sorted(missing)}; "
                             f"they name {sorted(shown) or 'no mistake'}:\n{output[-4000:]}")
