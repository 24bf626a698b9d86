"""Golden grading cases: the batch grader, run as instructors run it, against hostile submissions.

``tests/cases/grading/<scenario>/`` is one student's submission (module files, flat or laid out like
``exercises/``) plus ``expected.json``; ``tests/cases/grading/<id>.zip`` is a zipped one, with
``<id>.expected.json`` beside it::

    {"description": "...",
     "scores": {"ex01_queue_basics": 18, "ex02_producer_consumer": 0, ...},   # exact, per exercise
     "feedback": ["text feedback.md must contain", ...]}

One module-scoped fixture runs ``python -m grader batch tests/cases/grading --out OUT --workers 2``
once (about a minute and a half on two cores); the slow tests below read what it wrote. The unit
tests of ``grader.grading.submission.lay_out`` and ``grader.grading.report`` at the end need no batch.

A scenario whose expected grade the grader does not give today is marked xfail(strict=True) with
the reason (KNOWN_PROBLEMS): its expected.json keeps the correct scores, so fixing the grader turns
the test into an XPASS that says "remove the mark".
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path, PurePosixPath

import psutil
import pytest

from grader.checking.exercise import KIT_ROOT, all_exercises, find
from grader.checking.results import CheckResult, Verdict
from grader.grading import report
from grader.grading.checklist import BY_COST, Check, Plan, checks_for, grading_plan, max_score
from grader.grading.sandbox import STUDENT_UID_BASE
from grader.grading.submission import MAX_MODULE_BYTES, lay_out, student_id

CASES = KIT_ROOT / "tests" / "cases" / "grading"
EXERCISES = all_exercises()
FULL = {e.name: max_score(e) for e in EXERCISES}
WORKERS = 2
BATCH_TIMEOUT = 600  # seconds; the batch takes about 90 on two cores
SANDBOX_UIDS = range(STUDENT_UID_BASE, STUDENT_UID_BASE + 64)
SESSION_MARK = "BAOZI_TEST_SESSION"  # set by tests/conftest.py, inherited by every process we start
NETWORK_PORT = 47391  # tests/cases/grading/network/queue_basics.py tries to connect here
RESUMED_STUDENT = "import_error"  # a quick one to regrade

# Scenarios the grader grades wrongly today; each reason says what goes wrong.
# Scenarios whose expected grade the grader does not give today: scenario -> why (see the module
# docstring). Empty: every golden case gets its expected grade.
KNOWN_PROBLEMS: dict[str, str] = {}
KNOWN_FEEDBACK_PROBLEMS: dict[str, dict[str, str]] = {"feedback": {}, "sections": {}}


# --------------------------------------------------------------------------- the golden cases


@dataclasses.dataclass(frozen=True)
class Scenario:
    student: str  # the id the batch gives it (folder name, or zip name without .zip)
    path: Path
    description: str
    scores: dict
    feedback: tuple


def _scenarios() -> list[Scenario]:
    found = []
    for entry in sorted(CASES.iterdir()):
        if entry.is_dir():
            expected = entry / "expected.json"
        elif entry.suffix == ".zip":
            expected = entry.with_name(f"{entry.stem}.expected.json")
        else:
            continue
        data = json.loads(expected.read_text(encoding="utf-8"))
        found.append(Scenario(student_id(entry), entry, data["description"], data["scores"],
                              tuple(data["feedback"])))
    return found


SCENARIOS = _scenarios()


def _params(kind: str):
    """Every scenario, marked xfail(strict=True) where the grader is known to get `kind` wrong."""
    known = KNOWN_PROBLEMS if kind == "scores" else KNOWN_FEEDBACK_PROBLEMS[kind]
    marked = []
    for scenario in SCENARIOS:
        marks = ()
        if scenario.student in known:
            marks = pytest.mark.xfail(strict=True, reason=known[scenario.student])
        marked.append(pytest.param(scenario, id=scenario.student, marks=marks))
    return marked


def test_the_golden_cases_are_complete():
    names = {s.student for s in SCENARIOS}
    wanted = {"full_marks", "flat_layout", "partial", "missing_files", "syntax_error", "import_error",
              "hang_everywhere", "leak", "endless_output", "os_exit_at_import", "sys_exit_at_import",
              "kill_parent", "ignore_sigterm", "fork_bomb", "memory_hog", "reads_solutions", "network",
              "conftest_ignored", "zipped", "pickle_answer"}
    assert wanted <= names, f"missing scenarios: {sorted(wanted - names)}"
    for scenario in SCENARIOS:
        assert set(scenario.scores) == set(FULL), f"{scenario.student}: scores must name every exercise"
        for name, score in scenario.scores.items():
            assert 0 <= score <= FULL[name], f"{scenario.student}: {name} {score} / {FULL[name]}"
        assert scenario.description and scenario.feedback, scenario.student
    assert (CASES / "full_marks" / "ex03_sentinel").is_dir(), "full_marks is laid out like exercises/"
    assert not any(p.is_dir() for p in (CASES / "flat_layout").iterdir()), "flat_layout is flat"
    with zipfile.ZipFile(CASES / "zipped.zip") as archive:
        tops = {PurePosixPath(name).parts[0] for name in archive.namelist()}
    assert len(tops) == 1, f"zipped.zip has one top folder, not {sorted(tops)}"


def test_the_right_modules_are_the_reference_solutions():
    """Scenarios that expect an exercise's full marks for a reference module hold an exact copy
    of it, so a change to a solution cannot leave them behind."""
    solutions = {e.name: (KIT_ROOT / "solutions" / e.name / f"{e.module}.py").read_bytes()
                 for e in EXERCISES}
    modules = {e.module: e.name for e in EXERCISES}
    checked = 0
    for scenario in SCENARIOS:
        if scenario.path.is_dir():
            files = {p.relative_to(scenario.path).as_posix(): p.read_bytes()
                     for p in scenario.path.rglob("*.py")}
        else:
            with zipfile.ZipFile(scenario.path) as archive:
                files = {n: archive.read(n) for n in archive.namelist() if n.endswith(".py")}
        for relative, data in files.items():
            exercise = modules.get(PurePosixPath(relative).stem)
            if exercise and scenario.scores[exercise] == FULL[exercise] and scenario.student != "network":
                assert data == solutions[exercise], f"{scenario.student}/{relative} is not the solution"
                checked += 1
    assert checked >= 20


# --------------------------------------------------------------------------- running the batch


def _hash_tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (and mode) of every file and link under `root`."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            hashes[relative] = "link:" + os.readlink(path)
        elif path.is_file():
            mode = stat.S_IMODE(path.stat().st_mode)
            hashes[relative] = f"{mode:o}:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


class _Listener:
    """A TCP listener on 127.0.0.1 that records what connects while the batch runs."""

    def __init__(self, port: int):
        self.connections: list[bytes] = []
        self.error = None
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind(("127.0.0.1", port))
            self._sock.listen(16)
            self._sock.settimeout(0.2)
        except OSError as exc:
            self.error = f"cannot listen on 127.0.0.1:{port}: {exc}"
            self._sock.close()
            return
        self._thread = threading.Thread(target=self._serve, daemon=True, name="golden-listener")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # the timeout, or the socket closed
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    self.connections.append(conn.recv(200))
                except OSError:
                    self.connections.append(b"")

    def close(self) -> None:
        if self.error is None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._sock.close()


@dataclasses.dataclass
class BatchRun:
    out: Path
    returncode: int
    output: str  # stdout and stderr of the CLI
    seconds: float
    ended: float  # time.monotonic() when the CLI returned

    def lines(self) -> list[str]:
        """The progress lines: '[i/n] student: ...'."""
        return [line for line in self.output.splitlines() if line.startswith("[")]


def run_cli_batch(submissions: Path, out: Path) -> BatchRun:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out),
         "--workers", str(WORKERS)],
        cwd=KIT_ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BATCH_TIMEOUT)
    ended = time.monotonic()
    return BatchRun(out, result.returncode, result.stdout + result.stderr, ended - started, ended)


@dataclasses.dataclass
class Golden:
    run: BatchRun
    before: dict[str, str]
    after: dict[str, str]
    listener: _Listener

    def results(self, student: str) -> dict:
        return json.loads((self.run.out / student / "results.json").read_text(encoding="utf-8"))

    def feedback(self, student: str) -> str:
        return (self.run.out / student / "feedback.md").read_text(encoding="utf-8")

    def rows(self) -> list[dict]:
        text = (self.run.out / "grades.csv").read_text(encoding="utf-8")
        return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Golden:
    """The batch over tests/cases/grading, run once for the whole module, as instructors run it."""
    before = _hash_tree(CASES)
    listener = _Listener(NETWORK_PORT)
    try:
        run = run_cli_batch(CASES, tmp_path_factory.mktemp("golden") / "out")
    finally:
        listener.close()
    return Golden(run, before, _hash_tree(CASES), listener)


def _describe(run: BatchRun) -> str:
    return f"exit status {run.returncode} after {run.seconds:.0f} s; output:\n{run.output[-3000:]}"


# --------------------------------------------------------------------------- (a) every scenario's grade


@pytest.mark.slow
@pytest.mark.parametrize("scenario", _params("scores"))
def test_scores(golden, scenario):
    """grades.csv and results.json give each exercise exactly its expected score."""
    rows = {row["student"]: row for row in golden.rows()}
    assert scenario.student in rows, f"no grades.csv row for {scenario.student}; {_describe(golden.run)}"
    row = rows[scenario.student]
    from_csv = {name: float(row[name]) for name in FULL}
    results = golden.results(scenario.student)
    from_json = {name: float(results["extra_data"]["exercises"][name][0]) for name in FULL}
    by_tests = {name: 0.0 for name in FULL}
    for test in results["tests"]:
        by_tests[test["name"].split(":")[0]] += test["score"]
    expected = {name: float(score) for name, score in scenario.scores.items()}

    should_pass = {name for name, score in scenario.scores.items() if score == FULL[name]}
    failing = {t["name"]: t["output"].splitlines()[0][:200] for t in results["tests"]
               if t["status"] != "passed" and t["name"].split(":")[0] in should_pass}
    assert from_csv == expected, (f"{scenario.student}: grades.csv {from_csv}, expected {expected}; "
                                  f"failed checks of exercises that should be full: {failing}")
    assert from_json == expected, f"{scenario.student}: results.json extra_data {from_json}"
    by_tests = {name: round(score, 2) for name, score in by_tests.items()}
    assert by_tests == expected, f"{scenario.student}: the tests of results.json add up to {by_tests}"
    assert float(row["total"]) == pytest.approx(sum(expected.values()))
    assert results["score"] == pytest.approx(sum(expected.values()))
    assert int(row["max_score"]) == sum(FULL.values())


@pytest.mark.slow
@pytest.mark.parametrize("scenario", _params("feedback"))
def test_feedback(golden, scenario):
    """feedback.md holds the expected explanations."""
    text = golden.feedback(scenario.student)
    assert text.startswith(f"# Feedback for {scenario.student}")
    missing = [snippet for snippet in scenario.feedback if snippet not in text]
    assert not missing, f"{scenario.student}: feedback.md lacks {missing}:\n{text[-1500:]}"


@pytest.mark.slow
@pytest.mark.parametrize("scenario", _params("sections"))
def test_feedback_has_a_section_for_every_exercise(golden, scenario):
    """Each exercise gets its heading with its score in feedback.md, however long the rest is."""
    text = golden.feedback(scenario.student)
    results = golden.results(scenario.student)
    missing = []
    for exercise in EXERCISES:
        score, most = results["extra_data"]["exercises"][exercise.name]
        if f"{exercise.name}: {exercise.title} ({score:g} / {most})" not in text:
            missing.append(exercise.name)
    assert not missing, (f"{scenario.student}: feedback.md ({len(text)} characters) has no section "
                         f"for {missing}")


@pytest.mark.slow
def test_hostile_code_could_not_read_the_kit(golden):
    """reads_solutions found the solutions and the golden submissions hidden: nothing was read."""
    outputs = "\n".join(t["output"] for t in golden.results("reads_solutions")["tests"]
                        if t["name"].startswith("ex03_sentinel"))
    assert "could not read any solution" in outputs
    assert ": READ " not in outputs, "the submission read a solution:\n" + outputs[:2000]


@pytest.mark.slow
def test_code_that_reaches_for_the_kit_is_listed_for_review_not_told_to_the_student(golden):
    """reads_solutions imports the kit and names its files: summary.md and results.json list it for
    the instructor, its feedback does not, and no right submission is listed."""
    flagged = golden.results("reads_solutions")["extra_data"]["review"]
    assert any("imports the grading kit" in hit for hit in flagged), flagged
    assert any("kit's files" in hit for hit in flagged), flagged
    attack = golden.results("pickle_answer")["extra_data"]["review"]
    assert any("pickles itself" in hit for hit in attack) and any("file descriptor" in hit for hit in attack)
    for student in ("forged_answer", "patches_kit", "forged_registry", "forged_counts"):  # seen at run time
        hits = golden.results(student)["extra_data"]["review"]
        assert any(": at run time, " in hit and "ex03_sentinel/" in hit for hit in hits), (student, hits)
    feedback = golden.feedback("reads_solutions")
    assert not any(hit in feedback for hit in flagged), "the review list reached the student's feedback"
    for student in ("full_marks", "flat_layout", "zipped"):
        assert golden.results(student)["extra_data"]["review"] == [], student
    summary = (golden.run.out / "summary.md").read_text(encoding="utf-8")
    section = summary.split("## Submissions to review", 1)[1]
    assert "- reads_solutions: sentinel.py:" in section and "- pickle_answer: sentinel.py:" in section
    assert "full_marks" not in section


@pytest.mark.slow
def test_no_hidden_check_reaches_what_a_student_sees(golden):
    """prints_hidden raises every hidden check it can find: none reaches any feedback or results."""
    from grader.grading.hidden import CANARY

    for scenario in SCENARIOS:
        seen = golden.feedback(scenario.student) + json.dumps(golden.results(scenario.student)["tests"])
        assert CANARY not in seen, f"{scenario.student}: a hidden check reached the student"
    hits = golden.results("prints_hidden")["extra_data"]["review"]
    assert any("looks through folders" in hit for hit in hits), hits


@pytest.mark.slow
def test_no_submission_reached_the_network(golden):
    if golden.listener.error:
        pytest.skip(golden.listener.error)
    assert golden.listener.connections == [], f"connections from the sandbox: {golden.listener.connections}"


# --------------------------------------------------------------------------- (b) submissions untouched


@pytest.mark.slow
def test_the_submissions_are_unchanged(golden):
    assert golden.before, "no files hashed"
    added = sorted(set(golden.after) - set(golden.before))
    removed = sorted(set(golden.before) - set(golden.after))
    changed = sorted(p for p in golden.before if p in golden.after and golden.before[p] != golden.after[p])
    assert not (added or removed or changed), f"added {added}, removed {removed}, changed {changed}"


# --------------------------------------------------------------------------- (c) the gradebook's shape


@pytest.mark.slow
def test_the_batch_exits_0_with_one_row_per_submission(golden):
    assert golden.run.returncode == 0, _describe(golden.run)
    students = [row["student"] for row in golden.rows()]
    assert sorted(students) == sorted(s.student for s in SCENARIOS), students
    assert len(students) == len(set(students))
    assert (golden.run.out / "summary.md").is_file()
    assert len(golden.run.lines()) == len(SCENARIOS), golden.run.lines()


@pytest.mark.slow
def test_every_exercise_keeps_its_full_max_score(golden):
    """Whatever a submission did, every test is named after its exercise and each exercise's
    max_score adds up to its full max."""
    for scenario in SCENARIOS:
        results = golden.results(scenario.student)
        maxima = {name: 0 for name in FULL}
        for test in results["tests"]:
            exercise = test["name"].split(":")[0]
            assert exercise in FULL, f"{scenario.student}: test {test['name']!r} names no exercise folder"
            assert test["name"].startswith(exercise)
            assert 0 <= test["score"] <= test["max_score"]
            assert test["status"] in ("passed", "failed")
            maxima[exercise] += test["max_score"]
        assert maxima == FULL, f"{scenario.student}: max scores {maxima}"
        assert {k: v[1] for k, v in results["extra_data"]["exercises"].items()} == FULL


# --------------------------------------------------------------------------- (d) nothing left running


def _leftovers() -> list[str]:
    """Processes of this test session's batches: a runner, a driver, or anything of a sandbox uid."""
    mark = os.environ.get(SESSION_MARK)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "uids", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            command = " ".join(proc.info["cmdline"] or [])
            ours = any(name in command
                       for name in ("grader.grading.runner", "grader.checking.driver", "grader.checking.zygote"))
            uids = proc.info["uids"]
            sandboxed = uids is not None and uids.real in SANDBOX_UIDS
            if not (ours or sandboxed):
                continue
            try:
                if mark and proc.environ().get(SESSION_MARK) != mark:
                    continue  # another session's grader: not ours to judge
            except psutil.AccessDenied:
                pass
            found.append(f"pid {proc.pid} uid {uids.real if uids else '?'}: {command[:150]}")
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_nothing_of_the_batch_is_left_running(golden):
    deadline = golden.run.ended + 5.0
    left = _leftovers()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _leftovers()
    assert not left, "still running after the batch ended:\n" + "\n".join(left)


