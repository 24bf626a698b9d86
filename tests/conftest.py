"""Shared fixtures of the kit's own tests: no test may leave a process of a check behind."""

from __future__ import annotations

import os
import uuid

import psutil
import pytest

from grader.driver import DUMP_DIR_ENV

# Every process this test session starts inherits this mark, so that checks run by anything else
# on the machine at the same time are not mistaken for ours.
SESSION_MARK = "BAOZI_TEST_SESSION"
os.environ.setdefault(SESSION_MARK, uuid.uuid4().hex)


def check_processes() -> list[str]:
    """Processes of this session's checks (they carry the dump-folder variable) still alive."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            env = proc.environ()
            if DUMP_DIR_ENV in env and env.get(SESSION_MARK) == os.environ[SESSION_MARK]:
                found.append(f"pid {proc.pid}: {' '.join(proc.info['cmdline'] or [])[:120]}")
        except psutil.Error:
            continue
    return found


@pytest.fixture(autouse=True)
def no_process_left():
    before = set(check_processes())
    yield
    left = [p for p in check_processes() if p not in before]
    assert not left, "processes outlived their test:\n" + "\n".join(left)
