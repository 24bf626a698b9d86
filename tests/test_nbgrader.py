"""The kit as an nbgrader course, graded by real nbgrader.

One module-scoped fixture does what an instructor does: ``python -m grader nbgrader export`` (two
exercises, to keep the time sane: ex01, and ex03 whose hang the kit diagnoses), ``nbgrader
generate_assignment baozi``, then ``nbgrader autograde baozi`` of three students: ``full`` hands in
the source notebooks (the reference solutions), ``released`` the released ones untouched (the
stubs), ``hang`` the source notebook of ex03 with a consumer that never stops. The tests read what
nbgrader wrote: the gradebook and the autograded notebooks.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR, all_exercises, find
from grader.grading import pipeline
from grader.grading.checklist import Check, checks_for, max_score
from grader.integrations import nbgrader_export, nbgrader_gradebook, notebook

EXERCISES = ["ex01_queue_basics", "ex03_sentinel"]
HANGING = "ex03_sentinel"
STUDENTS = ("full", "released", "hang")
ASSIGNMENT = "baozi"
NBGRADER_TIMEOUT = 900  # the whole `nbgrader autograde` (three students, about a minute)
BIN = Path(sys.executable).parent  # nbgrader runs alembic and the kernel from this venv
# nbgrader and the kit's batch both give every check three times its budget: these tests are about
# the plumbing, and the machine may be busy with other tests (a budget blown by load in one of the
# two gradings only would make them differ).
SCALE = "3"


def _env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "BAOZI_BUDGET_SCALE": SCALE}


def _run(argv: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def _cells(path: Path) -> dict[str, dict]:
    """grade_id -> cell of a notebook."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for cell in data["cells"]:  # nbformat writes the source as a list of lines
        cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in data["cells"] if "nbgrader" in c["metadata"]}


def _text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
        if output["output_type"] == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
    return "\n".join(parts)


def _seconds(cell: dict) -> float:
    """How long nbgrader's kernel took to run the cell, from the timings nbclient records."""
    timing = cell["metadata"]["execution"]
    start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def _hanging_consumer(source: str) -> str:
    """The reference ex03 with a consumer that skips the sentinel instead of stopping at it."""
    stops = 'if item is None:  # `is None`, not `not item`: 0, "" and [] are real items\n            return'
    assert stops in source, "the reference consumer changed: update _hanging_consumer"
    return source.replace(stops, "if item is None:\n            continue")


@dataclasses.dataclass
class Course:
    root: Path
    export: subprocess.CompletedProcess
    generate: subprocess.CompletedProcess
    autograde: subprocess.CompletedProcess
    autograde_seconds: float

    def autograded(self, student: str, exercise: str) -> dict[str, dict]:
        return _cells(self.root / "autograded" / student / ASSIGNMENT / f"{exercise}.ipynb")

    def scores(self, db: Path | None = None) -> dict[str, dict[str, float]]:
        """student -> notebook -> score, from a gradebook (the course's by default)."""
        with Gradebook(nbgrader_gradebook.db_url(db or self.root / "gradebook.db")) as gb:
            return {s: {nb.name: nb.score for nb in gb.find_submission(ASSIGNMENT, s).notebooks}
                    for s in STUDENTS}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    root = tmp_path_factory.mktemp("course")
    export = _run([sys.executable, "-m", "grader", "nbgrader", "export", str(root),
                   "--exercises", ",".join(EXERCISES)], cwd=KIT_ROOT)
    assert export.returncode == 0, export.stderr
    generate = _run([str(BIN / "nbgrader"), "generate_assignment", ASSIGNMENT], cwd=root)
    assert generate.returncode == 0, generate.stdout + generate.stderr

    submitted = root / "submitted"
    shutil.copytree(root / "source" / ASSIGNMENT, submitted / "full" / ASSIGNMENT)
    shutil.copytree(root / "release" / ASSIGNMENT, submitted / "released" / ASSIGNMENT)
    hang = json.loads((root / "source" / ASSIGNMENT / f"{HANGING}.ipynb").read_text(encoding="utf-8"))
    for cell in hang["cells"]:
        if cell["source"].startswith("%%writefile"):
            cell["source"] = _hanging_consumer(cell["source"])
    (submitted / "hang" / ASSIGNMENT).mkdir(parents=True)
    (submitted / "hang" / ASSIGNMENT / f"{HANGING}.ipynb").write_text(json.dumps(hang), encoding="utf-8")

    started = time.monotonic()
    autograde = _run([str(BIN / "nbgrader"), "autograde", ASSIGNMENT], cwd=root, timeout=NBGRADER_TIMEOUT)
    seconds = time.monotonic() - started
    assert autograde.returncode == 0, autograde.stdout[-3000:] + autograde.stderr[-3000:]
    return Course(root, export, generate, autograde, seconds)


