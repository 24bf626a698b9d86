"""The sandbox's command line: what it hides and what it mounts back."""

from __future__ import annotations

import subprocess
import sys

import pytest

from grader import sandbox

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


def test_a_closed_folder_is_masked_and_only_the_needed_path_comes_back(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "PRIVATE_MOUNTS", ())  # judge the closed folder alone
    closed = tmp_path / "home"
    python = closed / "me" / "python"
    python.mkdir(parents=True)
    closed.chmod(0o700)
    try:
        args = sandbox._reopen([python])
    finally:
        closed.chmod(0o755)
    (masked,) = _after(args, "--tmpfs")  # the first closed folder on the way (pytest's own may be)
    assert masked == str(sandbox._closed_ancestor(python) or closed) or closed.is_relative_to(masked)
    assert str(closed / "me") in _after(args, "--dir")
    assert _after(args, "--ro-bind") == [str(python)]


@pytest.mark.skipif(sandbox._bubblewrap_works() is not None, reason="bubblewrap is not usable here")
def test_hidden_paths_are_empty_inside(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "answer.txt").write_text("42")
    command = BWRAP.wrap([sys.executable, "-c", f"import os; print(os.listdir({str(secret)!r}))"],
                         workdir=tmp_path, hide=[secret])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
