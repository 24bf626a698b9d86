"""Batch grading on RabbitMQ workers (issue 6), against real brokers and real workers.

Every test here runs ``python -m grader batch ... --broker URL`` and ``python -m grader worker``
as separate processes, as instructors run them, on a **private** RabbitMQ node (``tests/broker.py``)
that the tests may stop and restart without disturbing the machine's shared broker. Each test uses
queues of its own. Waits are bounded (a deadline on a condition of the processes' output), and
every process a test starts is ended by pid when it ends (the ``procs`` fixture).

The class graded here is built from cheap but real submissions: reference modules from
``solutions/`` and broken ones from ``tests/cases/`` (a partial drain, a missing sentinel, an import
error, a syntax error, nothing at all, a zip), several copies of each under other student ids.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from grader.checking.amqp import unique_name
from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR, all_exercises, kit_fingerprint
from grader.grading.checklist import checks_for, grading_plan, max_score
from grader.grading.slots import FIRST_SLOT_ENV, LOCK_DIR_ENV, lock_dir
from grader.distributed.jobs import RESULTS_KEY_ENV

sys.path.insert(0, str(Path(__file__).parent))
from broker import PrivateBroker  # noqa: E402
from runners import runners_below  # noqa: E402

EXERCISES = all_exercises()
FULL = {e.name: max_score(e) for e in EXERCISES}
CASES = KIT_ROOT / "tests" / "cases"
COPIES = 3  # of each kind of submission: 9 kinds, 27 submissions (enough to restart the broker mid-batch)
SCALE = "3"  # --budget-scale: the machine is shared and busy; verdicts must not depend on it
# Checks of one submission at once, in the big class's batches: what is tested here is the jobs'
# way through the broker, and the suite runs other batches beside this one (tests/conftest.py).
CONCURRENCY = "2"
BATCH_TIMEOUT = 900.0  # seconds; the big batch takes about two minutes on two quiet cores
STATE_FILE = ".broker-batch.json"


# --------------------------------------------------------------------------- the class


def _module(exercise: str) -> Path:
    for e in EXERCISES:
        if e.name == exercise:
            return SOLUTIONS_DIR / e.name / f"{e.module}.py"
    raise LookupError(exercise)


def _copy(files: list[Path], folder: Path, nested: bool = False) -> None:
    folder.mkdir(parents=True)
    for path in files:
        target = folder / (path.parent.name if nested else "") / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


def _kinds() -> dict:
    """Kind of submission -> how to make one at a path (a folder, or a .zip beside it)."""

    def zipped(path: Path) -> None:
        with zipfile.ZipFile(path.with_suffix(".zip"), "w") as archive:
            archive.write(_module("ex01_queue_basics"), "homework/queue_basics.py")

    def nothing(path: Path) -> None:
        path.mkdir(parents=True)
        (path / "README.txt").write_text("nothing handed in\n")

    return {
        "queue_ok": lambda p: _copy([_module("ex01_queue_basics")], p),
        "sentinel_ok": lambda p: _copy([_module("ex03_sentinel")], p, nested=True),
        "drain_partial": lambda p: _copy([CASES / "ex01_queue_basics" / "drain_partial" / "queue_basics.py"], p),
        "no_sentinel": lambda p: _copy([CASES / "ex03_sentinel" / "no_sentinel" / "sentinel.py"], p),
        "import_error": lambda p: shutil.copytree(CASES / "grading" / "import_error", p),
        "missing_files": lambda p: shutil.copytree(CASES / "grading" / "missing_files", p),
        "syntax_error": lambda p: shutil.copytree(CASES / "grading" / "syntax_error", p),
        "nothing": nothing,
        "zipped": zipped,
    }


def build_class(folder: Path, copies: int = COPIES, kinds: list[str] | None = None) -> list[str]:
    """Make the class; returns the student ids."""
    makers = _kinds()
    folder.mkdir(parents=True)
    students = []
    for copy in range(copies):
        for kind in kinds or makers:
            student = f"{kind}-{copy}"
            makers[kind](folder / student)
            students.append(student)
    return sorted(students)


def rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))))


# --------------------------------------------------------------------------- processes


class Proc:
    """A process started by a test; its output (stdout and stderr) is read line by line."""

    def __init__(self, argv: list[str], name: str, env: dict | None = None):
        self.name = name
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(argv, cwd=KIT_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"read-{name}")
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, predicate, timeout: float, what: str):
        """Wait until `predicate(lines)` is true (returns its value); fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(self.lines)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._reader.is_alive()):
                    pytest.fail(f"{self.name}: {what} did not happen within {timeout:.0f} s "
                                f"(exit status {self.popen.poll()}); its output:\n" + self.text()[-4000:])
                self._changed.wait(min(left, 1.0))

    def matches(self, pattern: str) -> list[re.Match]:
        with self._changed:
            return [m for m in (re.search(pattern, line) for line in self.lines) if m]

    def text(self) -> str:
        return "\n".join(self.lines)

    def wait(self, timeout: float) -> int:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not end within {timeout:.0f} s; its output:\n{self.text()[-4000:]}")
        self._reader.join(timeout=10)
        return code

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)


