"""Scenarios for ex06_big_results: parallel_map(func, items, n_workers) with big results.

The `func` given to the student's parallel_map is ``kit_work`` below: module-level in the grader
package, so that spawn and forkserver children can import it by name (the harness puts the kit's
root on PYTHONPATH). Each item it gets is a task the scenario built: the student's item, the size
of the result to make, and optionally two marker files that stage the order in which the workers
finish (see ``map_items``). The results are checked here, in the driver, and only a short summary
of each goes back to the test: a result of several megabytes never travels twice.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time

from grader.scenarios.common import as_list, started, timed

MARKER_POLL = 0.005  # seconds between two looks for the marker file while a task is held back


def _blob(item, size: int) -> bytes:
    """`size` bytes that depend on the item, so that a result given to the wrong item shows."""
    seed = hashlib.sha256(repr(item).encode("utf-8", "backslashreplace")).digest()
    return (seed * (size // len(seed) + 1))[:size]


def kit_work(task):
    """The func of the checks: a result of `size` bytes for the task's item, and where it ran.

    A task marked `hold` waits (bounded) until the marker file exists; one marked `release`
    creates it. Holding the first task until another one has been worked on makes the workers
    finish in another order than the items', whatever the timing; and only another worker can
    release it, so whether it waited in vain says if the workers ran at the same time.
    """
    item, size, hold, release, timeout = task
    waited = None
    if hold:
        deadline = time.monotonic() + timeout
        while not os.path.exists(hold) and time.monotonic() < deadline:
            time.sleep(MARKER_POLL)  # a bounded wait on a file another process creates
        waited = os.path.exists(hold)
    if release:
        with open(release, "w", encoding="utf-8"):
            pass
    return {"item": item, "pid": os.getpid(), "waited": waited, "blob": _blob(item, size)}


def _summary(result, task):
    """The item a correct result is for (so that lost, doubled and misplaced results read as
    items), or a short description of what came instead."""
    item, size = task[0], task[1]
    if isinstance(result, dict) and set(result) == {"item", "pid", "waited", "blob"}:
        blob = result["blob"]
        if isinstance(blob, bytes) and len(blob) == size and blob == _blob(result["item"], size):
            return result["item"]
        return {"damaged result for": result["item"]}
    text = repr(result)
    return {"not func(x)": text if len(text) < 60 else text[:59] + "…"}


def map_items(ctx, items, n_workers, size=0, staged=False, hold_share=0.6):
    """parallel_map(kit_work, tasks, n_workers), one task per item, each result `size` bytes.

    With `staged`, the first task is held until any other has been worked on (for at most
    `hold_share` of the time left), so the first result is never the first to be ready.
    """
    marks = tempfile.mkdtemp(prefix="marks-", dir=os.getcwd())  # the check's own folder
    marker = os.path.join(marks, "released")
    timeout = max(0.2, hold_share * ctx.remaining())
    tasks = []
    for index, item in enumerate(items):
        hold = marker if staged and index == 0 and len(items) > 1 else None
        release = marker if staged and index > 0 else None
        tasks.append((item, size, hold, release, timeout))
    value, seconds = timed(ctx.func("parallel_map"), kit_work, list(tasks), n_workers)
    returned = as_list(value)
    seen = {"seconds": seconds, **ctx.audit(), **started(ctx), "main_pid": os.getpid()}
    if isinstance(returned, dict):
        seen["value"] = returned
        return seen
    # The i-th result is judged against the task whose item it names, if any, else the i-th task.
    by_key = {repr(t[0]): t for t in tasks}
    seen["value"] = [
        _summary(r, by_key.get(repr(r.get("item")) if isinstance(r, dict) else None,
                               tasks[i] if i < len(tasks) else (None, -1)))
        for i, r in enumerate(returned)]
    good = [r for r in returned if isinstance(r, dict) and "pid" in r]
    seen["pids"] = sorted({r["pid"] for r in good})
    seen["held_waited"] = next((r["waited"] for r in good if r.get("waited") is not None), None)
    return seen
