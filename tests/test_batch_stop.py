"""Ctrl-C on a batch stops it: the submission at work is left ungraded, what is graded is kept, and
the same command run again grades the rest.

The batch runs as instructors run it (``python -m grader batch``), in a process group of its own, and
gets SIGINT as a terminal sends it, to the whole group. What is judged is the behaviour (exit
status, files, processes), never how long it took.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR

sys.path.insert(0, str(Path(__file__).parent))
from runners import runners_below  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="sends SIGINT to a process group (POSIX)")

HANGS = KIT_ROOT / "tests" / "cases" / "grading" / "hang_everywhere" / "queue_basics.py"
WAIT = 300.0  # seconds: a bound on each wait below, never a measure


def _wait_for(condition, what: str, batch: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert batch.poll() is None, f"the batch ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT:.0f} s"
        time.sleep(0.05)


def _ctrl_c(command: list[str], log_path, ready, what: str) -> tuple[int, str, list[psutil.Process]]:
    """Run `command` in a process group of its own and, once `ready(process)`, send SIGINT to the
    group as a terminal does. Returns its exit status, its output, and the processes of the runners
    that were at work then."""
    with log_path.open("w+") as log:
        process = subprocess.Popen(command, cwd=KIT_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for(lambda: ready(process), what, process)
            at_work = runners_below(process.pid)
            os.killpg(process.pid, signal.SIGINT)
            status = process.wait(WAIT)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.seek(0)
        return status, log.read(), at_work


def _rows(out) -> list[str]:
    text = (out / "grades.csv").read_text(encoding="utf-8")
    return sorted(row["student"] for row in csv.DictReader(io.StringIO(text)))


@pytest.mark.slow
def test_ctrl_c_keeps_what_is_graded_ends_the_rest_and_a_rerun_finishes(tmp_path):
    folder = tmp_path / "class"
    (folder / "a_nothing").mkdir(parents=True)
    (folder / "a_nothing" / "README.txt").write_text("nothing handed in\n")
    # Graded one after the other. b's every check blocks until the deadlock watch ends it, so b is
    # still at work when Ctrl-C comes; c waits its turn.
    (folder / "b_hangs").mkdir()
    shutil.copy(HANGS, folder / "b_hangs")
    (folder / "c_queue").mkdir()
    shutil.copy(SOLUTIONS_DIR / "ex01_queue_basics" / "queue_basics.py", folder / "c_queue")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--workers", "1"]
    status, said, at_work = _ctrl_c(command, tmp_path / "batch.log",
                                    lambda batch: ((out / "a_nothing" / "results.json").exists()
                                                   and runners_below(batch.pid)),
                                    "grade of a_nothing and runner of b_hangs")
    assert status == 130, said[-3000:]
    assert "stopped with 1 of 3 submissions graded" in said, said[-3000:]
    # what was graded is kept; the submission at work and the one after it left nothing behind
    assert _rows(out) == ["a_nothing"]
    assert (out / "summary.md").is_file()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["a_nothing"], list(out.iterdir())
    gone, alive = psutil.wait_procs(at_work, timeout=30)
    assert not alive, f"processes of the stopped checks still run: {alive}"

    again = subprocess.run(command, cwd=KIT_ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=WAIT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "a_nothing: already graded" in again.stderr
    assert _rows(out) == ["a_nothing", "b_hangs", "c_queue"]


@pytest.mark.slow
def test_ctrl_c_on_grade_writes_nothing_and_ends_the_checks(tmp_path):
    """`grade` stopped while its runner is at work: exit status 130, no results.json or feedback.md
    half-written, and none of the runner's processes left."""
    submission = tmp_path / "b_hangs"
    submission.mkdir()
    shutil.copy(HANGS, submission)
    out = tmp_path / "out"
    status, said, at_work = _ctrl_c([sys.executable, "-m", "grader", "grade", str(submission), "--out", str(out)],
                                    tmp_path / "grade.log", lambda grade: runners_below(grade.pid), "runner of b_hangs")
    assert status == 130, said[-3000:]
    assert "stopped: the submission was not graded" in said, said[-3000:]
    assert not list(out.glob("**/results.json")) and not list(out.glob("**/feedback.md")), list(out.rglob("*"))
    gone, alive = psutil.wait_procs(at_work, timeout=30)
    assert not alive, f"processes of the stopped checks still run: {alive}"