RESULTS_KEY = "baozi-test-results-key"  # what the test's batches and workers share (jobs.RESULTS_KEY_ENV)


class Procs:
    """Starts the kit's processes for a test, and ends every one of them (by pid) afterwards.

    Their temporary folders go into one folder of the test's, removed at the end: a process the test
    SIGKILLs cannot remove its own. The grading slots' locks stay machine-wide.
    """

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="baozi-test-"))
        self.tmp.chmod(0o755)  # without bubblewrap, the checks' users read their modules below it
        self.started: list[Proc] = []

    def start(self, argv: list[str], name: str, env: dict | None = None) -> Proc:
        base = os.environ if env is None else env
        env = {**base, "TMPDIR": str(self.tmp), LOCK_DIR_ENV: base.get(LOCK_DIR_ENV) or str(lock_dir()),
               RESULTS_KEY_ENV: RESULTS_KEY}
        proc = Proc([sys.executable, "-m", "grader", *argv], name, env)
        self.started.append(proc)
        return proc

    def worker(self, url: str, queue: str, name: str, *extra: str) -> Proc:
        return self.start(["worker", "--broker", url, "--queue", queue, *extra], name)

    def batch(self, folder: Path, out: Path, url: str, queue: str, *extra: str) -> Proc:
        return self.start(["batch", str(folder), "--out", str(out), "--broker", url, "--queue", queue,
                           "--budget-scale", SCALE, *extra], f"batch {out.name}")

    def close(self) -> None:
        for proc in self.started:
            proc.signal(signal.SIGTERM)  # a worker leaves at once, its job goes back to the queue
        for proc in self.started:
            try:
                proc.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout=20)
        shutil.rmtree(self.tmp)


