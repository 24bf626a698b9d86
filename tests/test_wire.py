"""Plain data across the trust boundary (grader.checking.wire): what a process that ran student code sends
is decoded as data, with the repr the checks compare, and anything else is refused."""

from __future__ import annotations

import pickle

import pytest

from grader.checking import payloads, wire
from grader.checking.harness import answer_fields


def _through(value):
    return wire.decode(wire.encode(value), wire.MAX_ANSWER_BYTES)


def test_every_kind_of_item_comes_back_with_the_same_repr():
    items = payloads.items(7, 40, edge=True, large=2) + [b"\x00\xff", bytearray(b"ab"), {1, 2},
                                                        frozenset({"a"}), {(1, 2): [3.5, None]}]
    back = _through({"value": items, "nested": (items, {"k": items})})
    assert [payloads.key(x) for x in back["value"]] == [payloads.key(x) for x in items]
    assert repr(back["nested"]) == repr((items, {"k": items}))


def test_what_is_not_plain_data_arrives_as_something_no_item_equals():
    class Imitation:
        def __repr__(self):
            return "'包子 #1 for 王芳'"  # the repr of an item it would pass for

    looped = [1]
    looped.append(looped)
    back = _through([Imitation(), object(), looped])
    assert all(isinstance(x, wire.Opaque) for x in back[:2])
    assert payloads.key(back[0]) != "'包子 #1 for 王芳'" and "Imitation" in repr(back[0])
    assert isinstance(back[2][1], wire.Opaque)


@pytest.mark.parametrize("data, why", [
    (pickle.dumps({"status": "returned"}), "not JSON"),
    (b'{"status": "returned"', "not JSON"),
    (b'{"Q": 1}', "unknown tag"),
    (b'{"T": 1}', "no array"),
    (b'{"D": [[[1], 2]]}', "unhashable"),
    (b'{"B": "***"}', "base64"),
    (b"[" * 500 + b"]" * 500, "deeper"),
    (b'"' + b"x" * 100 + b'"', "more than"),
])
def test_anything_else_is_refused_with_a_reason(data, why):
    with pytest.raises(wire.WireError, match=why):
        wire.decode(data, 1000 if why != "more than" else 64)


@pytest.mark.parametrize("answer, why", [
    ([], "fields of an answer"),
    ({"status": "passed"}, "unknown status"),
    ({"status": "returned", "verdict": "pass"}, "fields of an answer"),
    ({"status": "raised", "error": {"type": 1}}, "type is not str"),
    ({"status": "returned", "registry": [{"kind": "process"}]}, "without pid"),
    ({"status": "returned", "registry": [{"kind": "daemon", "pid": 1, "role": "r", "name": "n",
                                          "daemon": False, "parent": 1}]}, "unknown kind"),
    ({"status": "returned", "notes": [1]}, "notes"),
])
def test_an_answer_is_checked_field_by_field(answer, why):
    with pytest.raises(wire.WireError, match=why):
        answer_fields(answer)


# --------------------------------------------------------------------------- who may decode what

# The modules that run beside student code, in the student's own interpreter: what they send is
# the untrusted side of the boundary. Every other module of the kit, and every check, decides or
# reports verdicts, and must read what comes from there only through grader.checking.wire or as text.
# (infrastructure.py: run by the driver, in those same processes.)
STUDENT_SIDE = {"grader/checking/driver.py", "grader/checking/infrastructure.py", "grader/checking/scenarios/*.py"}
# What would run bytes a student's process wrote, or take objects from it: never on the verdict side.
FORBIDDEN_MODULES = {"pickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "copyreg"}
FORBIDDEN_CALLS = {"eval", "exec", "__import__"}
# multiprocessing's channels unpickle what they receive (Connection.recv, Queue.get).
FORBIDDEN_CHANNELS = {"Queue", "SimpleQueue", "JoinableQueue", "Pipe", "Manager", "Listener", "Client",
                      "Connection"}


def _verdict_side() -> list:
    from grader.checking.exercise import EXERCISES_DIR, KIT_ROOT

    student = {p for pattern in STUDENT_SIDE for p in KIT_ROOT.glob(pattern)}
    files = [*KIT_ROOT.glob("grader/**/*.py"), *EXERCISES_DIR.glob("*/test_*.py")]
    return sorted(p for p in files if p not in student)


def _uses(tree) -> list[str]:
    import ast

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"from {node.module} import …")
            if node.module.startswith("multiprocessing"):
                found += [f"from {node.module} import {a.name}" for a in node.names if a.name in FORBIDDEN_CHANNELS]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if isinstance(func, ast.Name) and name in FORBIDDEN_CALLS:
                found.append(f"{name}() at line {node.lineno}")
            if isinstance(func, ast.Attribute) and name in FORBIDDEN_CHANNELS | {"recv", "recv_bytes"}:
                owner = func.value
                if name in ("recv", "recv_bytes") or (isinstance(owner, ast.Name) and owner.id == "multiprocessing"):
                    found.append(f".{name}() at line {node.lineno}")
    return found


def test_no_verdict_side_module_can_run_or_unpickle_what_student_code_wrote():
    import ast

    modules = _verdict_side()
    names = {p.name for p in modules}
    assert {"harness.py", "runner.py", "pipeline.py", "kit.py", "diagnose.py"} <= names
    offenders = {}
    for path in modules:
        uses = _uses(ast.parse(path.read_text(encoding="utf-8")))
        if path.name == "relay.py":  # socket.recv: bytes relayed to the broker, never decoded here
            uses = [u for u in uses if not u.startswith(".recv(")]
        if path.name == "zygote.py":  # socket.recv: the fork server's reports, read with grader.checking.wire
            uses = [u for u in uses if not u.startswith(".recv(")]
        if path.name == "plain.py":  # an unpickler that refuses every global (test_plain_data_only)
            uses = [u for u in uses if u != "import pickle"]
        if path.name == "compat.py":  # a queue's bytes, capped, for plain.py to decode
            uses = [u for u in uses if not u.startswith(".recv_bytes(")]
        if uses:
            offenders[str(path)] = uses
    assert not offenders, f"verdict-side modules that could run what student code wrote: {offenders}"


def test_the_scan_finds_each_way_in():
    import ast

    source = ("import pickle\nfrom multiprocessing import Queue\nimport multiprocessing\n"
              "eval('1')\nmultiprocessing.Pipe()\nconn.recv()\n")
    assert len(_uses(ast.parse(source))) == 5


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_plain_data_only_comes_off_a_queue_the_kit_reads(tmp_path):
    """grader.checking.plain rebuilds builtin data, and refuses anything that would run code on loading."""
    import multiprocessing
    import queue

    from grader.checking import plain

    q = multiprocessing.Queue()
    items = [1, 2.5, "包子", b"\x00" * 10, (1, ("a", None)), [True], {"k": {1, 2}}, frozenset({3})]
    for item in items:
        q.put(item)
    assert [plain.plain_get(q, timeout=5) for _ in items] == items
    marker = tmp_path / "ran"
    q.put(_Payload(str(marker)))
    with pytest.raises(plain.NotPlain):
        plain.plain_get(q, timeout=5)
    assert not marker.exists()
    with pytest.raises(plain.NotPlain):
        plain.loads(pickle.dumps(ValueError("x")))
    with pytest.raises(queue.Empty):
        plain.plain_get(q, timeout=0.05)
