"""The grader's sandboxed runners below a process, for the tests that stop a `batch`, a `grade` or a
worker with Ctrl-C and then check that nothing of its checks is left."""

from __future__ import annotations

import psutil


def runners_below(pid: int) -> list[psutil.Process]:
    """The processes of the runners below `pid` (their own sessions): each runner and all it started."""
    try:
        below = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    found = []
    for proc in below:
        try:
            if "grader.grading.runner" in " ".join(proc.cmdline()):
                found += [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
    return found