@pytest.fixture
def procs():
    started = Procs()
    yield started
    started.close()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A private RabbitMQ node for this module: the tests restart it."""
    why = PrivateBroker.unavailable()
    if why:
        if os.environ.get("KIT_REQUIRE_BROKER") == "1":
            pytest.fail(f"a private RabbitMQ node cannot run here: {why}")
        pytest.skip(f"a private RabbitMQ node cannot run here: {why}")
    node = PrivateBroker(tmp_path_factory.mktemp("rabbitmq"))
    node.start()
    yield node
    node.close()
    assert not node.pids(), f"the private broker left processes behind: {node.pids()}"


WATCHED = """
import subprocess, sys
sys.path.insert(0, sys.argv[1])
from broker import Watchdog
dog = Watchdog()
node = subprocess.Popen(["sleep", "120"], start_new_session=True)
dog.guard("session", node.pid)
print(node.pid, flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(os.name != "posix", reason="sessions and SIGKILL are POSIX")
def test_a_private_broker_dies_with_a_test_run_killed_before_it_closes():
    """A test run killed outright runs no finaliser: the private broker's watchdog ends what it
    guarded (here a `sleep` in a session of its own stands in for the node) once the run is gone."""
    run = subprocess.Popen([sys.executable, "-c", WATCHED, str(Path(__file__).parent)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    node = psutil.Process(int(run.stdout.readline()))
    try:
        run.kill()
        run.wait(timeout=10)
        _, alive = psutil.wait_procs([node], timeout=30)
        assert not alive, "the guarded process outlived the run that started it"
    finally:
        if node.is_running():
            node.kill()
        run.stdin.close()
        run.stdout.close()


@pytest.fixture(scope="module")
def big_class(tmp_path_factory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("class") / "submissions"
    return folder, build_class(folder)


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory) -> dict[str, dict]:
    """One submission of each kind graded by a local batch: the reference for the verdicts of every
    copy of it (the copies are the same files under other student ids), kind -> grades.csv row
    without its student column."""
    folder = tmp_path_factory.mktemp("reference") / "submissions"
    build_class(folder, copies=1)
    out = tmp_path_factory.mktemp("local") / "out"
    # Slots from 8: graders of older kits on this machine (other test runs) take slots 0 and 1
    # without locking them, and the users of one slot share its process limit machine-wide.
    env = {**os.environ, FIRST_SLOT_ENV: "8"}
    done = subprocess.run([sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out),
                           "--workers", "2", "--concurrency", CONCURRENCY, "--budget-scale", SCALE],
                          cwd=KIT_ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=BATCH_TIMEOUT, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return {_kind(row["student"]): _grades(row) for row in rows(out)}


def _kind(student: str) -> str:
    return student.rsplit("-", 1)[0]  # build_class names each copy KIND-COPY


def _grades(row: dict) -> dict:
    return {column: value for column, value in row.items() if column != "student"}


def _done_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if re.match(r"\[\d+/\d+\] ", line)]


# --------------------------------------------------------------------------- the "done when"


def test_workers_grade_a_class_through_a_worker_kill_and_a_broker_restart(broker, big_class, local_rows,
                                                                           tmp_path, procs):
    """27 submissions, 2 workers (then a third); one worker is SIGKILLed mid-job and the broker is
    restarted mid-batch: every submission is in grades.csv exactly once, with the local verdicts."""
    folder, students = big_class
    queue = unique_name("jobs")
    out = tmp_path / "out"
    workers = [procs.worker(broker.url, queue, f"worker-{i}") for i in range(2)]
    batch = procs.batch(folder, out, broker.url, queue, "--concurrency", CONCURRENCY)

    # A worker killed mid-job: as soon as it has taken a job, before it can answer.
    victim = workers[0]
    taken = victim.wait_until(lambda lines: [m for m in map(lambda l: re.search(r"took (\S+) \(", l), lines) if m],
                              120, "the first job taken")
    lost_student = taken[0].group(1)
    victim.signal(signal.SIGKILL)
    assert victim.wait(20) == -signal.SIGKILL
    workers.append(procs.worker(broker.url, queue, "worker-2"))

    # The broker restarted mid-batch: once a few results are in, while most jobs still wait.
    batch.wait_until(lambda lines: len(_done_lines(lines)) >= 6, BATCH_TIMEOUT, "six results collected")
    done_before_restart = len(_done_lines(batch.lines))
    broker.restart()

    assert batch.wait(BATCH_TIMEOUT) == 0, batch.text()[-4000:]
    assert done_before_restart < len(students), "the batch ended before the broker was restarted"
    assert "lost the broker" in batch.text(), "the batch never noticed the restart"
    for worker in workers[1:]:
        assert "lost the broker" in worker.text(), f"{worker.name} never noticed the restart:\n{worker.text()}"

    # Every submission exactly once, with the verdicts of a local batch of the same folder.
    got = rows(out)
    names = [row["student"] for row in got]
    assert sorted(names) == students, f"missing {set(students) - set(names)}, extra {set(names) - set(students)}"
    assert len(names) == len(set(names)), f"doubled rows: {[n for n in names if names.count(n) > 1]}"
    different = {row["student"]: (_grades(row), local_rows[_kind(row["student"])]) for row in got
                 if _grades(row) != local_rows[_kind(row["student"])]}
    assert not different, f"verdicts that differ from the local batch (broker, local): {different}"
    assert len(_done_lines(batch.lines)) == len(students)

    # The lost job was taken again by another worker; the batch cleaned up after itself.
    again = [m for w in workers[1:] for m in w.matches(rf"took {re.escape(lost_student)} \(")]
    assert again, f"{lost_student} (its worker was killed) was never taken again"
    assert not (out / STATE_FILE).exists()
    for student in students:
        results = json.loads((out / student / "results.json").read_text(encoding="utf-8"))
        assert {k: v[1] for k, v in results["extra_data"]["exercises"].items()} == FULL


def test_a_killed_batch_resumes_collecting_without_grading_again(broker, tmp_path, procs):
    folder = tmp_path / "submissions"
    students = build_class(folder, copies=1, kinds=["queue_ok", "sentinel_ok", "drain_partial",
                                                     "import_error", "missing_files", "nothing"])
    queue = unique_name("jobs")
    out = tmp_path / "out"
    worker = procs.worker(broker.url, queue, "worker")
    first = procs.batch(folder, out, broker.url, queue)
    first.wait_until(lambda lines: len(_done_lines(lines)) >= 2, BATCH_TIMEOUT, "two results collected")
    first.signal(signal.SIGKILL)
    first.wait(20)
    written = sorted(p.parent.name for p in out.glob("*/results.json"))
    assert 2 <= len(written) < len(students), written
    # The workers go on while no batch listens: their results wait in the batch's durable queue.
    worker.wait_until(lambda lines: len([l for l in lines if "job acked" in l]) >= len(students),
                      BATCH_TIMEOUT, "every job graded")

    second = procs.batch(folder, out, broker.url, queue)
    assert second.wait(BATCH_TIMEOUT) == 0, second.text()[-4000:]
    lines = _done_lines(second.lines)
    assert len(lines) == len(students), second.text()
    resumed = sorted(re.match(r"\[\d+/\d+\] (\S+): already graded", line).group(1)
                     for line in lines if "already graded" in line)
    assert resumed == written, f"already graded: {resumed}; written before the kill: {written}"
    assert "published" not in second.text(), f"the restarted batch published jobs again:\n{second.text()}"
    assert sorted(row["student"] for row in rows(out)) == students
    taken = [m.group(1) for m in worker.matches(r"took (\S+) \(")]
    assert sorted(taken) == students, f"graded more than once: {taken}"
    assert not (out / STATE_FILE).exists()


def test_ctrl_c_on_a_worker_ends_its_checks_and_gives_its_job_back(broker, tmp_path, procs):
    """A worker stopped with Ctrl-C while it grades leaves with exit status 130, ends its runner's
    processes, and the job it held goes back to the queue: the next worker grades it, once."""
    folder = tmp_path / "submissions"
    _copy([CASES / "grading" / "hang_everywhere" / "queue_basics.py"], folder / "hangs")
    queue = unique_name("jobs")
    out = tmp_path / "out"
    first = procs.worker(broker.url, queue, "first")
    batch = procs.batch(folder, out, broker.url, queue)
    first.wait_until(lambda lines: runners_below(first.popen.pid), BATCH_TIMEOUT, "a runner at work")
    at_work = runners_below(first.popen.pid)
    first.signal(signal.SIGINT)
    assert first.wait(60) == 130, first.text()[-3000:]
    assert first.matches(r"stopped \(Ctrl-C\); a job in hand goes back to the queue"), first.text()[-3000:]
    gone, alive = psutil.wait_procs(at_work, timeout=30)
    assert not alive, f"processes of the stopped checks still run: {alive}"
    assert not (out / "hangs").exists()

    second = procs.worker(broker.url, queue, "second")
    assert batch.wait(BATCH_TIMEOUT) == 0, batch.text()[-4000:]
    assert [row["student"] for row in rows(out)] == ["hangs"]
    assert [m.group(1) for m in second.matches(r"took (\S+) \(")] == ["hangs"], second.text()


def test_a_poison_submission_is_dead_lettered_and_recorded_with_its_reason(broker, tmp_path, procs):
    """A submission whose worker dies every time it takes it (the sandbox keeps student code from
    killing its grader, so this test plays the part of a submission that takes its machine down:
    it SIGKILLs each worker that takes the poison job). After --max-deliveries 2 deliveries the job
    is dead-lettered, and the batch records the submission as not gradable, with the reason."""
    folder = tmp_path / "submissions"
    _kinds()["queue_ok"](folder / "poison")
    _kinds()["sentinel_ok"](folder / "fine")
    queue = unique_name("jobs")
    out = tmp_path / "out"
    batch = procs.batch(folder, out, broker.url, queue, "--max-deliveries", "2")
    kills = 0
    while batch.popen.poll() is None and kills < 4:
        worker = procs.worker(broker.url, queue, f"worker-{kills}", "--max-deliveries", "2")
        # this worker either takes the poison job (and dies) or the batch ends without it
        found = worker.wait_until(
            lambda lines: any("took poison (" in line for line in lines) or batch.popen.poll() is not None,
            BATCH_TIMEOUT, "the poison job taken, or the batch ended")
        if found and any("took poison (" in line for line in worker.lines):
            worker.signal(signal.SIGKILL)
            worker.wait(20)
            kills += 1
        else:
            break
    assert batch.wait(BATCH_TIMEOUT) == 0, batch.text()[-4000:]
    assert kills == 2, f"the poison job was delivered {kills} times, not 2"

    results = json.loads((out / "poison" / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == 0
    assert {k: v for k, v in results["extra_data"]["exercises"].items()} == {k: [0, m] for k, m in FULL.items()}
    assert all(t["status"] == "failed" and "could not be graded" in t["output"] for t in results["tests"]
               if not t["output"].startswith("not run: no "))
    assert "dead-lettered" in results["output"] and "delivered 2 times" in results["output"], results["output"]
    assert "could not be graded" in (out / "poison" / "feedback.md").read_text(encoding="utf-8")
    got = {row["student"]: row for row in rows(out)}
    assert sorted(got) == ["fine", "poison"]
    assert float(got["fine"]["ex03_sentinel"]) == FULL["ex03_sentinel"]


def _records(exercise: str, passed: bool, message: str) -> list[dict]:
    """Runner records for every check of `exercise` (as a worker would send them)."""
    exercise = next(e for e in EXERCISES if e.name == exercise)
    return [{"type": "result", "exercise": exercise.name, "check": check.name, "hidden": check.hidden,
             "points": check.points, "start_method": method, "seed": 1,
             "verdict": "passed" if passed else "failed", "message": "" if passed else message, "seconds": 0.1}
            for check, method in grading_plan().runs(checks_for(exercise))]


def test_a_duplicate_or_stale_result_never_doubles_a_row_or_overwrites_a_grade(broker, tmp_path, procs):
    """The test answers the jobs itself: for alice a result signed with another key (forged, refused),
    a stale result (another digest), then her result, then a different duplicate of it; for bob his
    result twice. The first matching result signed with the batch's key wins."""
    import pika

    from grader.distributed import jobs

    folder = tmp_path / "submissions"
    _kinds()["queue_ok"](folder / "alice")
    _kinds()["sentinel_ok"](folder / "bob")
    queue = unique_name("jobs")
    out = tmp_path / "out"
    batch = procs.batch(folder, out, broker.url, queue)
    batch.wait_until(lambda lines: any("published 2 jobs" in line for line in lines), 120, "the jobs published")

    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        taken = {}
        for _ in range(2):
            method, props, body = channel.basic_get(queue)
            assert method is not None, "a job is missing from the queue"
            job = json.loads(body)
            taken[job["student"]] = (method.delivery_tag, props.reply_to, job)

        def answer(student: str, digest: str, records: list[dict], key: str = RESULTS_KEY) -> None:
            _, reply_to, job = taken[student]
            body = jobs.signed({"format": jobs.RESULT, "batch": job["batch"], "student": student,
                                "digest": digest, "worker": "test", "plan": grading_plan().to_json(),
                                "results": records, "why": "", "seconds": 0.1}, key.encode())
            channel.basic_publish("", reply_to, body, jobs.properties(jobs.RESULT, batch=job["batch"],
                                                                       student=student, digest=digest),
                                  mandatory=True)

        alice, bob = taken["alice"][2]["digest"], taken["bob"][2]["digest"]
        answer("alice", alice, _records("ex01_queue_basics", True, ""), key="forged")  # not the batch's key
        answer("alice", "0" * 64, _records("ex01_queue_basics", True, ""))  # stale: another version
        answer("alice", alice, _records("ex01_queue_basics", False, "FIRST RESULT"))
        answer("alice", alice, _records("ex01_queue_basics", True, ""))  # a duplicate
        answer("bob", bob, _records("ex03_sentinel", True, ""))
        answer("bob", bob, _records("ex03_sentinel", False, "SECOND RESULT"))  # a duplicate
        for tag, _, _ in taken.values():
            channel.basic_ack(tag)
    finally:
        connection.close()

    assert batch.wait(120) == 0, batch.text()
    got = rows(out)
    assert sorted(row["student"] for row in got) == ["alice", "bob"], got
    by = {row["student"]: row for row in got}
    assert float(by["alice"]["total"]) == 0, by["alice"]
    assert float(by["bob"]["ex03_sentinel"]) == FULL["ex03_sentinel"], by["bob"]
    assert "FIRST RESULT" in (out / "alice" / "feedback.md").read_text(encoding="utf-8")
    assert "SECOND RESULT" not in (out / "bob" / "results.json").read_text(encoding="utf-8")
    assert len(_done_lines(batch.lines)) == 2
    assert "another version" in batch.text()
    assert "alice: refused a result that this batch's key did not sign" in batch.text()


SNOOP = """import os


def make_queue(maxsize=0):
    raise RuntimeError("SNOOPED " + repr({k: v for k, v in os.environ.items()
                                          if "guest" in v or "amqp" in v.lower() or k.endswith("BROKER_URL")}))
"""


def test_student_code_never_sees_the_workers_broker_credentials(broker, tmp_path, procs):
    """A worker given its broker in BAOZI_BROKER_URL (off the command line) drops it from the
    environment its checks inherit: a submission that prints its environment finds no credentials."""
    folder = tmp_path / "submissions"
    (folder / "snoop").mkdir(parents=True)
    (folder / "snoop" / "queue_basics.py").write_text(SNOOP)
    queue = unique_name("jobs")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "KIT_AMQP_URL"}
    procs.start(["worker", "--queue", queue], "worker", env={**env, "BAOZI_BROKER_URL": broker.url})
    batch = procs.batch(folder, out, broker.url, queue)
    assert batch.wait(BATCH_TIMEOUT) == 0, batch.text()
    feedback = (out / "snoop" / "feedback.md").read_text(encoding="utf-8")
    assert "SNOOPED {}" in feedback, feedback[:3000]


def _job(student: str, digest: str, kit: str, reply_to: str, archive: bytes) -> tuple[bytes, object]:
    from grader.distributed import jobs

    body = jobs.job_body(batch="test", student=student, digest=digest, archive=archive, kit=kit,
                         options={"seed": 1, "concurrency": 4, "scale": 3.0})
    return body, jobs.properties(jobs.JOB, batch="test", student=student, digest=digest, reply_to=reply_to)


def test_a_worker_refuses_a_corrupt_job_and_a_job_from_another_kit(broker, tmp_path, procs):
    """A job whose modules do not match its digest is answered "could not be graded" (never run);
    a job from another version of the kit is put back, and the worker stops, saying why."""
    import pika

    from grader.distributed import jobs

    _kinds()["queue_ok"](tmp_path / "alice")
    archive = jobs.pack(tmp_path / "alice")  # a flat folder: its digest is not "0" * 64 anyway
    queue, reply = unique_name("jobs"), unique_name("reply")
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = jobs.declare_jobs(connection, queue, 5)
        channel.queue_declare(reply, durable=True)
        channel.basic_publish("", queue, *_job("alice", "0" * 64, kit_fingerprint(), reply, archive),
                              mandatory=True)
        worker = procs.worker(broker.url, queue, "worker")
        answers, deadline = [], time.monotonic() + 120
        for method, props, body in channel.consume(reply, inactivity_timeout=1.0):
            if method is not None:
                answers.append(json.loads(body))
                channel.basic_ack(method.delivery_tag)
                if answers[-1]["format"] == jobs.RESULT:
                    break
            assert worker.popen.poll() is None, worker.text()
            assert time.monotonic() < deadline, f"no result within 120 s: {answers}\n{worker.text()}"
        channel.cancel()
        assert [a["format"] for a in answers] == [jobs.STARTED, jobs.RESULT]
        result = answers[-1]
        assert result["results"] == [] and "do not match its digest" in result["why"], result

        channel.basic_publish("", queue, *_job("bob", "1" * 64, "another-kit", reply, archive), mandatory=True)
        assert worker.wait(120) == 2, worker.text()
        assert "comes from kit another-kit" in worker.text()
        method, props, body = channel.basic_get(queue, auto_ack=True)
        assert method is not None and json.loads(body)["student"] == "bob", "the job was not put back"
    finally:
        connection.close()
        from grader.checking.amqp import delete_queues

        delete_queues(broker.url, [queue, reply])


def test_grading_slots_are_locked_per_machine(tmp_path, monkeypatch):
    """Two graders never hold one slot; a grader's slot is free again when it dies, even by SIGKILL."""
    from grader.grading import slots

    monkeypatch.setenv(slots.LOCK_DIR_ENV, str(tmp_path / "locks"))
    first = slots.acquire(40)
    second = slots.acquire(40)
    assert (first.number, second.number) == (40, 41)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from grader.grading import slots; s = slots.acquire(40); "
                               "print(s.number, flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=KIT_ROOT,
        env={**os.environ, slots.LOCK_DIR_ENV: str(tmp_path / "locks")})
    try:
        assert holder.stdout.readline().strip() == "42"
        holder.kill()
        holder.wait(timeout=20)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=20)
    second.release()
    again = slots.acquire_many(2, first=40)
    assert [s.number for s in again] == [41, 42]
    for slot in [first, *again]:
        slot.release()


def test_a_worker_refuses_without_a_results_key_or_with_the_exercises_broker_account(broker, procs):
    """Results are signed with a secret the checks never see, and a worker whose jobs account is the
    one exercise 7 hands to student code would let that code reach the jobs: both refused."""
    from grader.checking.amqp import url as exercises_url

    queue = unique_name("jobs")
    env = {k: v for k, v in os.environ.items() if k != RESULTS_KEY_ENV}
    unkeyed = subprocess.run([sys.executable, "-m", "grader", "worker", "--broker", broker.url, "--queue", queue],
                             capture_output=True, text=True, timeout=120, env=env, cwd=KIT_ROOT)
    assert unkeyed.returncode == 2 and RESULTS_KEY_ENV in unkeyed.stderr, unkeyed.stderr
    shared = procs.worker(exercises_url(), queue, "shared")
    assert shared.wait(120) == 2, shared.text()
    assert "it is the one this worker takes jobs with" in shared.text(), shared.text()
