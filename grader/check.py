"""``python -m grader check``: prove the kit, the way ``rustlings dev check`` does.

For every start method: every solution passes every visible check, and every stub fails every
visible check (none passes, none hangs). Each run is a child pytest, so the verdict is exactly
what a student or CI would see.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from grader.checking import amqp
from grader.checking.exercise import EXERCISES_DIR, SOLUTIONS_DIR, SOURCE_ROOT, all_exercises


@dataclasses.dataclass
class Run:
    target: str  # "solutions" or "stubs"
    start_method: str
    passed: int
    failed: int
    skipped: int
    seconds: float
    failures: list[str]
    hung: list[str] = dataclasses.field(default_factory=list)  # checks that failed as a hang
    reasons: list[str] = dataclasses.field(default_factory=list)  # the start of each failure's report

    @property
    def ok(self) -> bool:
        if self.target == "solutions":
            return self.failed == 0 and self.passed > 0
        return self.passed == 0 and self.failed > 0 and not self.hung  # a stub fails at once


def _count(report: Path) -> tuple[int, int, int, list[str], list[str], list[str]]:
    """(passed, failed, skipped, names of failures, names of hangs, the start of each failure's
    report) from a junit xml report."""
    root = ElementTree.parse(report).getroot()
    passed = failed = skipped = 0
    names, hung, reasons = [], [], []
    for case in root.iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if case.find("skipped") is not None:
            skipped += 1
        elif problem is not None:
            failed += 1
            names.append(f"{case.get('classname')}::{case.get('name')}")
            reasons.append((problem.get("message") or problem.text or "")[:600])
            if re.search(r"(^|\n)HANG:", (problem.get("message") or "") + "\n" + (problem.text or "")):
                hung.append(names[-1])
        else:
            passed += 1
    return passed, failed, skipped, names, hung, reasons


def run_suite(target: str, start_method: str, extra: list[str] | None = None) -> Run:
    with tempfile.TemporaryDirectory(prefix="baozi-check-") as tmp:
        report = Path(tmp) / "report.xml"
        args = [sys.executable, "-m", "pytest", str(EXERCISES_DIR), "--start-method", start_method,
                "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *(extra or [])]
        if target == "solutions":
            args += ["--impl", str(SOLUTIONS_DIR)]
        started = time.monotonic()
        # From the checkout (its pyproject.toml sets pytest up); an installed kit from a folder of
        # its own, so that no file of the student's or the instructor's folder is picked up.
        subprocess.run(args, cwd=SOURCE_ROOT or tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        seconds = time.monotonic() - started
        if not report.exists():
            return Run(target, start_method, 0, 0, 0, seconds, ["pytest did not run"])
        passed, failed, skipped, failures, hung, reasons = _count(report)
        return Run(target, start_method, passed, failed, skipped, seconds, failures, hung, reasons)


def check_kit(start_methods: list[str] | None = None) -> list[Run]:
    methods = start_methods or multiprocessing.get_all_start_methods()
    return [run_suite(target, method) for method in methods for target in ("solutions", "stubs")]


def main(args) -> int:
    exercises = all_exercises()
    print(f"checking {len(exercises)} exercises: {', '.join(e.name for e in exercises)}")
    needing = [e.name for e in exercises if e.needs_broker]
    problem = amqp.unreachable() if needing else None
    if problem:
        print(f"NOTE: the checks of {', '.join(needing)} will be skipped (or fail, with "
              f"{amqp.REQUIRE_ENV}=1):\n{amqp.how_to_start(amqp.url(), problem)}")
    runs = check_kit(args.start_method)
    for run in runs:
        want = "all pass" if run.target == "solutions" else "all fail"
        mark = "ok  " if run.ok else "FAIL"
        print(f"{mark} {run.target:<9} {run.start_method:<10} {want}: {run.passed} passed, "
              f"{run.failed} failed, {run.skipped} skipped in {run.seconds:.1f} s")
        if not run.ok:
            wrong = (run.failures if run.target == "solutions" else
                     [f"(hung) {name}" for name in run.hung] or ["(some stub checks passed)"])
            for name in wrong[:10]:
                print(f"       {name}")
    return 0 if all(run.ok for run in runs) else 1