def _max_scores() -> dict[str, float]:
    return {name: float(max_score(find(name))) for name in EXERCISES}


# --------------------------------------------------------------------------- the export, every exercise


def test_every_exercise_gets_a_notebook_worth_its_points(tmp_path):
    written = nbgrader_export.export(tmp_path, nbgrader_export.select(None))
    assert (tmp_path / "nbgrader_config.py").is_file()
    exercises = all_exercises()
    assert sorted(p.stem for p in written) == [e.name for e in exercises]
    for exercise in exercises:
        nb = nbformat.read(tmp_path / "source" / ASSIGNMENT / f"{exercise.name}.ipynb", as_version=4)
        nbformat.validate(nb)
        meta = {c.metadata.nbgrader.grade_id: c for c in nb.cells}
        solution = [c for c in nb.cells if c.metadata.nbgrader.get("solution")]
        assert len(solution) == 1 and solution[0].source.startswith(f"%%writefile {exercise.module}.py\n")
        graded = {gid: c.metadata.nbgrader.points for gid, c in meta.items() if c.metadata.nbgrader.get("grade")}
        assert graded == {c.name: c.points for c in checks_for(exercise)}
        assert sum(graded.values()) == max_score(exercise)
        for name in (c.name for c in checks_for(exercise) if c.hidden):
            assert "### BEGIN HIDDEN TESTS" in meta[name].source, name
        lesson = (exercise.folder / "README.md").read_text(encoding="utf-8").strip()
        assert meta["lesson"].source == lesson
        broker = "RabbitMQ broker" in "".join(c.source for c in nb.cells)
        assert broker == exercise.needs_broker, exercise.name
    assert any(e.needs_broker for e in exercises), "ex07 needs a broker: its notebook must say so"


