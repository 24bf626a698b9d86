"""Grading slots shared by every grader on one machine.

A grading slot owns a range of unprivileged users for its checks (``Sandbox.student_uids``), and the
runner kills every process of those users after each check. Two graders on one machine that used
the same slot would kill each other's checks, so a slot is held with an exclusive lock on a file of
its own (``fcntl.flock``): the kernel drops the lock when its holder dies, even by SIGKILL, so a
crashed grader never leaves a slot taken.

Local batches take slots from 0 upward (or from ``BAOZI_FIRST_SLOT``), workers from
``WORKER_FIRST_SLOT`` upward, so a worker never meets even a local batch of an older kit, which
used slots 0..N-1 without locks. (The users of a slot share its process limit machine-wide, so two
graders on one slot also starve each other of processes: "can't start new thread".)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from grader.grading.sandbox import STUDENT_UID_BASE, UIDS_PER_SLOT

LOCK_DIR_ENV = "BAOZI_SLOT_DIR"
FIRST_SLOT_ENV = "BAOZI_FIRST_SLOT"  # where a local batch starts looking for free slots
WORKER_FIRST_SLOT = 16
LAST_SLOT = (65534 - STUDENT_UID_BASE) // UIDS_PER_SLOT - 1  # uids stay below nobody (65534)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no user switching, so no uids to share
    fcntl = None


def first_local_slot() -> int:
    return int(os.environ.get(FIRST_SLOT_ENV) or 0)


def lock_dir() -> Path:
    folder = Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "baozi-grading-slots")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


class Slot:
    """One grading slot, held until `release()` (or the process ends)."""

    def __init__(self, number: int, handle=None):
        self.number = number
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None

    def __repr__(self) -> str:
        return f"Slot({self.number})"


def acquire(first: int = 0) -> Slot:
    """The lowest free slot from `first` on; RuntimeError if every one is taken."""
    if fcntl is None:
        return Slot(first)
    folder = lock_dir()
    for number in range(first, LAST_SLOT + 1):
        handle = open(folder / f"slot-{number}.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")  # who holds it, for a curious human
        handle.flush()
        return Slot(number, handle)
    raise RuntimeError(f"every grading slot from {first} to {LAST_SLOT} is taken on this machine")


def acquire_many(count: int, first: int = 0) -> list[Slot]:
    slots: list[Slot] = []
    try:
        for _ in range(count):
            slots.append(acquire(slots[-1].number + 1 if slots else first))
    except BaseException:
        for slot in slots:
            slot.release()
        raise
    return slots
