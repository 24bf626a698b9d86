"""Every exercise is described in one exercise.toml, and stubs, solutions and tests agree with it."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from grader.checking import exercise as exercise_meta
from grader.checking.exercise import SOLUTIONS_DIR, all_exercises

EXERCISES = all_exercises()
CONTRACT_FUNCTIONS = {
    "ex01_queue_basics": {"make_queue", "put_all", "drain", "try_put", "try_get"},
    "ex02_producer_consumer": {"producer", "consumer", "start"},
    "ex03_sentinel": {"producer", "consumer", "run"},
    "ex04_many": {"producer", "consumer", "run"},
    "ex05_joinable": {"producer", "consumer", "run"},
    "ex06_big_results": {"worker", "parallel_map"},
    "ex07_rabbitmq": {"publish", "worker", "run"},
}


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_the_four_core_exercises_exist():
    assert {e.name for e in EXERCISES} >= set(CONTRACT_FUNCTIONS)


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_points_match_the_visible_tests(ex):
    tests = {name for name in _functions(ex.folder / f"test_{ex.module}.py") if name.startswith("test_")}
    assert tests == set(ex.points), f"{ex.name}: tests without points or points without a test"


def test_points_for_a_check_that_does_not_exist_stop_the_loading():
    """A typo in exercise.toml would count in the maximum and never be earned: loading the checks
    fails, naming it; a check left without points would never run: the same."""
    from grader.grading.checklist import checks_for

    ex = EXERCISES[2]
    with pytest.raises(exercise_meta.MetadataError, match="points for test_a_typo, which"):
        checks_for(dataclasses.replace(ex, points={**ex.points, "test_a_typo": 1}))
    first = next(iter(ex.points))
    with pytest.raises(exercise_meta.MetadataError, match=f"no points for {first}"):
        checks_for(dataclasses.replace(ex, points={k: v for k, v in ex.points.items() if k != first}))


def test_a_hidden_check_without_points_stops_the_loading(monkeypatch):
    """A hidden check carries its points (@points(N) above it); one without them would never be
    counted: loading the checks fails, naming it."""
    from grader.grading.checklist import checks_for

    ex = EXERCISES[2]
    module = importlib.import_module(f"grader.grading.hidden.{ex.name}")

    def check_forgotten(kit):
        pass

    check_forgotten.__module__ = module.__name__
    monkeypatch.setattr(module, "check_forgotten", check_forgotten, raising=False)
    with pytest.raises(exercise_meta.MetadataError, match="no points for check_forgotten"):
        checks_for(ex)


def test_hidden_points_are_positive_integers_on_hidden_checks_only():
    from grader.grading.hidden import points

    for wrong in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive integer"):
            points(wrong)

    def test_visible(kit):
        pass

    with pytest.raises(ValueError, match="only a check_"):
        points(1)(test_visible)


def test_hidden_points_in_exercise_toml_are_refused(tmp_path):
    """The student's copy of exercise.toml says nothing of the hidden checks: a [hidden_points]
    table is an error that says where the points go now."""
    with pytest.raises(exercise_meta.MetadataError, match="@points"):
        exercise_meta.load(_write(tmp_path, GOOD + "\n[hidden_points]\ncheck_x = 1\n"))


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_stub_and_solution_define_the_contract(ex):
    stub = _functions(ex.folder / f"{ex.module}.py")
    solution = _functions(SOLUTIONS_DIR / ex.name / f"{ex.module}.py")
    expected = CONTRACT_FUNCTIONS.get(ex.name, set(ex.functions))
    assert set(ex.functions) == expected
    assert expected <= set(stub) and expected <= set(solution)
    for name in expected:
        assert ast.dump(stub[name].args) == ast.dump(solution[name].args), f"{name}: signatures differ"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_stubs_raise_not_implemented_and_carry_todos(ex):
    path = ex.folder / f"{ex.module}.py"
    text = path.read_text(encoding="utf-8")
    assert "# TODO:" in text
    if ex.name == "ex07_rabbitmq":
        assert "\nSTOP = " in text, "the contract's STOP constant"
    functions = _functions(path)
    for name in ex.functions:  # the student's work; a stub may give small helpers (ex07's connect)
        raises = [n for n in ast.walk(functions[name]) if isinstance(n, ast.Raise)]
        assert any("NotImplementedError" in ast.unparse(r) for r in raises), f"{name} is not a stub"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_every_exercise_has_a_lesson(ex):
    readme = ex.folder / "README.md"
    assert readme.is_file() and len(readme.read_text(encoding="utf-8")) > 1500


def _write(tmp_path, text):
    (tmp_path / "exercise.toml").write_text(text, encoding="utf-8")
    return tmp_path


GOOD = '''
title = "t"
module = "m"
functions = ["f"]
[hints]
f = "hint"
[points]
test_f = 1
'''


def test_a_valid_file_loads_with_default_budget(tmp_path):
    ex = exercise_meta.load(_write(tmp_path, GOOD))
    assert ex.points == {"test_f": 1}
    assert ex.budget.seconds(work=1.0, processes=2, start_method="fork") == pytest.approx(1.5 + 0.1 + 1.5)


@pytest.mark.parametrize("change, message", [
    ("colour = 'red'\n" + GOOD, "unknown key"),
    (GOOD.replace('title = "t"', ""), "missing key"),
    (GOOD.replace("test_f = 1", "test_f = 0"), "positive integer"),
    (GOOD.replace('f = "hint"', 'g = "hint"'), "must name a function"),
    (GOOD + "[budget]\nmargin = 'long'\n", "must be a float"),
    (GOOD + "[budget]\nspeed = 2\n", "unknown key"),
    ("title = ", "exercise.toml"),
])
def test_an_invalid_file_is_rejected(tmp_path, change, message):
    with pytest.raises(exercise_meta.MetadataError, match=message):
        exercise_meta.load(_write(tmp_path, change))
