"""Running one exercise's visible checks for ``watch`` and ``status --check``: a child pytest, as
the student would run it, that leaves its reports in a file (``settings.REPORT_ENV``: the plugin
writes ``summary.records`` there).

The child's own output goes to a file and is never shown whole: a program that floods stdout can
fill a disk's worth of it, and the screen shows only the reports, each cut to a few lines. What the
file of reports holds is read as plain JSON, with a size cap, and checked field by field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.checking import mistakes
from grader.checking.results import CheckResult, Verdict
from grader.checking.settings import REPORT_ENV
from grader.checking.summary import check_outcomes

MAX_REPORT_BYTES = 2_000_000
TAIL = 2_000  # characters of pytest's own output shown when it ran no check
RUN_TIMEOUT = 600.0  # seconds: far beyond any exercise's budgets; then the run is stopped


@dataclasses.dataclass
class Result:
    """What one run of an exercise's checks gave."""

    exercise: str
    reports: list[CheckResult]  # one per run of a check (a check runs under each start method)
    problem: str = ""  # when pytest ran no check: why, in its own words (the tail of its output)

    @property
    def checks(self) -> dict[str, str]:
        """Each check's outcome over its runs (summary.check_outcomes)."""
        return check_outcomes((report.check, report.verdict.value) for report in self.reports)

    @property
    def passed(self) -> bool:
        checks = self.checks
        return bool(checks) and not self.problem and all(o == "passed" for o in checks.values())

    @property
    def points(self) -> tuple[float, float]:
        """(points of the checks passed, points of all the checks)."""
        worth = {r.check: r.points for r in self.reports}
        return sum(worth[c] for c, o in self.checks.items() if o == "passed"), sum(worth.values())

    def causes(self) -> list[tuple[CheckResult, list[str]]]:
        """Each cause of failure once, in the order the checks ran: its first report, and the other
        checks (by name) that failed with it."""
        first: dict[str, tuple[CheckResult, list[str]]] = {}
        for report in self.reports:
            if report.verdict != Verdict.FAILED:
                continue
            key = report.cause or f"run\x1f{report.run}"
            if key not in first:
                first[key] = (report, [])
            elif report.check != first[key][0].check and report.check not in first[key][1]:
                first[key][1].append(report.check)
        return list(first.values())

    def skip_reasons(self) -> list[str]:
        return list(dict.fromkeys(r.message for r in self.reports if r.verdict == Verdict.SKIPPED and r.message))


def pytest_command(exercise_folder: Path, *, impl: Path | None, start_method: str | None,
                   language: str | None = None) -> list[str]:
    args = [sys.executable, "-m", "pytest", str(exercise_folder), "-p", "no:cacheprovider", "-q"]
    if language:
        args += ["--lang", language]
    if impl is not None:
        args += ["--impl", str(impl)]
    if start_method:
        args += ["--start-method", start_method]
    return args


def run_exercise(exercise_folder: Path, *, impl: Path | None = None, start_method: str | None = None,
                 cwd: Path | None = None, started=None, language: str | None = None) -> Result:
    """Run the visible checks of the exercise in `exercise_folder` in a child pytest and read its
    reports (in `language`, else as pytest chooses). `started(popen)` is told of the child (so that
    a caller can stop it)."""
    with tempfile.TemporaryDirectory(prefix="baozi-watch-") as tmp:
        report_file, output_file = Path(tmp) / "reports.json", Path(tmp) / "output.txt"
        env = {**os.environ, REPORT_ENV: str(report_file)}
        with open(output_file, "wb") as output:
            popen = subprocess.Popen(pytest_command(exercise_folder, impl=impl, start_method=start_method,
                                                    language=language),
                                     cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                     stderr=subprocess.STDOUT)
            if started is not None:
                started(popen)
            try:
                popen.wait(timeout=RUN_TIMEOUT)
            finally:
                if popen.poll() is None:
                    popen.kill()
                    popen.wait()
        reports = read_reports(report_file)
        problem = ""
        if not reports:
            problem = _tail(output_file) or mistakes.say("screen", "watch-no-report", language or "en",
                                                         code=popen.returncode)
        return Result(exercise_folder.name, reports, problem)


def read_reports(path: Path) -> list[CheckResult]:
    """The results the plugin wrote, as plain data: [] if there are none or the file is not what the
    plugin writes (too big, not JSON); a record that is not a result is left out (CheckResult.from_record)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_REPORT_BYTES + 1)
    except OSError:
        return []
    if len(data) > MAX_REPORT_BYTES:
        return []
    try:
        items = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return []
    if not isinstance(items, list):
        return []
    return [result for result in map(CheckResult.from_record, items) if result is not None]


def _tail(path: Path) -> str:
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            file.seek(max(0, size - TAIL))
            return file.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
