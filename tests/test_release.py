"""The student bundle installs in a fresh virtual environment and works there."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grader import release
from grader.checking.exercise import SOLUTIONS_DIR, all_exercises


def test_the_bundle_holds_no_solution_and_no_hidden_check(tmp_path):
    out = release.build(tmp_path / "bundle")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert not any(f.startswith(("solutions/", "tests/", "grader/grading/hidden/")) for f in files)
    for exercise in all_exercises():
        folder = f"exercises/{exercise.name}"
        assert {f"{folder}/{exercise.module}.py", f"{folder}/test_{exercise.module}.py",
                f"{folder}/README.md", f"{folder}/exercise.toml"} <= files
        toml = (out / folder / "exercise.toml").read_text(encoding="utf-8")
        assert "hidden_points" not in toml and "check_" not in toml
        stub = (out / folder / f"{exercise.module}.py").read_text(encoding="utf-8")
        assert "NotImplementedError" in stub
    assert "grader/checking/plugin.py" in files and "grader/checking/harness.py" in files
    pyproject = (out / "pyproject.toml").read_text(encoding="utf-8")
    assert 'testpaths = ["exercises"]' in pyproject and "tests" not in pyproject.split("[tool.pytest")[1]


def test_release_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").write_text("x")
    with pytest.raises(SystemExit):
        release.build(tmp_path)


@pytest.mark.slow
def test_the_bundle_installs_and_runs_in_a_fresh_venv(tmp_path):
    bundle = release.build(tmp_path / "bundle")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-e", str(bundle)], check=True,
                   timeout=600)

    def pytest_in_bundle(*args):
        return subprocess.run([str(python), "-m", "pytest", "exercises", "-q", "-p", "no:cacheprovider",
                               "--start-method", "spawn", *args], cwd=bundle, capture_output=True,
                              text=True, timeout=600)

    solved = pytest_in_bundle("--impl", str(SOLUTIONS_DIR))
    assert solved.returncode == 0, solved.stdout[-3000:]
    stubs = pytest_in_bundle("-x")
    assert stubs.returncode == 1 and "NOT WRITTEN YET" in stubs.stdout, stubs.stdout[-3000:]
