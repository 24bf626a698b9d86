"""Same code, same verdict, with both cores saturated: a bounded subset of ``bench/stress.py``.

The race cases of the golden set (a sentinel put before the producer was joined, a task_done()
before the work) and the right ex03 program are graded as three copies each, in one batch of two
workers, while one ``while 1: pass`` per core runs (ex05's right shapes, graded the same way, are
in ``bench/stress.py``: their checks are many, and the suite has a budget). Every copy of a case must get the same
pass/fail on every check; the right ones full marks, the wrong ones less.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR

CASES = KIT_ROOT / "tests" / "cases"
COPIES = 3
SUBSET = {  # submission -> (exercise, module file, right?)
    "sentinel_before_join": ("ex03_sentinel", CASES / "ex03_sentinel/sentinel_before_join_timeout/sentinel.py", False),
    "task_done_first": ("ex05_joinable", CASES / "ex05_joinable/task_done_first/joinable.py", False),
    "right_sentinel": ("ex03_sentinel", SOLUTIONS_DIR / "ex03_sentinel/sentinel.py", True),
}


@pytest.fixture
def saturated():
    spinners = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    yield
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


@pytest.mark.slow
def test_copies_of_race_and_right_cases_get_the_same_verdicts_under_load(tmp_path, saturated):
    folder = tmp_path / "class"
    for name, (exercise, module, _) in SUBSET.items():
        for copy in range(COPIES):
            target = folder / f"{name}-{copy}" / exercise
            target.mkdir(parents=True)
            shutil.copy(module, target / module.name)
    done = subprocess.run([sys.executable, "-m", "grader", "batch", str(folder), "--out", str(tmp_path / "out"),
                           "--workers", "2"], cwd=KIT_ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for name, (exercise, _, right) in SUBSET.items():
        copies = []
        for copy in range(COPIES):
            payload = json.loads((tmp_path / "out" / f"{name}-{copy}" / "results.json").read_text(encoding="utf-8"))
            checks = {t["name"]: t["status"] for t in payload["tests"] if t["name"].startswith(exercise)}
            score, most = payload["extra_data"]["exercises"][exercise]
            copies.append((checks, score, most))
        differing = sorted(k for k in copies[0][0] if len({c[0][k] for c in copies}) > 1)
        assert not differing, f"{name}: copies differ on {differing}"
        scores = [score for _, score, _ in copies]
        if right:
            assert all(score == most for _, score, most in copies), f"{name}: {scores}"
        else:
            assert all(score < most for _, score, most in copies), f"{name}: {scores}"
