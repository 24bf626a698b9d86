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

from grader.checking.scenarios.common import Diagnosis, NotAList, Scenario, TreeSeen, as_list, started, timed

MARKER_POLL = 0.005  # seconds between two looks for a marker file while a task is held back
RELEASED, RECEIVED = "released", "received"  # marker files in the check's folder (see kit_work)
RECEIPT_SHARE = 0.5  # of its wait: how long a released task still waits for a result to arrive


def _blob(item, size: int) -> bytes:
    """`size` bytes that depend on the item, so that a result given to the wrong item shows."""
    seed = hashlib.sha256(repr(item).encode("utf-8", "backslashreplace")).digest()
    return (seed * (size // len(seed) + 1))[:size]


def kit_work(task):
    """The func of the checks: a result of `size` bytes for the task's item, and where it ran.

    Staged tasks (``map_items``) make the order in which results reach parallel_map's caller differ
    from the items' order, whatever the timing. The first task is held; every other one releases
    it (creates the RELEASED marker) when it is worked on, and returns its result wrapped so that
    unpickling it, wherever it arrives, creates the RECEIVED marker. The held task goes on once a
    result has arrived, so the first result is never the first to arrive. A caller that waits for
    the first result before any other (a right one that reads the workers in turn) never receives
    one: there the held task goes on RECEIPT_SHARE of its wait after it was released. Only another
    worker can release it, so whether it was released says if the workers ran at the same time.
    """
    item, size, marks, role, timeout = task
    released = None
    if role == "hold":
        released = _held(marks, timeout)
    elif role == "release":
        with open(os.path.join(marks, RELEASED), "w", encoding="utf-8"):
            pass
    result = {"item": item, "pid": os.getpid(), "waited": released, "blob": _blob(item, size)}
    return _Receipted(result, marks) if role == "release" else result


def _held(marks: str, timeout: float) -> bool:
    """Wait (bounded) until a released result arrived; whether the task was released at all."""
    released, received = os.path.join(marks, RELEASED), os.path.join(marks, RECEIVED)
    now = time.monotonic()
    deadline, released_at = now + timeout, None
    while now < deadline and not os.path.exists(received):
        if released_at is None and os.path.exists(released):
            released_at = now
        if released_at is not None and now - released_at >= RECEIPT_SHARE * timeout:
            break
        time.sleep(MARKER_POLL)  # a bounded wait on files other processes create
        now = time.monotonic()
    return os.path.exists(released)


class _Receipted(dict):
    """A result that says, when it is unpickled, that a result has arrived (see kit_work)."""

    def __init__(self, result: dict, marks: str):
        super().__init__(result)
        self.marks = marks

    def __reduce__(self):
        return _arrived, (dict(self), self.marks)


def _arrived(result: dict, marks: str) -> dict:
    with open(os.path.join(marks, RECEIVED), "w", encoding="utf-8"):
        pass
    return result


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

    With `staged`, the first task is held until another result has arrived (see ``kit_work``; for
    at most `hold_share` of the time left), so the first result is never the first to arrive.
    """
    marks = tempfile.mkdtemp(prefix="marks-", dir=os.getcwd())  # the check's own folder
    timeout = max(0.2, hold_share * ctx.remaining())
    tasks = []
    for index, item in enumerate(items):
        role = None
        if staged and len(items) > 1:
            role = "hold" if index == 0 else "release"
        tasks.append((item, size, marks, role, timeout))
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


# -- the scenarios as the checks name them -------------------------------------------------------

MB = 1_000_000


class MapItemsSeen(TreeSeen):
    value: list | NotAList | None  # a summary of each result (_summary)
    seconds: float | None
    main_pid: int | None  # the process that called parallel_map
    pids: list | None  # the processes the results were computed in
    held_waited: bool | None  # whether the held task was released (staged): the workers overlapped


# The work: moving the results through the pipes, and (staged) the time a held task may wait.
MAP_ITEMS = Scenario(
    "map_items", lambda n_workers, **_: f"parallel_map(func, items, n_workers={n_workers})", seen=MapItemsSeen,
    work=lambda items, size=0, staged=False, **_: 0.05 * len(items) * size / MB + (1.0 if staged else 0.0),
    processes=lambda n_workers, **_: n_workers)


def _workers_waiting(hang):
    """Workers fed by a task queue stop at a stop value, one each."""
    total = max(len(hang.consumers), len(hang.waiting))
    told = total - len(hang.waiting)
    params = {"total": total, "told": told, "waiting": len(hang.waiting),
              "call": hang.waiting[0].call or "tasks.get()"}
    if not told:
        return "no-worker-stopped", params, "ex06.workers-never-stop"
    return "some-workers-stopped", params, "ex06.one-stop-for-many-workers"


DIAGNOSIS = Diagnosis(when_consumers_wait=_workers_waiting)
