"""The static review (grader.grading.review): what these exercises never need is flagged for the
instructor; right code, in every style the golden cases hold, is not."""

from __future__ import annotations

import textwrap

import pytest

from grader.checking.exercise import EXERCISES_DIR, KIT_ROOT, SOLUTIONS_DIR
from grader.checking.results import CheckResult, Verdict
from grader.grading.review import scan_results, scan_source


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
        with open("notes.txt") as notes, open("notes.txt", "rb") as raw:
            print(notes.read(), raw.read(), mode := "r")
    ''') == []


@pytest.mark.parametrize("source, why", [
    ("import ctypes\nctypes.pythonapi.PyObject_Str", "ctypes"),
    ("from ctypes import memmove", "ctypes"),
    ("import ctypes as c\nc.cast(1, c.py_object)", "ctypes"),
    ("import sys\nframe = sys._getframe(1)", "frames"),
    ("def f():\n    try:\n        1 / 0\n    except Exception as e:\n        return e.__traceback__.tb_frame.f_back",
     "frames"),
    ("import sys\nsys.modules['grader.checking.harness'] = None", "sys.modules"),
    ("import grader.checking.harness", "imports the grading kit"),
    ("__import__('grader')", "imports by name"),
    ("class P:\n    def __reduce__(self):\n        return (print, ())", "pickles itself"),
    ("open('/work/grader/grading/hidden/ex03_sentinel.py').read()", "kit's files"),
    ("import os\nfor fd in range(3, 50):\n    os.write(fd, b'x')", "raw file descriptor"),
    ("import gc\n[o for o in gc.get_objects()]", "object graph"),
    ("import os\nos.walk('/')", "folders"),
    ("import builtins\nbuiltins.print = None", "builtins"),
    ("import sys\nkit = getattr(sys, 'modules')", "sys.modules"),
    ("import os as o\nwrite = getattr(o, 'write')", "raw file descriptor"),
    ("import os\nregistry = os.environ['BAOZI_REGISTRY']", "environment variables"),
    ("with open('x.' + str(7), 'w') as f:\n    f.write('3')", "writes files"),
    ("import pathlib\npathlib.Path('x').write_text('3')", "writes files"),
    ("mode = 'a'\nopen('x', mode)", "writes files"),
    ("import os\nos.replace('a', 'b')", "writes files"),
    ("import importlib\nos = importlib.import_module('o' + 's')", "imports by name"),
    ("import subprocess\nsubprocess.run(['cat', 'x'])", "runs other programs"),
])
def test_each_way_of_tampering_is_flagged_with_its_line(source, why):
    hits = _scan(source)
    assert hits and any(why in hit for hit in hits), hits
    assert all(hit.startswith("sentinel.py:") for hit in hits)


def test_a_module_that_does_not_compile_is_left_to_its_checks():
    assert _scan("def broken(:\n") == []


def test_every_hidden_module_carries_the_canary():
    from grader.grading.hidden import CANARY

    modules = sorted((KIT_ROOT / "grader" / "grading" / "hidden").glob("ex*.py"))
    assert len(modules) >= 7
    assert [m.name for m in modules if CANARY not in m.read_text(encoding="utf-8")] == []


def test_output_that_quotes_a_hidden_check_is_withheld_and_listed():
    from grader.grading.pipeline import WITHHELD, withhold_leaks
    from grader.grading.hidden import CANARY

    results = [CheckResult("ex03_sentinel", "check_x", "spawn", Verdict.PASSED, 1, message=f"# {CANARY}: def …"),
               CheckResult("ex03_sentinel", "check_y", "spawn", Verdict.PASSED, 1)]
    kept, leaks = withhold_leaks(results)
    assert not kept[0].passed and kept[0].message == WITHHELD
    assert kept[1] == results[1]
    assert leaks == ["ex03_sentinel/check_x: at run time, its output quoted the kit's hidden checks "
                     "(withheld from the student)"]


def test_a_check_that_showed_tampering_at_run_time_is_listed_once():
    message = ("INCONSISTENT: the answer of the process running run(items) does not match what the kit "
               "saw of this run: it names processes that never ran (pids [12]). Code that changes …")
    results = [{"exercise": "ex03_sentinel", "check": "test_a", "message": message}] * 3
    assert scan_results(results) == [
        "ex03_sentinel/test_a: at run time, the answer of the process running run(items) does not match "
        "what the kit saw of this run: it names processes that never ran (pids [12])"]


def test_a_result_stream_written_to_by_someone_else_earns_nothing():
    """One record per planned run: a second one fails the run, an unplanned one is refused."""
    from grader.grading.checklist import checks_for, grading_plan
    from grader.checking.exercise import find
    from grader.grading.pipeline import TWICE, accept_records

    plan = grading_plan()
    check = checks_for(find("ex03_sentinel"))[0]
    method, = plan.methods(check)
    record = {"exercise": "ex03_sentinel", "check": check.name, "start_method": method, "verdict": "passed",
              "message": "", "points": 1000}
    forged = {**record, "check": "test_that_does_not_exist"}
    unknown = {**record, "verdict": "excellent"}
    kept, refused = accept_records([record, {**record, "message": "x" * 10**6}, forged, {"verdict": "passed"},
                                    unknown], [check], plan)
    assert [(r.check, r.verdict, r.message) for r in kept] == [(check.name, Verdict.FAILED, TWICE)]
    assert len(refused) == 4 and all(": at run time, " in line for line in refused)
    alone, none = accept_records([{**record, "message": "y" * 10**6}], [check], plan)
    assert alone[0].passed and len(alone[0].message) <= 4000 and none == []
    assert alone[0].points == check.points  # the check's own, not what the record claims
    # a failure's cause only groups the feedback: one of another kind is dropped, a long one cut
    odd, _ = accept_records([{**record, "cause": {"not": "text"}}], [check], plan)
    long, _ = accept_records([{**record, "cause": "c" * 10**5}], [check], plan)
    assert odd[0].cause == "" and 0 < len(long[0].cause) <= 300


def test_what_a_run_flagged_is_listed_for_review():
    results = [{"exercise": "ex03_sentinel", "check": "test_b", "message": "", "passed": True,
                "flags": ["processes ran that its answer does not name (pids [5])"]}]
    assert scan_results(results) == [
        "ex03_sentinel/test_b: at run time, processes ran that its answer does not name (pids [5])"]
