"""An exercise lives in its own files: adding one to a copy of the kit touches no other file.

The copy gets ``ex08_square`` (its folder with lesson, metadata, stub and visible test; its
solution; its scenario module; its hidden checks; a golden case), and then ``python -m grader
check`` proves it beside the others, ``python -m grader grade`` awards its points, and the golden
corpus finds its case. The copy keeps one exercise of the kit's besides (the first): what holds
beside one holds beside seven, and the test stays cheap and needs no broker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from grader.checking.exercise import SOURCE_ROOT, all_exercises
from grader.grading.checklist import max_score
from grader.grading.hidden import CANARY

NEW = "ex08_square"
KEPT = all_exercises()[0].name  # ex01_queue_basics
FILES = {
    f"exercises/{NEW}/exercise.toml": """
        title = "Squares from a worker process"
        module = "square"
        functions = ["square_all"]

        [hints]
        square_all = "One worker process takes numbers from one queue and puts their squares on another."

        [points]
        test_squares_come_back_in_order = 2
        """,
    f"exercises/{NEW}/README.md": "# Squares from a worker process\n",
    f"exercises/{NEW}/square.py": '''
        """Exercise 8: squares from a worker process."""


        def square_all(numbers):
            """[n * n for n in numbers], computed by one worker process."""
            raise NotImplementedError("square_all: start a worker process and feed it through a queue")
        ''',
    f"exercises/{NEW}/test_square.py": '''
        """Visible checks for exercise 8."""

        from grader.checking.scenarios.ex08_square import SQUARES


        def test_squares_come_back_in_order(kit):
            numbers = list(range(10))
            seen = kit.run(SQUARES, numbers=numbers).value
            kit.expect_items(seen.value, [n * n for n in numbers], what="square_all()", ordered=True,
                             look_at="one-result-per-item-in-order")
        ''',
    f"solutions/{NEW}/square.py": '''
        import multiprocessing


        def _worker(tasks, results):
            for number in iter(tasks.get, None):
                results.put(number * number)


        def square_all(numbers):
            tasks, results = multiprocessing.Queue(), multiprocessing.Queue()
            worker = multiprocessing.Process(target=_worker, args=(tasks, results))
            worker.start()
            for number in numbers:
                tasks.put(number)
            tasks.put(None)
            squares = [results.get() for _ in numbers]
            worker.join()
            return squares
        ''',
    f"grader/checking/scenarios/{NEW}.py": '''
        """Scenarios for ex08_square."""

        from grader.checking.scenarios.common import NotAList, Scenario, StartedSeen, as_list, says, started


        def squares(ctx, numbers):
            return {"value": as_list(ctx.func("square_all")(numbers)), **started(ctx)}


        class SquaresSeen(StartedSeen):
            value: list | NotAList  # what square_all returned


        SQUARES = Scenario("squares", says("square_all(numbers)"), seen=SquaresSeen, processes=lambda **_: 1)
        ''',
    f"grader/grading/hidden/{NEW}.py": f'''
        """Hidden checks for ex08_square."""

        from grader.checking.scenarios.ex08_square import SQUARES
        from grader.grading.hidden import points

        # {CANARY}: the kit's hidden checks


        @points(1)
        def check_many_squares(kit):
            numbers = list(range(200))
            seen = kit.run(SQUARES, numbers=numbers).value
            kit.expect_items(seen.value, [n * n for n in numbers], what="square_all()", ordered=True,
                             look_at="one-result-per-item-in-order")
        ''',
    f"tests/cases/{NEW}/squares_twice/case.toml": """
        description = "squares every number twice"
        verdict = "fail"
        checks = ["test_squares_come_back_in_order"]
        mistakes = []
        """,
    f"tests/cases/{NEW}/squares_twice/square.py": """
        def square_all(numbers):
            return [n ** 4 for n in numbers]
        """,
}


def _copy_of_the_kit(root: Path) -> Path:
    root.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(SOURCE_ROOT / name, root / name)
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(SOURCE_ROOT / "grader", root / "grader", ignore=skip)
    for folder in ("exercises", "solutions", "tests/cases"):
        shutil.copytree(SOURCE_ROOT / folder / KEPT, root / folder / KEPT, ignore=skip)
    shutil.copy2(SOURCE_ROOT / "tests" / "test_cases.py", root / "tests" / "test_cases.py")
    return root


def test_an_eighth_exercise_needs_its_own_files_and_no_other(tmp_path):
    kit = _copy_of_the_kit(tmp_path / "kit")
    before = {p.relative_to(kit).as_posix(): p.read_bytes() for p in kit.rglob("*") if p.is_file()}
    for name, text in FILES.items():
        (kit / name).parent.mkdir(parents=True, exist_ok=True)
        (kit / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(kit)}

    def in_the_copy(*args, cwd=kit):
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=600)

    checked = in_the_copy("-m", "grader", "check", "--start-method", "fork")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    assert f"checking 2 exercises: {KEPT}, {NEW}" in checked.stdout, checked.stdout

    submission = tmp_path / "alice"
    submission.mkdir()
    shutil.copy2(kit / "solutions" / NEW / "square.py", submission / "square.py")
    graded = in_the_copy("-m", "grader", "grade", str(submission), "--out", str(tmp_path / "graded"))
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
    results = json.loads((tmp_path / "graded" / "alice" / "results.json").read_text(encoding="utf-8"))
    assert results["extra_data"]["exercises"] == {KEPT: [0, max_score(all_exercises()[0])], NEW: [3, 3]}, (
        results["extra_data"]["exercises"])
    assert {t["name"] for t in results["tests"] if t["name"].startswith(NEW)} >= {
        f"{NEW}: squares come back in order", f"{NEW}: many squares (hidden)"}

    corpus = in_the_copy("-c", "import runpy; cases = runpy.run_path('tests/test_cases.py');"
                               "cases['test_every_case_names_real_checks']();"
                               f"print(sorted(c.id for c in cases['CASES'] if c.exercise == {NEW!r}))")
    assert corpus.returncode == 0, corpus.stderr[-3000:]
    assert corpus.stdout.strip() == f"['{NEW}/squares_twice']"

    after = {p.relative_to(kit).as_posix(): p.read_bytes() for p in kit.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    changed = {name for name in before if after.get(name) != before[name]}
    assert not changed, f"adding an exercise changed {sorted(changed)}"
