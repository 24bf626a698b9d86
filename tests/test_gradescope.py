"""The Gradescope autograder zip, run the way Gradescope runs it, under a temporary AUTOGRADER_ROOT.

``python -m grader gradescope OUT.zip`` builds it; the module fixture unpacks it into
``ROOT/source`` (where Gradescope puts it), copies ``run_autograder`` to ``ROOT/`` (where Gradescope
copies it), puts a submission in ``ROOT/submission`` and runs ``ROOT/run_autograder`` with this
venv's Python first on PATH (``setup.sh``'s installs need apt and the network; its syntax is
checked). The same submission is graded by ``python -m grader grade``; both must give every test
the same score, and ``results.json`` must follow Gradescope's documented format
(https://gradescope-autograders.readthedocs.io/en/latest/specs/).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.checking.exercise import EXERCISES_DIR, KIT_ROOT, SOLUTIONS_DIR, all_exercises
from grader.grading.checklist import max_score

BIN = Path(sys.executable).parent
GRADE_TIMEOUT = 600
# Both gradings give every check three times its budget: this test is about the plumbing, and the
# machine that runs it may be busy with other tests (a budget blown by load would differ between them).
SCALE = "3"

# Gradescope's results.json, as its specification documents it.
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
             "tags", "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
STATUS = {"passed", "failed"}


def gradescope_problems(payload: dict) -> list[str]:
    """Where `payload` departs from Gradescope's results.json format (empty: it follows it)."""
    problems = [f"unknown top-level key {k!r}" for k in set(payload) - TOP_KEYS]
    number = (int, float)
    if not isinstance(payload.get("score"), number) or isinstance(payload.get("score"), bool):
        problems.append("score must be a number")
    if "execution_time" in payload and not isinstance(payload["execution_time"], number):
        problems.append("execution_time must be a number of seconds")
    for key in ("output_format", "test_output_format"):
        if key in payload and payload[key] not in FORMATS:
            problems.append(f"{key} {payload[key]!r} is not one of {sorted(FORMATS)}")
    for key in ("visibility", "stdout_visibility"):
        if key in payload and payload[key] not in VISIBILITY:
            problems.append(f"{key} {payload[key]!r} is not one of {sorted(VISIBILITY)}")
    if "output" in payload and not isinstance(payload["output"], str):
        problems.append("output must be a string")
    if "extra_data" in payload and not isinstance(payload["extra_data"], dict):
        problems.append("extra_data must be an object")
    tests = payload.get("tests", [])
    if not isinstance(tests, list):
        return problems + ["tests must be a list"]
    for i, test in enumerate(tests):
        where = f"tests[{i}] ({test.get('name', '?')})"
        problems += [f"{where}: unknown key {k!r}" for k in set(test) - TEST_KEYS]
        if not isinstance(test.get("name"), str):
            problems.append(f"{where}: name must be a string")
        for key in ("score", "max_score"):
            if not isinstance(test.get(key), number) or isinstance(test.get(key), bool):
                problems.append(f"{where}: {key} must be a number")
        if isinstance(test.get("score"), number) and isinstance(test.get("max_score"), number) \
                and not 0 <= test["score"] <= test["max_score"]:
            problems.append(f"{where}: score {test['score']} outside 0..{test['max_score']}")
        if "status" in test and test["status"] not in STATUS:
            problems.append(f"{where}: status {test['status']!r}")
        if "visibility" in test and test["visibility"] not in VISIBILITY:
            problems.append(f"{where}: visibility {test['visibility']!r}")
        if "output" in test and not isinstance(test["output"], str):
            problems.append(f"{where}: output must be a string")
        if "tags" in test and not (isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])):
            problems.append(f"{where}: tags must be a list of strings")
    if tests and isinstance(payload.get("score"), number):
        total = sum(t.get("score", 0) for t in tests)
        if abs(total - payload["score"]) > 0.011:
            problems.append(f"score {payload['score']} is not the sum of the tests' scores ({total})")
    return problems


def _hanging_sentinel() -> str:
    source = (SOLUTIONS_DIR / "ex03_sentinel" / "sentinel.py").read_text(encoding="utf-8")
    stops = 'if item is None:  # `is None`, not `not item`: 0, "" and [] are real items\n            return'
    assert stops in source, "the reference consumer changed: update _hanging_sentinel"
    return source.replace(stops, "if item is None:\n            continue")