def _functions(source: str) -> dict[str, list[str]]:
    """function -> its body statements (docstring left out), as source."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if nbgrader_export._docstring_end(node) else node.body
            found[node.name] = [ast.unparse(s) for s in body]
    return found


@pytest.mark.parametrize("exercise", all_exercises(), ids=lambda e: e.name)
def test_the_module_holds_the_solution_and_strips_to_the_stub(exercise):
    merged = nbgrader_export.student_module(exercise)
    stub = (exercise.folder / f"{exercise.module}.py").read_text(encoding="utf-8")
    solution = (SOLUTIONS_DIR / exercise.name / f"{exercise.module}.py").read_text(encoding="utf-8")
    solved = _functions(solution)
    for name, body in _functions(merged).items():
        assert body == solved[name], f"{name}: the source notebook's body is not the solution's"
    stripped = nbgrader_export.strip_solutions(merged)
    for name, body in _functions(stripped).items():
        if name in _functions(stub) and any("NotImplementedError" in s for s in _functions(stub)[name]):
            assert body == ["raise NotImplementedError()"], f"{name} once stripped: {body}"
    assert "TODO" in stripped and "BEGIN SOLUTION" not in stripped


def test_merge_keeps_the_solutions_helpers_and_the_stripped_module_imports():
    stub = textwrap.dedent('''\
        """A stub."""
        import time

        STOP = "stop"


        @staticmethod
        def run(n):
            """Return twice n."""
            # TODO: twice n
            raise NotImplementedError("run()")
        ''')
    solution = textwrap.dedent('''\
        """The solution."""
        import math
        import time

        STOP = "stop"
        FACTOR = 2


        def _twice(n):
            return FACTOR * n


        @staticmethod
        def run(n):
            """Return twice n."""
            return _twice(n) + 0 * math.pi


        if __name__ == "__main__":
            print(run(21))
        ''')
    merged = nbgrader_export.merge(stub, solution)
    namespace: dict = {}
    exec(compile(merged, "merged.py", "exec"), namespace)
    assert namespace["run"].__func__(21) == 42 and namespace["STOP"] == "stop"
    assert "__main__" not in merged
    stripped_namespace: dict = {}
    exec(compile(nbgrader_export.strip_solutions(merged), "stripped.py", "exec"), stripped_namespace)
    assert "_twice" not in stripped_namespace and "FACTOR" not in stripped_namespace
    with pytest.raises(NotImplementedError):
        stripped_namespace["run"].__func__(21)


def test_export_refuses_to_overwrite_and_rejects_unknown_exercises(tmp_path):
    first = _run([sys.executable, "-m", "grader", "nbgrader", "export", str(tmp_path), "--exercises",
                  "ex01_queue_basics"], cwd=KIT_ROOT)
    assert first.returncode == 0, first.stderr
    again = _run([sys.executable, "-m", "grader", "nbgrader", "export", str(tmp_path)], cwd=KIT_ROOT)
    assert again.returncode == 2 and "--force" in again.stderr
    unknown = _run([sys.executable, "-m", "grader", "nbgrader", "export", str(tmp_path / "b"),
                    "--exercises", "ex99_nothing"], cwd=KIT_ROOT)
    assert unknown.returncode == 2 and "no such exercise: ex99_nothing" in unknown.stderr
    assert not (tmp_path / "b" / "source").exists()


# --------------------------------------------------------------------------- the notebook API


def test_check_without_the_module_says_to_run_the_writefile_cell(tmp_path):
    with pytest.raises(notebook.CheckFailed, match=r"MISSING FILE: .*%%writefile sentinel.py"):
        notebook.check("ex03_sentinel", "test_run_returns_every_item_in_order", impl=tmp_path)
    with pytest.raises(notebook.CheckNotRun, match="no check 'test_nothing'"):
        notebook.check("ex03_sentinel", "test_nothing", impl=tmp_path)


def _fake_check(func) -> Check:
    return Check(find("ex01_queue_basics"), "test_fake", func, points=4, hidden=False)


def test_a_skipped_check_is_not_checked_and_a_partial_one_earns_its_share(tmp_path, capsys):
    (tmp_path / "queue_basics.py").write_text("# a module\n")

    def needs_a_broker(kit):
        pytest.skip("RabbitMQ is not running")

    with pytest.raises(notebook.CheckNotRun, match=r"(?s)NOT CHECKED: .*RabbitMQ is not running"):
        notebook.run(_fake_check(needs_a_broker), impl=tmp_path, start_methods=["spawn"])

    def only_under_fork(kit):
        import warnings

        warnings.warn("a note of the kit")
        if kit.start_method != "fork":
            kit.fail("consumers-started-late", what="run()")

    share = notebook.run(_fake_check(only_under_fork), impl=tmp_path, start_methods=["fork", "spawn"])
    out, err = capsys.readouterr()
    assert share == 2.0
    assert "PARTIAL" in out and "note: a note of the kit" in out
    assert "[spawn] run() started the consumers only after the producers had finished." in out
    assert err == "", "a test cell that writes to stderr scores 0 in nbgrader"


# --------------------------------------------------------------------------- real nbgrader


def test_generate_assignment_strips_the_solutions_and_the_hidden_checks(course):
    for exercise in EXERCISES:
        source = _cells(course.root / "source" / ASSIGNMENT / f"{exercise}.ipynb")
        released = _cells(course.root / "release" / ASSIGNMENT / f"{exercise}.ipynb")
        module = f"{find(exercise).module}_py"
        assert "BEGIN SOLUTION" in source[module]["source"]
        assert "BEGIN SOLUTION" not in released[module]["source"]
        assert "raise NotImplementedError()" in released[module]["source"]
        for name in (c.name for c in checks_for(find(exercise)) if c.hidden):
            assert "check(" in source[name]["source"] and "check(" not in released[name]["source"]


def test_the_source_notebooks_get_full_marks(course):
    assert course.scores()["full"] == _max_scores()
    for exercise in EXERCISES:
        for name, cell in course.autograded("full", exercise).items():
            if cell["metadata"]["nbgrader"].get("grade"):
                assert "PASSED" in _text(cell), f"{exercise}/{name}: {_text(cell)[:500]}"


def test_the_released_notebooks_get_zero(course):
    assert course.scores()["released"] == {name: 0.0 for name in EXERCISES}
    first = course.autograded("released", "ex03_sentinel")["test_run_returns_every_item_in_order"]
    assert "NOT WRITTEN YET" in _text(first), _text(first)


def test_a_hang_ends_inside_its_cell_with_the_kits_report(course):
    cells = course.autograded("hang", HANGING)
    cell = cells["test_run_returns_every_item_in_order"]
    text = _text(cell)
    assert "HANG: run(items)" in text and "blocked in" in text and "consumer" in text, text
    assert "CellTimeoutError" not in json.dumps(cells)
    slowest = max(_seconds(c) for c in cells.values() if c["cell_type"] == "code")
    assert slowest < nbgrader_export.CELL_TIMEOUT / 10, f"a cell took {slowest:.1f} s"
    assert 0 <= course.scores()["hang"][HANGING] < max_score(find(HANGING))


def test_batch_puts_the_kits_grades_into_a_gradebook(course, tmp_path):
    fresh = tmp_path / "fresh.db"
    out = tmp_path / "out"
    batch = _run([sys.executable, "-m", "grader", "batch", str(course.root / "submitted"), "--out", str(out),
                  "--workers", "2", "--budget-scale", SCALE, "--nbgrader-db", str(fresh)], cwd=KIT_ROOT,
                 timeout=600)
    assert batch.returncode == 0, batch.stderr[-3000:]
    from_kit = {s: pipeline.load_graded(out / s) for s in STUDENTS}
    expected = {s: {name: g.exercises[name][0] for name in EXERCISES} for s, g in from_kit.items()}
    got = {s: {name: scores[name] for name in EXERCISES} for s, scores in course.scores(fresh).items()}
    assert got == expected
    # The kit and nbgrader agree on every student (the notebooks run the same checks).
    by_nbgrader = {s: {name: course.scores()[s].get(name, 0.0) for name in EXERCISES} for s in STUDENTS}
    if got != by_nbgrader:
        failed = {s: [t["name"] + ": " + t["output"][:300] for t in g.tests if t["status"] != "passed"
                      and t["tags"][0] in EXERCISES] for s, g in from_kit.items()}
        pytest.fail(f"the kit {got} and nbgrader {by_nbgrader} disagree; the kit's failures: {failed}")

    # Into the course's own gradebook (made by generate_assignment and autograde): same cells.
    copy = tmp_path / "course.db"
    shutil.copy(course.root / "gradebook.db", copy)
    set_ = nbgrader_gradebook.write(copy, ASSIGNMENT, list(from_kit.values()), [find(n) for n in EXERCISES])
    assert set_ == len(STUDENTS) * sum(len(checks_for(find(n))) for n in EXERCISES)
    assert {s: {n: v[n] for n in EXERCISES} for s, v in course.scores(copy).items()} == expected


def test_batch_refuses_a_gradebook_it_cannot_write_before_grading(tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    result = _run([sys.executable, "-m", "grader", "batch", str(tmp_path / "subs"), "--out", str(tmp_path / "out"),
                   "--nbgrader-db", str(tmp_path / "no" / "such" / "gradebook.db")], cwd=KIT_ROOT)
    assert result.returncode == 2 and "--nbgrader-db" in result.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- notebooks as submissions


def _notebook(cells: list[str]) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []} for c in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_notebooks_writefile_cells_are_its_modules(tmp_path):
    from grader.grading.submission import lay_out

    student = tmp_path / "submitted" / "dora" / ASSIGNMENT
    student.mkdir(parents=True)
    (student / "ex03_sentinel.ipynb").write_text(_notebook([
        "print('not a module')",
        "%%writefile sentinel.py\n# first draft\n",
        "%%writefile sentinel.py\n# final\n",
        "%%writefile -a sentinel.py\n# appended\n",
        ["%%writefile queue_basics.py\n", "# one, as a list of lines\n"],
        "%%writefile ../escape.py\n# not a bare module name: ignored\n",
    ]), encoding="utf-8")
    (student / "sentinel.py").write_text("# a stale copy the notebook would overwrite\n")
    (student / "broken.ipynb").write_text("{ not json")
    layout = lay_out(tmp_path / "submitted" / "dora", all_exercises(), tmp_path / "impl")
    assert (tmp_path / "impl" / "ex03_sentinel" / "sentinel.py").read_text() == "# final\n# appended\n"
    assert (tmp_path / "impl" / "ex01_queue_basics" / "queue_basics.py").read_text() == "# one, as a list of lines\n"
    assert set(layout.found) == {"ex01_queue_basics", "ex03_sentinel"}
    assert not (tmp_path / "escape.py").exists()
