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

from grader.checking import compat

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
    try:
        data = compat.receive_bytes(q, timeout, MAX_ITEM_BYTES)
    except OSError:
        raise NotPlain(f"an item of more than {MAX_ITEM_BYTES} bytes") from None
    return loads(data)