# --------------------------------------------------------------------------- (e) resuming


@pytest.mark.slow
def test_a_second_run_regrades_nothing_and_a_deleted_result_only(golden, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(golden.run.out, out)
    grades = (out / "grades.csv").read_text(encoding="utf-8")

    again = run_cli_batch(CASES, out)
    assert again.returncode == 0, _describe(again)
    lines = again.lines()
    assert len(lines) == len(SCENARIOS), lines
    assert all("already graded" in line for line in lines), lines
    assert again.seconds < 30, f"nothing to grade, yet it took {again.seconds:.1f} s"
    assert (out / "grades.csv").read_text(encoding="utf-8") == grades

    (out / RESUMED_STUDENT / "results.json").unlink()
    resumed = run_cli_batch(CASES, out)
    assert resumed.returncode == 0, _describe(resumed)
    regraded = [line for line in resumed.lines() if "already graded" not in line]
    assert len(regraded) == 1 and f"] {RESUMED_STUDENT}: " in regraded[0], resumed.lines()
    assert len(resumed.lines()) == len(SCENARIOS)
    assert (out / RESUMED_STUDENT / "results.json").is_file()
    assert (out / "grades.csv").read_text(encoding="utf-8") == grades



def test_a_grade_made_by_another_kit_or_with_other_options_is_graded_again(tmp_path):
    from grader.grading import batch, pipeline

    exercises = [find("ex01_queue_basics")]
    source = tmp_path / "alice"
    shutil.copytree(KIT_ROOT / "solutions" / "ex01_queue_basics", source / "ex01_queue_basics")
    digest = lay_out(source, exercises, tmp_path / "impl").digest
    options = pipeline.Options(sandbox=None, seed=1, scale=1.0)
    key = pipeline.grading_key(options, exercises)
    pipeline.write_grade(tmp_path / "out", "alice", digest, exercises, [], key=key)
    assert batch.already_graded(source, tmp_path / "out", exercises, key) is not None
    for other in (dataclasses.replace(options, seed=2), dataclasses.replace(options, scale=2.0)):
        assert pipeline.grading_key(other, exercises) != key
        assert batch.already_graded(source, tmp_path / "out", exercises, pipeline.grading_key(other, exercises)) is None
    with pytest.MonkeyPatch.context() as patch:  # a kit whose code or checks changed
        patch.setattr(pipeline, "fingerprint", lambda: "another kit")
        assert pipeline.grading_key(options, exercises) != key


# --------------------------------------------------------------------------- a hostile archive


def _corrupt_zip(path: Path) -> None:
    """A zip whose sentinel.py is stored with a wrong CRC (one byte flipped after writing)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("ex03_sentinel/sentinel.py", "def run(items):\n    return list(items)\n")
    data = bytearray(buffer.getvalue())
    data[data.index(b"return list")] ^= 0x20
    path.write_bytes(bytes(data))


def test_lay_out_reports_a_corrupt_zip_member(tmp_path):
    _corrupt_zip(tmp_path / "corrupt.zip")
    layout = lay_out(tmp_path / "corrupt.zip", EXERCISES, tmp_path / "impl")
    assert "ex03_sentinel" in layout.problems


@pytest.mark.slow
def test_a_corrupt_zip_does_not_break_the_batch(tmp_path):
    submissions = tmp_path / "submissions"
    (submissions / "nothing_handed_in").mkdir(parents=True)
    (submissions / "nothing_handed_in" / "README.txt").write_text("sorry\n")
    _corrupt_zip(submissions / "corrupt.zip")
    run = run_cli_batch(submissions, tmp_path / "out")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "grades.csv").read_text(encoding="utf-8"))))
    assert run.returncode == 0, _describe(run)
    assert sorted(row["student"] for row in rows) == ["corrupt", "nothing_handed_in"]


# --------------------------------------------------------------------------- (f) lay_out


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _zip(path: Path, members: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), text)


def _laid_out(dest: Path) -> dict[str, str]:
    return {p.relative_to(dest).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(dest.rglob("*")) if p.is_file()}


def test_lay_out_nested(tmp_path):
    _write(tmp_path / "alice", {"ex01_queue_basics/queue_basics.py": "# one\n",
                                "ex03_sentinel/sentinel.py": "# three\n",
                                "ex03_sentinel/test_sentinel.py": "# the student's copy of the tests\n"})
    layout = lay_out(tmp_path / "alice", EXERCISES, tmp_path / "impl")
    assert layout.student == "alice"
    assert layout.found == {"ex01_queue_basics": "ex01_queue_basics/queue_basics.py",
                            "ex03_sentinel": "ex03_sentinel/sentinel.py"}
    assert _laid_out(tmp_path / "impl") == {"ex01_queue_basics/queue_basics.py": "# one\n",
                                            "ex03_sentinel/sentinel.py": "# three\n"}
    assert layout.problems == {e.name: f"no {e.module}.py in the submission" for e in EXERCISES
                               if e.name not in ("ex01_queue_basics", "ex03_sentinel")}
    assert layout.ignored == ["ex03_sentinel/test_sentinel.py"]


def test_lay_out_flat(tmp_path):
    _write(tmp_path / "bob", {"queue_basics.py": "# one\n", "many.py": "# four\n", "notes.txt": "hi\n"})
    layout = lay_out(tmp_path / "bob", EXERCISES, tmp_path / "impl")
    assert layout.found == {"ex01_queue_basics": "queue_basics.py", "ex04_many": "many.py"}
    assert _laid_out(tmp_path / "impl") == {"ex01_queue_basics/queue_basics.py": "# one\n",
                                            "ex04_many/many.py": "# four\n"}
    assert layout.ignored == []


def test_lay_out_prefers_the_exercise_folder(tmp_path):
    _write(tmp_path / "carol", {"sentinel.py": "# an old draft\n", "ex03_sentinel/sentinel.py": "# final\n"})
    layout = lay_out(tmp_path / "carol", EXERCISES, tmp_path / "impl")
    assert layout.found["ex03_sentinel"] == "ex03_sentinel/sentinel.py"
    assert (tmp_path / "impl" / "ex03_sentinel" / "sentinel.py").read_text() == "# final\n"
    assert layout.ignored == ["sentinel.py"]


def test_lay_out_zip_with_a_top_folder(tmp_path):
    _zip(tmp_path / "dave.zip", {"homework/ex03_sentinel/sentinel.py": "# three\n",
                                 "homework/queue_basics.py": "# one\n", "homework/README.md": "hi\n"})
    layout = lay_out(tmp_path / "dave.zip", EXERCISES, tmp_path / "impl")
    assert layout.student == "dave"
    assert layout.found == {"ex01_queue_basics": "homework/queue_basics.py",
                            "ex03_sentinel": "homework/ex03_sentinel/sentinel.py"}
    assert _laid_out(tmp_path / "impl") == {"ex01_queue_basics/queue_basics.py": "# one\n",
                                            "ex03_sentinel/sentinel.py": "# three\n"}


def test_lay_out_ignores_zip_entries_that_climb_out_or_are_absolute(tmp_path):
    (tmp_path / "box").mkdir()
    _zip(tmp_path / "box" / "eve.zip", {"../queue_basics.py": "# climbs out\n",
                                        "ok/../../many.py": "# climbs out too\n",
                                        "/abs/ex03_sentinel/sentinel.py": "# absolute\n",
                                        "ex02_producer_consumer/producer_consumer.py": "# two\n"})
    layout = lay_out(tmp_path / "box" / "eve.zip", EXERCISES, tmp_path / "box" / "impl")
    assert layout.found == {"ex02_producer_consumer": "ex02_producer_consumer/producer_consumer.py"}
    assert set(layout.problems) == {e.name for e in EXERCISES} - {"ex02_producer_consumer"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box"]
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["eve.zip", "impl"]
    assert _laid_out(tmp_path / "box" / "impl") == {"ex02_producer_consumer/producer_consumer.py": "# two\n"}


def test_lay_out_does_not_follow_links(tmp_path):
    secret = tmp_path / "secret"
    _write(secret, {"sentinel.py": "# the reference solution\n", "ex04_many/many.py": "# four\n"})
    student = tmp_path / "mallory"
    student.mkdir()
    (student / "sentinel.py").symlink_to(secret / "sentinel.py")
    (student / "ex04_many").symlink_to(secret / "ex04_many", target_is_directory=True)
    with zipfile.ZipFile(tmp_path / "zipped_link.zip", "w") as archive:
        info = zipfile.ZipInfo("ex03_sentinel/sentinel.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, str(secret / "sentinel.py"))

    layout = lay_out(student, EXERCISES, tmp_path / "impl")
    assert layout.problems["ex03_sentinel"] == "sentinel.py is a link; links are not followed"
    assert layout.problems["ex04_many"] == "no many.py in the submission"  # the linked folder is not entered
    assert _laid_out(tmp_path / "impl") == {}

    layout = lay_out(tmp_path / "zipped_link.zip", EXERCISES, tmp_path / "impl2")
    assert layout.problems["ex03_sentinel"] == "ex03_sentinel/sentinel.py is a link; links are not followed"
    assert _laid_out(tmp_path / "impl2") == {}


def test_lay_out_lists_conftest_as_ignored(tmp_path):
    _write(tmp_path / "frank", {"conftest.py": "# makes every test pass\n", "queue_basics.py": "# one\n",
                                "helpers/util.py": "# a helper\n"})
    layout = lay_out(tmp_path / "frank", EXERCISES, tmp_path / "impl")
    assert layout.ignored == ["conftest.py", "helpers/util.py"]
    assert _laid_out(tmp_path / "impl") == {"ex01_queue_basics/queue_basics.py": "# one\n"}


def test_lay_out_reports_every_missing_module(tmp_path):
    (tmp_path / "grace").mkdir()
    layout = lay_out(tmp_path / "grace", EXERCISES, tmp_path / "impl")
    assert layout.found == {}
    assert layout.problems == {e.name: f"no {e.module}.py in the submission" for e in EXERCISES}


def test_lay_out_refuses_an_oversized_module_and_an_unreadable_zip(tmp_path):
    _write(tmp_path / "heidi", {"many.py": "#" * (MAX_MODULE_BYTES + 1)})
    layout = lay_out(tmp_path / "heidi", EXERCISES, tmp_path / "impl")
    assert "at most" in layout.problems["ex04_many"] and "ex04_many" not in layout.found
    (tmp_path / "ivan.zip").write_bytes(b"this is not a zip file")
    layout = lay_out(tmp_path / "ivan.zip", EXERCISES, tmp_path / "impl2")
    assert all("not a readable zip file" in p for p in layout.problems.values())
    assert len(layout.problems) == len(EXERCISES)


def test_lay_out_digest_follows_the_graded_modules_only(tmp_path):
    _write(tmp_path / "a", {"queue_basics.py": "# one\n"})
    _write(tmp_path / "b", {"ex01_queue_basics/queue_basics.py": "# one\n", "notes.md": "other\n"})
    _write(tmp_path / "c", {"queue_basics.py": "# one, changed\n"})
    digests = [lay_out(tmp_path / n, EXERCISES, tmp_path / f"impl-{n}").digest for n in "abc"]
    assert digests[0] == digests[1] != digests[2]


# --------------------------------------------------------------------------- (f) report


def _check(exercise_name: str, name: str, points: int, hidden: bool) -> Check:
    return Check(find(exercise_name), name, func=lambda kit: None, points=points, hidden=hidden)


def _result(check: Check, method: str, passed: bool, message: str = "") -> CheckResult:
    return CheckResult(check.exercise.name, check.name, method, Verdict.PASSED if passed else Verdict.FAILED,
                       check.points, message=message, seconds=0.1, hidden=check.hidden, seed=1)


def test_score_checks_counts_a_missing_run_as_a_failure():
    plan = Plan(visible=("fork", "spawn"), hidden=("forkserver", "spawn"))
    visible = _check("ex03_sentinel", "test_run_returns_every_item_in_order", 2, hidden=False)
    hidden = _check("ex03_sentinel", "check_a_long_stream", 3, hidden=True)
    never = _check("ex04_many", "test_no_items_at_all", 1, hidden=False)
    results = [_result(visible, "fork", True), _result(hidden, "spawn", True)]  # spawn never came
    tests = report.score_checks([visible, hidden, never], plan, results, "the runner was killed")

    assert [t["name"] for t in tests] == ["ex03_sentinel: run returns every item in order",
                                          "ex03_sentinel: a long stream (hidden)",
                                          "ex04_many: no items at all"]
    first, second, third = tests
    assert (first["score"], first["max_score"], first["status"]) == (1, 2, "failed")
    assert first["output"] == "[spawn] not run: the runner was killed"
    assert first["visibility"] == "visible" and first["tags"] == ["ex03_sentinel"]
    assert (second["score"], second["max_score"], second["status"], second["output"]) == (3, 3, "passed", "")
    assert second["visibility"] == "after_published"
    assert (third["score"], third["status"]) == (0, "failed")
    assert third["output"] == "[fork] not run: the runner was killed\n\n[spawn] not run: the runner was killed"


def test_score_checks_quotes_each_failure_with_its_start_method():
    plan = Plan(visible=("spawn", "forkserver"), hidden=("spawn",))
    visible = _check("ex04_many", "test_no_items_at_all", 1, hidden=False)
    results = [_result(visible, "spawn", False, "HANG: run(batches, 3)"),
               _result(visible, "forkserver", False, "LEAK")]
    (test,) = report.score_checks([visible], plan, results, "unused")
    assert test["score"] == 0 and test["status"] == "failed"
    assert test["output"] == "[spawn] HANG: run(batches, 3)\n\n[forkserver] LEAK"


def test_the_first_hidden_checks_take_the_dearer_start_methods_and_the_rest_the_cheapest():
    """Each hidden check runs once, and each exercise still runs under every start method there is:
    its first hidden checks under the dearer methods, one each, the rest under the cheapest."""
    plan = grading_plan()
    everywhere = set(plan.visible + plan.hidden)
    assert everywhere == set(multiprocessing.get_all_start_methods())
    assert list(plan.hidden) == sorted(plan.hidden, key=BY_COST.index)
    for exercise in all_exercises():
        checks = checks_for(exercise)
        assert {method for _, method in plan.runs(checks)} == everywhere, exercise.name
        hidden = [check for check in checks if check.hidden]
        assert all(len(plan.methods(check)) == 1 for check in hidden)
        dearer = len(plan.hidden) - 1
        assert [plan.methods(check)[0] for check in hidden[:dearer]] == list(plan.hidden[1:])
        assert all(plan.methods(check) == plan.hidden[:1] for check in hidden[dearer:])
        assert all(plan.methods(check) == plan.visible for check in checks if not check.hidden)
    linux = Plan(visible=("fork",), hidden=("forkserver", "spawn"))
    hidden = [check for check in checks_for(find("ex05_joinable")) if check.hidden]
    assert [linux.methods(check) for check in hidden] == [("spawn",), ("forkserver",), ("forkserver",), ("forkserver",)]
    # where the default is spawn (macOS), one check runs under forkserver, the rest under fork
    mac = Plan(visible=("spawn",), hidden=("fork", "forkserver"))
    assert [mac.methods(check) for check in hidden] == [("forkserver",), ("fork",), ("fork",), ("fork",)]


@pytest.mark.parametrize("cores, quota, workers, expected", [
    (2, None, 1, 12), (2, None, 2, 6), (2, None, 16, 1), (64, None, 1, 16),  # 6 per core, shared, at most 16
    (8, 2.5, 1, 12), (8, 0.5, 1, 6),  # a container's CPU limit: 2 cores, then (half a core) 1
])
def test_the_grader_runs_six_checks_per_usable_core_shared_among_its_submissions(
        monkeypatch, cores, quota, workers, expected):
    from grader.checking import settings

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(settings, "_cgroup_cpu_quota", lambda: quota)
    assert settings.grading_concurrency(workers) == expected


@pytest.mark.parametrize("files, quota", [
    ({"cpu.max": "150000 100000\n"}, 1.5), ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu.max": "garbled\n"}, None), ({}, None),
])
def test_a_cgroups_cpu_quota_is_read_from_either_version(tmp_path, files, quota):
    from grader.checking import settings

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert settings._cgroup_cpu_quota(str(tmp_path)) == quota


@pytest.mark.parametrize("data", [None, [], {"visible": ["fork"]}, {"visible": ["fork"], "hidden": [3]},
                                  {"visible": "fork", "hidden": ["spawn"]}, {"visible": ["fork"], "hidden": []}])
def test_a_plan_sent_by_another_process_must_name_its_start_methods(data):
    with pytest.raises(ValueError):
        Plan.from_json(data)
    assert Plan.from_json(grading_plan().to_json()) == grading_plan()


def _tests(*rows) -> list[dict]:
    return [{"name": name, "score": score, "max_score": most,
             "status": "passed" if score == most else "failed", "output": output,
             "visibility": "visible", "tags": [name.split(":")[0]]}
            for name, score, most, output in rows]


def test_summary_md_gives_the_class_at_a_glance():
    results = {
        "zoe": {"score": 65, "tests": _tests(("ex03_sentinel: run returns every item in order", 2, 2, ""),
                                             ("ex04_many: no items at all", 1, 1, ""))},
        "yan": {"score": 20, "tests": _tests(
            ("ex03_sentinel: run returns every item in order", 0, 2,
             "[fork] HANG: run(items) did not finish within its 1.6 s budget (start method fork)."),
            ("ex04_many: no items at all", 1, 1, ""))},
        "xia": {"score": 10, "tests": _tests(
            ("ex03_sentinel: run returns every item in order", 0, 2,
             "[fork] HANG: run(items) did not finish within its 2.4 s budget (start method fork)."),
            ("ex04_many: no items at all", 0, 1, "[fork] Likely cause: 2 consumers but 1 sentinel"))},
    }
    text = report.summary_md(results, EXERCISES, 65)
    assert text.startswith("# Class summary\n")
    assert "3 submissions graded; maximum score 65." in text
    assert "Mean 31.7, median 20, full marks: 1." in text
    assert "## Score distribution" in text and "## Failure rate of every check" in text
    rates = [line for line in text.splitlines() if line.startswith(("ex03_sentinel: run", "ex04_many: no"))]
    assert rates[0].endswith(" 67%") and rates[1].endswith(" 33%"), rates
    # the two hangs differ only in numbers: one reason, counted twice
    assert ("- 2× ex03_sentinel: HANG: run(items) did not finish within its N s budget "
            "(start method fork).") in text
    assert "- 1× ex04_many: N consumers but N sentinel" in text


def test_summary_md_of_an_empty_class():
    text = report.summary_md({}, EXERCISES, 65)
    assert "0 submissions graded; maximum score 65." in text
    assert "Mean" not in text


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "er" / "grades.csv"
    report.atomic_write(target, "first\n")
    assert target.read_text(encoding="utf-8") == "first\n"
    report.atomic_write(target, "second, ünïcödé\n")
    assert target.read_text(encoding="utf-8") == "second, ünïcödé\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["grades.csv"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "results.json"
    report.atomic_write(target, "old")
    with pytest.raises(TypeError):
        report.atomic_write(target, None)  # write(None) fails half-way through
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_feedback_gives_each_cause_one_report():
    """Checks of an exercise that failed with one cause: the first shows the report, the others
    name it in one line; a failure without a known cause keeps its own report."""
    ex03 = find("ex03_sentinel")
    hang = "HANG: run(items) is deadlocked\n  main blocked in c.join() at sentinel.py:30\nLikely cause: no sentinel"
    tests = [{"name": f"ex03_sentinel: {name}", "score": 0, "max_score": 1, "status": "failed",
              "output": output, "visibility": "visible", "tags": ["ex03_sentinel"]}
             for name, output in (("first", hang), ("second", hang.replace("items", "items, 5")),
                                  ("third", "FAILED: something else"))]
    causes = {"ex03_sentinel: first": "hang\x1fmain:30", "ex03_sentinel: second": "hang\x1fmain:30",
              "ex03_sentinel: third": ""}
    text = report.feedback_md("s1", tests, [ex03], [], causes)
    assert text.count("blocked in c.join()") == 1
    second = text.split("### ex03_sentinel: second")[1].split("###")[0]
    assert "Same cause as ex03_sentinel: first" in second and "HANG: run(items, 5) is deadlocked" in second
    assert "FAILED: something else" in text.split("### ex03_sentinel: third")[1]
    # without causes (an old result, a record without one), every report is whole
    assert report.feedback_md("s1", tests, [ex03], []).count("blocked in c.join()") == 2


def test_the_cause_of_a_check_is_that_of_its_first_failed_run():
    ex03 = find("ex03_sentinel")
    checks = [Check(ex03, "test_run_returns_every_item_in_order", lambda kit: None, 2, False),
              Check(ex03, "test_producer_puts_only_the_items", lambda kit: None, 1, False)]
    results = [_result(checks[0], "fork", True), dataclasses.replace(_result(checks[0], "spawn", False), cause="a"),
               dataclasses.replace(_result(checks[0], "forkserver", False), cause="b"),
               _result(checks[1], "fork", True)]
    assert report.failure_causes(checks, results) == {checks[0].title: "a", checks[1].title: ""}
