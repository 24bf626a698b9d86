"""The sandbox's command line: what it hides and what it mounts back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR
from grader.grading import sandbox

BWRAP = sandbox.Sandbox("bubblewrap", "test")


def _after(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def test_a_kit_installed_under_tmp_is_mounted_back_into_the_private_tmp(monkeypatch, tmp_path):
    clone = tmp_path / "clone"
    (clone / ".venv").mkdir(parents=True)
    monkeypatch.setattr(sandbox, "needed_paths", lambda: [clone, clone / ".venv"])
    args = BWRAP.wrap(["python"], workdir=tmp_path, hide=[clone / ".venv"])
    assert str(clone) in _after(args, "--ro-bind")
    assert str(clone / ".venv") not in _after(args, "--ro-bind")  # inside a path mounted back whole
    # hidden paths are masked after the kit is mounted back, so they stay hidden
    assert args.index(str(clone / ".venv")) > args.index(str(clone))
    assert args[-2:] == ["--", "python"]


def test_needed_paths_come_back_through_folders_anyone_may_enter(tmp_path):
    python = tmp_path / "home" / "me" / "python"
    python.mkdir(parents=True)
    args = sandbox._mount_back([python, python / "lib"])
    assert _after(args, "--ro-bind") == [str(python)]  # lib is inside python: mounted with it
    assert str(tmp_path / "home" / "me") in _after(args, "--dir")
    assert all(args[i - 2:i] == ["--perms", "0755"] for i, a in enumerate(args) if a == "--dir")


@pytest.mark.skipif(sandbox._bubblewrap_works() is not None, reason="bubblewrap is not usable here")
def test_inside_only_the_workdir_and_the_needed_paths_exist_and_hidden_ones_are_empty(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    (elsewhere / "answer.txt").write_text("42")
    secret = SOLUTIONS_DIR
    probe = (f"import os; print(os.path.exists({str(elsewhere)!r}), os.listdir({str(secret)!r}), "
             f"os.path.isdir({str(work)!r}))")
    command = BWRAP.wrap([sys.executable, "-c", probe], workdir=work, hide=[secret])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False [] True"


@pytest.mark.skipif(sandbox._bubblewrap_works() is not None, reason="bubblewrap is not usable here")
def test_a_hidden_file_reads_empty(tmp_path):
    """A git worktree's .git is a file: hiding it must not break the sandbox, nor show it."""
    work, secret = tmp_path / "work", tmp_path / "kit" / ".git"
    work.mkdir()
    secret.parent.mkdir()
    secret.write_text("gitdir: /somewhere/else\n")
    probe = f"print(repr(open({str(secret)!r}).read()))"
    command = BWRAP.wrap([sys.executable, "-c", probe], workdir=work, hide=[secret])
    at = command.index("--bind") + 3  # the kit's folder mounted before the hiding, as the kit's is
    command[at:at] = ["--ro-bind", str(secret.parent), str(secret.parent)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "''"


@pytest.mark.skipif(sandbox._bubblewrap_works() is not None, reason="bubblewrap is not usable here")
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="switching users needs root")
def test_a_workdir_under_a_closed_tmpdir_is_reachable_by_the_checks_users(tmp_path):
    """A grader run with TMPDIR set (a worker, a cluster's scratch folder) used to score correct
    code 0: the checks' folders went to a TMPDIR the sandbox does not have, and the folders on the way
    to the submission's workdir were closed to the checks' users, who found no module to import."""
    closed = tmp_path / "closed"
    work = closed / "grade" / "work"
    work.mkdir(parents=True)
    closed.chmod(0o700)
    (work / "module.py").write_text("ANSWER = 42\n")
    probe = ("import os, tempfile; where = tempfile.gettempdir(); os.setgid(65534); os.setuid(65534); "
             f"print(where, open({str(work / 'module.py')!r}).read().strip())")
    command = BWRAP.wrap([sys.executable, "-c", probe], workdir=work, hide=[])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TMPDIR": str(closed)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "/tmp ANSWER = 42"


@pytest.mark.parametrize("command", ["batch", "worker"])
def test_a_class_is_not_graded_without_a_sandbox_unless_asked_for(monkeypatch, tmp_path, capsys, command):
    """Where bubblewrap cannot run, batch and worker stop before grading anything and say what a
    submission could do; `--sandbox session` is the instructor's explicit yes."""
    from grader.__main__ import main

    monkeypatch.setattr(sandbox, "_bubblewrap_works", lambda: "bwrap is not installed")
    (tmp_path / "subs").mkdir()
    argv = (["batch", str(tmp_path / "subs"), "--out", str(tmp_path / "out")] if command == "batch"
            else ["worker", "--broker", "amqp://nobody:nothing@127.0.0.1:1/%2F"])
    monkeypatch.setattr("grader.grading.pipeline.broker_problem", lambda exercises: None)
    assert main(argv) == 2
    said = capsys.readouterr().err
    assert f"{command} refuses to grade a class without a sandbox" in said
    assert "hidden checks" in said and "--sandbox session" in said and "bwrap is not installed" in said
    assert not (tmp_path / "out").exists()


def test_an_explicit_session_sandbox_is_not_refused():
    session = sandbox.Sandbox("session", "NO SANDBOX (asked for)")
    assert sandbox.refusal("session", session, "batch") is None
    assert sandbox.refusal("auto", BWRAP, "batch") is None
    assert "refuses" in sandbox.refusal("auto", session, "worker")


@pytest.mark.skipif(sandbox._bubblewrap_works() is not None, reason="bubblewrap is not usable here")
def test_of_the_kits_folder_only_the_grader_and_the_exercises_are_inside(tmp_path):
    """An allowlist: a build/ or dist/ folder left by `pip install .`, or anything else beside the
    kit's parts, does not exist in the sandbox."""
    work = tmp_path / "work"
    work.mkdir()
    probe = f"import os; print(' '.join(sorted(os.listdir({str(KIT_ROOT)!r}))))"
    command = BWRAP.wrap([sys.executable, "-c", probe], workdir=work, hide=[])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    inside = set(done.stdout.split())
    parts = {part.name for part in sandbox.KIT_PARTS}
    assert parts <= inside <= {*parts, ".venv"}, inside  # .venv: this checkout's Python


def test_an_installed_copy_of_the_hidden_checks_is_hidden(monkeypatch, tmp_path):
    """Where this kit keeps them, where a kit of the earlier, flat layout did, and the solutions an
    installed kit carries."""
    packages = tmp_path / "site-packages"
    copies = [packages / "grader" / "grading" / "hidden", packages / "grader" / "hidden",
              packages / "grader" / "solutions"]
    for copy in copies:
        copy.mkdir(parents=True)
    monkeypatch.setattr(sandbox.site, "getsitepackages", lambda: [str(packages)])
    assert sandbox.installed_secrets() == copies
    args = BWRAP.wrap(["python"], workdir=tmp_path / "work", hide=[])
    assert {str(copy) for copy in copies} <= set(_after(args, "--tmpfs"))
