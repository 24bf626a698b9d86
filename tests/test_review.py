"""The static review (grader.review): what these exercises never need is flagged for the
instructor; right code, in every style the golden cases hold, is not."""

from __future__ import annotations

import textwrap

import pytest

from grader.exercise import EXERCISES_DIR, KIT_ROOT, SOLUTIONS_DIR
from grader.review import scan_source


def _scan(source: str) -> list[str]:
    return scan_source(textwrap.dedent(source), "sentinel.py")


def test_no_right_module_is_flagged():
    modules = [*SOLUTIONS_DIR.glob("*/*.py"), *EXERCISES_DIR.glob("*/[!t]*.py")]
    for case in (KIT_ROOT / "tests" / "cases").glob("ex*/*/case.toml"):
        if 'verdict = "pass"' in case.read_text(encoding="utf-8"):
            modules += case.parent.glob("*.py")
    assert len(modules) > 20
    flagged = {str(m.relative_to(KIT_ROOT)): scan_source(m.read_text(encoding="utf-8"), m.name) for m in modules}
    assert not {k: v for k, v in flagged.items() if v}


def test_ordinary_uses_of_the_same_modules_are_not_flagged():
    assert _scan('''
        """Reads no solutions: this docstring only names them."""
        import ctypes, gc, inspect, multiprocessing, os, sys
        counter = multiprocessing.Value(ctypes.c_int, 0)
        gc.collect()
        params = inspect.signature(print)
        print(os.getpid(), sys.argv, file=sys.stderr)
    ''') == []


@pytest.mark.parametrize("source, why", [
    ("import ctypes\nctypes.pythonapi.PyObject_Str", "ctypes"),
    ("from ctypes import memmove", "ctypes"),
    ("import ctypes as c\nc.cast(1, c.py_object)", "ctypes"),
    ("import sys\nframe = sys._getframe(1)", "frames"),
    ("def f():\n    try:\n        1 / 0\n    except Exception as e:\n        return e.__traceback__.tb_frame.f_back",
     "frames"),
    ("import sys\nsys.modules['grader.harness'] = None", "sys.modules"),
    ("import grader.harness", "imports the grading kit"),
    ("__import__('grader')", "imports by name"),
    ("class P:\n    def __reduce__(self):\n        return (print, ())", "pickles itself"),
    ("open('/work/grader/hidden/ex03_sentinel.py').read()", "kit's files"),
    ("import os\nfor fd in range(3, 50):\n    os.write(fd, b'x')", "raw file descriptor"),
    ("import gc\n[o for o in gc.get_objects()]", "object graph"),
    ("import os\nos.walk('/')", "folders"),
    ("import builtins\nbuiltins.print = None", "builtins"),
])
def test_each_way_of_tampering_is_flagged_with_its_line(source, why):
    hits = _scan(source)
    assert hits and any(why in hit for hit in hits), hits
    assert all(hit.startswith("sentinel.py:") for hit in hits)


def test_a_module_that_does_not_compile_is_left_to_its_checks():
    assert _scan("def broken(:\n") == []
