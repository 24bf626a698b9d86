"""The student bundle installs in a fresh virtual environment and works there; an installed kit
works from any folder, and writes a student's copy of the exercises (init)."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from grader import release
from grader.checking.exercise import SOLUTIONS_DIR, SOURCE_ROOT, all_exercises, kit_fingerprint


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
        return subprocess.run([str(python), "-m", "pytest", "exercises", "-q", "-p", "no:cacheprovider", *args],
                              cwd=bundle, capture_output=True, text=True, timeout=600)

    # Every check of the bundle passes on the solutions, under the platform's own start method (each
    # method on the checkout: tests/test_kit.py); under spawn, a stub's children import the student's
    # module and the kit by name from the installed bundle, and fail as a stub must.
    own_method = multiprocessing.get_all_start_methods()[0]
    solved = pytest_in_bundle("--impl", str(SOLUTIONS_DIR), "--start-method", own_method)
    assert solved.returncode == 0, solved.stdout[-3000:]
    stubs = pytest_in_bundle("-x", "--start-method", "spawn")
    assert stubs.returncode == 1 and "NOT WRITTEN YET" in stubs.stdout, stubs.stdout[-3000:]


def test_init_writes_a_students_copy_of_the_exercises_that_the_installed_kit_checks(tmp_path):
    copy = tmp_path / "my-exercises"
    done = subprocess.run([sys.executable, "-m", "grader", "init", str(copy)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    files = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
    for exercise in all_exercises():
        folder = f"exercises/{exercise.name}"
        assert {f"{folder}/{exercise.module}.py", f"{folder}/test_{exercise.module}.py",
                f"{folder}/README.md", f"{folder}/exercise.toml"} <= files
        assert "hidden_points" not in (copy / folder / "exercise.toml").read_text(encoding="utf-8")
    assert not any(f.startswith(("grader/", "solutions/")) or "__pycache__" in f for f in files), files
    assert "README.md" in files
    stub = subprocess.run([sys.executable, "-m", "pytest", "exercises/ex01_queue_basics", "-q", "-x",
                           "-p", "no:cacheprovider", "--start-method", "spawn"], cwd=copy,
                          capture_output=True, text=True, timeout=300)
    assert stub.returncode == 1 and "NOT WRITTEN YET" in stub.stdout, stub.stdout[-3000:]
    again = subprocess.run([sys.executable, "-m", "grader", "init", str(copy)], capture_output=True,
                           text=True, timeout=60)
    assert again.returncode != 0 and "not empty" in again.stderr


PROBE = """
import json
from grader.checking import exercise
from grader.grading import sandbox
print(json.dumps({"source": str(exercise.SOURCE_ROOT), "exercises": str(exercise.EXERCISES_DIR),
                  "solutions": str(exercise.SOLUTIONS_DIR), "count": len(exercise.all_exercises()),
                  "fingerprint": exercise.kit_fingerprint(),
                  "hidden": [str(p) for p in sandbox.kit_secrets()]}))
"""


def test_an_installed_kit_carries_its_exercises_and_solutions_and_works_from_any_folder(tmp_path):
    """`pip install .` puts the wheel's files in site-packages: unpacked here, the kit finds its
    exercises and solutions inside grader/, grades as a checkout does (same fingerprint), hides the
    solutions from the sandbox, and can write a student's copy; release needs a checkout."""
    source = tmp_path / "source"  # a copy: the build leaves build/ and egg-info where it runs
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(SOURCE_ROOT / name, source / name)
    for name in ("grader", "exercises", "solutions"):
        shutil.copytree(SOURCE_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source),
                            "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    for exercise in all_exercises():
        assert {f"grader/exercises/{exercise.name}/{exercise.module}.py",
                f"grader/exercises/{exercise.name}/test_{exercise.module}.py",
                f"grader/exercises/{exercise.name}/exercise.toml",
                f"grader/exercises/{exercise.name}/README.md",
                f"grader/solutions/{exercise.name}/{exercise.module}.py"} <= names
    assert not [n for n in names if n.split("/")[0] in ("exercises", "solutions", "tests", "bench")]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def grader_here(*args):
        return subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=120)

    probe = grader_here("-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["source"] == "None" and seen["count"] == len(all_exercises())
    assert seen["exercises"] == str(site / "grader" / "exercises")
    assert seen["solutions"] in seen["hidden"] and seen["solutions"] == str(site / "grader" / "solutions")
    assert seen["fingerprint"] == kit_fingerprint(), "an installed kit must grade as its checkout does"
    refused = grader_here("-m", "grader", "release", str(tmp_path / "bundle"))
    assert refused.returncode != 0 and "grader init" in refused.stderr
    init = grader_here("-m", "grader", "init", "copy")
    assert init.returncode == 0, init.stderr
    assert (elsewhere / "copy" / "exercises" / "ex01_queue_basics" / "queue_basics.py").is_file()