def _submission(folder: Path) -> None:
    """Exercise 1 solved (flat), exercise 3 hanging, exercise 2 the stub, exercise 4 missing, and a
    conftest.py the grader must ignore."""
    folder.mkdir(parents=True)
    (folder / "queue_basics.py").write_bytes((SOLUTIONS_DIR / "ex01_queue_basics" / "queue_basics.py").read_bytes())
    (folder / "ex03_sentinel").mkdir()
    (folder / "ex03_sentinel" / "sentinel.py").write_text(_hanging_sentinel(), encoding="utf-8")
    (folder / "producer_consumer.py").write_bytes(
        (EXERCISES_DIR / "ex02_producer_consumer" / "producer_consumer.py").read_bytes())
    (folder / "conftest.py").write_text("raise SystemExit('graded code must not import me')\n")


def _unpack(archive: Path, root: Path) -> None:
    """As Gradescope does: the zip into ROOT/source, run_autograder copied to ROOT/."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            zipped.extract(info, root / "source")
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (root / "source" / info.filename).chmod(mode)
    runner = root / "run_autograder"
    runner.write_bytes((root / "source" / "run_autograder").read_bytes())
    runner.chmod(0o755)
    (root / "results").mkdir()


def _run_autograder(root: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "BAOZI_BUDGET_SCALE": SCALE, **extra_env}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(root / "run_autograder")], cwd=root, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=GRADE_TIMEOUT)


@dataclasses.dataclass
class Graded:
    archive: Path
    root: Path
    autograder: subprocess.CompletedProcess
    results: dict
    grade: subprocess.CompletedProcess
    graded: dict  # results.json of `python -m grader grade`


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    tmp = tmp_path_factory.mktemp("gradescope")
    archive = tmp / "autograder.zip"
    built = subprocess.run([sys.executable, "-m", "grader", "gradescope", str(archive)], cwd=KIT_ROOT,
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    root = tmp / "autograder"
    _unpack(archive, root)
    _submission(root / "submission")
    autograder = _run_autograder(root)
    assert autograder.returncode == 0, autograder.stdout[-2000:] + autograder.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))

    grade = subprocess.run([sys.executable, "-m", "grader", "grade", str(root / "submission"), "--out",
                            str(tmp / "graded"), "--budget-scale", SCALE], cwd=KIT_ROOT, capture_output=True, text=True,
                           timeout=GRADE_TIMEOUT)
    assert grade.returncode == 0, grade.stderr[-2000:]
    by_grade = json.loads((tmp / "graded" / "submission" / "results.json").read_text(encoding="utf-8"))
    return Graded(archive, root, autograder, results, grade, by_grade)


def test_the_zip_holds_the_scripts_at_its_top_and_no_solutions(graded):
    with zipfile.ZipFile(graded.archive) as zipped:
        infos = {i.filename: i for i in zipped.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in infos, sorted(infos)[:20]
        assert (infos[script].external_attr >> 16) & stat.S_IXUSR, f"{script} is not executable"
    tops = {name.split("/")[0] for name in infos}
    assert tops == {"setup.sh", "run_autograder", "pyproject.toml", "setup.py", "README.md", "grader", "exercises"}, tops
    assert not any("__pycache__" in name for name in infos)
    for exercise in all_exercises():
        assert f"exercises/{exercise.name}/exercise.toml" in infos
        assert f"grader/grading/hidden/{exercise.name}.py" in infos, "the hidden checks must go along"
    kit_files = {p.relative_to(KIT_ROOT).as_posix() for p in (KIT_ROOT / "grader").rglob("*.py")
                 if "__pycache__" not in p.parts}
    assert kit_files <= set(infos), sorted(kit_files - set(infos))


def test_the_scripts_are_valid_bash_and_setup_installs_the_broker_when_needed(graded):
    from grader.integrations import gradescope

    with zipfile.ZipFile(graded.archive) as zipped:
        setup, runner = zipped.read("setup.sh").decode(), zipped.read("run_autograder").decode()
    for script in (setup, runner):
        checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
    needs = any(e.needs_broker for e in all_exercises())
    assert ("missing+=(rabbitmq-server)" in setup) == needs
    assert "rabbitmq" not in gradescope.setup_sh([e for e in all_exercises() if not e.needs_broker])


def test_results_json_follows_gradescopes_format(graded):
    assert gradescope_problems(graded.results) == []
    assert graded.results["tests"], "one test per check"
    assert graded.results["stdout_visibility"] == "hidden"


def test_the_format_check_catches_what_gradescope_rejects():
    good = {"score": 1, "tests": [{"name": "a", "score": 1, "max_score": 2, "status": "passed"}]}
    assert gradescope_problems(good) == []
    bad = {"score": "1", "visibility": "sometimes", "tests": [{"name": "a", "score": 3, "max_score": 2,
                                                             "status": "ok", "colour": "red"}]}
    problems = gradescope_problems(bad)
    for words in ("score must be a number", "visibility 'sometimes'", "outside 0..2", "status 'ok'",
                  "unknown key 'colour'"):
        assert any(words in p for p in problems), (words, problems)


def test_the_scores_are_those_of_grader_grade(graded):
    def scores(payload):
        return {t["name"]: (t["score"], t["max_score"], t["status"]) for t in payload["tests"]}

    ours, theirs = scores(graded.results), scores(graded.graded)
    outputs = {t["name"]: t["output"][:600] for t in graded.results["tests"] + graded.graded["tests"]}
    differ = {name: (ours.get(name), theirs.get(name), outputs.get(name)) for name in set(ours) | set(theirs)
              if ours.get(name) != theirs.get(name)}
    assert not differ, f"run_autograder and grader grade differ: {differ}"
    assert graded.results["score"] == graded.graded["score"]
    assert graded.results["extra_data"]["exercises"] == graded.graded["extra_data"]["exercises"]
    exercises = graded.results["extra_data"]["exercises"]
    full = {e.name: max_score(e) for e in all_exercises()}
    assert exercises["ex01_queue_basics"] == [full["ex01_queue_basics"], full["ex01_queue_basics"]]
    assert exercises["ex02_producer_consumer"][0] == 0 and exercises["ex04_many"][0] == 0
    assert 0 <= exercises["ex03_sentinel"][0] < full["ex03_sentinel"]
    hang = [t for t in graded.results["tests"] if t["name"] == "ex03_sentinel: run returns every item in order"]
    assert "HANG: run(items)" in hang[0]["output"], hang[0]["output"][:500]
    assert "conftest.py" in graded.results["output"], "the ignored file is named"


def test_run_autograder_grades_with_its_own_copy_of_the_kit(tmp_path, graded):
    """A point changed in the unpacked kit shows in results.json: nothing else's kit was used."""
    root = tmp_path / "autograder"
    _unpack(graded.archive, root)
    (root / "submission").mkdir()
    toml = root / "source" / "exercises" / "ex01_queue_basics" / "exercise.toml"
    text = toml.read_text(encoding="utf-8")
    changed = re.sub(r"(?m)^(test_make_queue_holds_at_most_maxsize) = \d+$", r"\1 = 7", text)
    assert changed != text
    toml.write_text(changed, encoding="utf-8")
    result = _run_autograder(root)
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert gradescope_problems(payload) == []
    test = next(t for t in payload["tests"] if t["name"] == "ex01_queue_basics: make queue holds at most maxsize")
    assert test["max_score"] == 7 and test["score"] == 0
    assert "no queue_basics.py in the submission" in test["output"]


def test_a_missing_submission_folder_still_writes_results_json(tmp_path, graded):
    root = tmp_path / "autograder"
    _unpack(graded.archive, root)
    result = _run_autograder(root)
    assert result.returncode == 1
    payload = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert gradescope_problems(payload) == []
    assert payload["score"] == 0 and "submission" in payload["output"] and "instructor" in payload["output"]


def test_without_its_broker_the_autograder_says_so_in_results_json(tmp_path, graded):
    """An exercise needs RabbitMQ and the broker named does not answer: no grading (every student
    would get a zero for it), and a results.json that says why."""
    if not any(e.needs_broker for e in all_exercises()):
        pytest.skip("no exercise needs a broker")
    root = tmp_path / "autograder"
    _unpack(graded.archive, root)
    _submission(root / "submission")
    result = _run_autograder(root, KIT_AMQP_URL="amqp://guest:guest@127.0.0.1:1/%2F")
    assert result.returncode == 1, result.stdout + result.stderr
    payload = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert gradescope_problems(payload) == []
    assert payload["score"] == 0 and "RabbitMQ" in payload["output"] and "127.0.0.1:1" in payload["output"]
