"""Plain data across the boundary between the kit and the processes that run student code.

Whatever a process that ran student code writes is untrusted: it is decoded here as data, never run. The
encoding is JSON, with the Python values the checks compare kept apart by a tag, so that a decoded value
has the same ``repr`` as the one encoded (``grader.checking.payloads`` compares items by repr):

    None, bool, int, float, str    as themselves
    list                           a JSON array
    tuple, set, frozenset          {"T": [...]}, {"S": [...]}, {"F": [...]}
    dict                           {"D": [[key, value], ...]}   (any keys, in order)
    bytes, bytearray               {"B": "<base64>"}, {"Y": "<base64>"}
    anything else                  {"O": ["<type name>", "<repr, shortened>"]} -> an ``Opaque``

``decode`` refuses input over its size cap, nested deeper than MAX_DEPTH, or with any other shape
with ``WireError``; it never raises anything else.
"""

from __future__ import annotations

import base64
import json

MAX_DEPTH = 64  # containers inside containers; the kit's observations need a handful
OPAQUE_REPR = 200  # characters of an unknown object's repr that travel
MAX_ANSWER_BYTES = 32 * 1024 * 1024  # a driver's answer: items of 100 kB, results summarised


class WireError(ValueError):
    """Bytes that are not a value in this encoding."""


class Opaque:
    """An object that was not plain data where it was encoded (a custom class, a lock, a module):
    only its type's name and a short repr arrived. It equals nothing the kit generated."""

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str):
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:  # never the repr of an item: a look-alike object cannot pass for one
        return f"<unreadable {self.type_name}: {self.text}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Opaque) and (self.type_name, self.text) == (other.type_name, other.text)

    def __hash__(self) -> int:
        return hash((self.type_name, self.text))


def encode(value) -> bytes:
    return json.dumps(_plain(value, set()), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _plain(value, path: set):
    if value is None or type(value) in (bool, int, float, str):
        return value
    if id(value) in path:
        return {"O": [type(value).__name__, "[...]"]}  # a container holding itself
    path.add(id(value))
    try:
        kind = type(value)
        if kind is list:
            return [_plain(v, path) for v in value]
        if kind is tuple:
            return {"T": [_plain(v, path) for v in value]}
        if kind is dict:
            return {"D": [[_plain(k, path), _plain(v, path)] for k, v in value.items()]}
        if kind is set:
            return {"S": [_plain(v, path) for v in value]}
        if kind is frozenset:
            return {"F": [_plain(v, path) for v in value]}
        if kind is bytes:
            return {"B": base64.b64encode(value).decode("ascii")}
        if kind is bytearray:
            return {"Y": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, Opaque):
            return {"O": [value.type_name, value.text]}
        try:
            text = repr(value)
        except Exception:
            text = f"<{kind.__name__}>"
        return {"O": [kind.__name__, text[:OPAQUE_REPR]]}
    finally:
        path.discard(id(value))


def decode(data: bytes, max_bytes: int):
    """The value `data` encodes; WireError if it is larger than `max_bytes` or not well formed."""
    if len(data) > max_bytes:
        raise WireError(f"{len(data)} bytes, more than the {max_bytes} allowed")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise WireError(f"not JSON: {exc}") from None
    return _value(raw, 0)


def _value(raw, depth: int):
    if raw is None or isinstance(raw, (bool, int, float, str)):
        return raw
    if depth >= MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH}")
    if isinstance(raw, list):
        return [_value(v, depth + 1) for v in raw]
    if not isinstance(raw, dict) or len(raw) != 1:
        raise WireError("an object that is not one tagged value")
    (tag, body), = raw.items()
    if tag in ("T", "S", "F"):
        items = [_value(v, depth + 1) for v in _array(body, tag)]
        try:
            return tuple(items) if tag == "T" else set(items) if tag == "S" else frozenset(items)
        except TypeError:
            raise WireError(f"an unhashable member in {tag}") from None
    if tag == "D":
        pairs = _array(body, tag)
        out = {}
        for pair in pairs:
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError("a dict entry that is not a [key, value] pair")
            key = _value(pair[0], depth + 1)
            try:
                out[key] = _value(pair[1], depth + 1)
            except TypeError:
                raise WireError("an unhashable dict key") from None
        return out
    if tag in ("B", "Y"):
        if not isinstance(body, str):
            raise WireError(f"{tag} holds no base64 text")
        try:
            data = base64.b64decode(body.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise WireError("bad base64") from None
        return data if tag == "B" else bytearray(data)
    if tag == "O":
        if not (isinstance(body, list) and len(body) == 2 and all(isinstance(p, str) for p in body)):
            raise WireError("an opaque object without its type name and repr")
        return Opaque(body[0][:OPAQUE_REPR], body[1][:OPAQUE_REPR])
    raise WireError(f"unknown tag {tag[:20]!r}")


def _array(body, tag: str) -> list:
    if not isinstance(body, list):
        raise WireError(f"{tag} holds no array")
    return body
