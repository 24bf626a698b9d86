"""Queue items read back as plain data, in the driver's observer, which never runs student code.

A ``multiprocessing.Queue`` carries pickles, and unpickling what a student's process wrote could run
anything. ``plain_get`` reads the same bytes (capped) and rebuilds them with an unpickler that
refuses every global: only pickle's own opcodes remain, which build None, bools, numbers, str,
bytes, tuples, lists, dicts and sets, the items these exercises pass around. Anything else (an
object, a class, a function, ``__reduce__``) is refused as `NotPlain` before any of it runs.
"""

from __future__ import annotations

import io
import pickle
import queue
import time

MAX_ITEM_BYTES = 64 * 1024 * 1024  # ex06 sends results of megabytes


class NotPlain(ValueError):
    """An item that is not builtin data."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise NotPlain(f"an item that is not plain data ({module}.{name})")

    def persistent_load(self, pid):
        raise NotPlain("an item that is not plain data (a persistent reference)")


def loads(data: bytes):
    """Builtin data from pickled bytes, or NotPlain."""
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except NotPlain:
        raise
    except Exception as exc:  # truncated, garbage, a memo trick: not an item
        raise NotPlain(f"an item that does not decode ({type(exc).__name__})") from None


def plain_get(q, timeout: float | None = None):
    """``q.get(timeout=timeout)`` for a multiprocessing queue, decoded by `loads`; queue.Empty on
    timeout or once no process can put on `q` any more (its pipe is at its end), NotPlain for an
    item that is not builtin data (it is taken off the queue)."""
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    if not q._rlock.acquire(True, timeout):
        raise queue.Empty
    try:
        try:
            if deadline is not None and not q._poll(max(0.0, deadline - time.monotonic())):
                raise queue.Empty
            data = _receive(q._reader)
        except (EOFError, BrokenPipeError):
            raise queue.Empty from None
        q._sem.release()
    finally:
        q._rlock.release()
    return loads(data)


def _receive(reader) -> bytes:
    try:
        return reader.recv_bytes(MAX_ITEM_BYTES)
    except (EOFError, BrokenPipeError):
        raise
    except OSError:
        raise NotPlain(f"an item of more than {MAX_ITEM_BYTES} bytes") from None
