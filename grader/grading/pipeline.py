"""Grade one submission, as a short pipeline of small steps:

1. lay out: copy each exercise's module out of the submission (``grader.grading.submission``);
2. sandbox: start ``grader.grading.runner`` inside the sandbox (``grader.grading.sandbox``);
3. run checks: the runner streams one result per check and start method;
4. cap output: each failure report is capped by the runner, the feedback by ``grader.grading.report``;
5. score: ``grader.grading.report.score_checks`` turns results into points, missing ones into failures;
6. report: ``results.json`` and ``feedback.md``, written atomically.

Whatever the submission does (crash, hang, flood, kill), this returns a row for the gradebook.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader.checking import amqp
from grader.checking.exercise import Exercise, all_exercises, find, kit_fingerprint
from grader.checking.harness import compile_kit, session_options
from grader.checking.results import CheckResult, Verdict
from grader.checking.settings import grading_concurrency
from grader.grading import relay, report, review
from grader.grading.checklist import Plan, checks_for, grading_plan
from grader.grading.sandbox import HIDDEN_DIR, LIMITS, Sandbox, kit_secrets
from grader.grading.submission import Layout, lay_out, student_id

RUNNER_SLACK = 60.0  # seconds a runner may take beyond its checks' budgets before it is ended
RUNNER_PARALLEL = 4  # runs that share a runner's budget at most, whatever its concurrency (run_checks)
RESULT_FILE = "results.json"
FEEDBACK_FILE = "feedback.md"


@dataclasses.dataclass
class Options:
    sandbox: Sandbox
    seed: int = 1
    concurrency: int | None = None  # checks at once; None: this machine's default (checks_at_once)
    scale: float = 1.0
    hide: tuple[Path, ...] = ()  # more folders the submission must not see (submissions, output)
    languages: tuple[str, ...] = ("en",)  # of the feedback: each report in each (settings.course_languages)


def checks_at_once(options: Options) -> int:
    """How many checks of a submission run at once: the options', else as many as this machine
    grades well one submission at a time with (settings.grading_concurrency)."""
    return options.concurrency or grading_concurrency()


def grading_key(options: Options, exercises: list[Exercise]) -> str:
    """What, besides the submission, a grade depends on: the kit, the options that change a verdict
    and the start methods each kind of check runs under. A batch resumed with another key grades
    again what it had graded."""
    plan = grading_plan()
    identity = {"kit": fingerprint(), "seed": options.seed, "scale": options.scale,
                "languages": list(options.languages), "exercises": [e.name for e in exercises], "plan": plan.to_json()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class Interrupted(Exception):
    """Grading was stopped (Ctrl-C on a batch): the submission stays ungraded, nothing written."""


class _Runners:
    """The runners at work in this process, so that Ctrl-C on a batch can end them all at once
    (each runs in a session of its own, which the terminal's Ctrl-C does not reach)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.stopping = threading.Event()

    def start(self, *args, **kwargs) -> subprocess.Popen:
        with self._lock:
            if self.stopping.is_set():
                raise Interrupted("grading was stopped")
            runner = subprocess.Popen(*args, **kwargs)
            self._running.add(runner)
            return runner

    def done(self, runner: subprocess.Popen) -> None:
        with self._lock:
            self._running.discard(runner)

    def stop(self) -> None:
        """End every runner and start no other; the submissions they graded raise Interrupted."""
        with self._lock:
            self.stopping.set()
            running = list(self._running)
        for runner in running:
            _end(runner)


RUNNERS = _Runners()


# The kit's fingerprint, read once per process (a batch and its collector both need it).
fingerprint = functools.lru_cache(maxsize=1)(kit_fingerprint)


@dataclasses.dataclass
class Graded:
    student: str
    digest: str
    score: float
    max_score: int
    exercises: dict[str, tuple[float, int]]
    tests: list[dict]
    seconds: float
    review: list[str] = dataclasses.field(default_factory=list)  # for the instructor (grader.grading.review)
    key: str = ""  # grading_key() of the kit and options it was graded with

    def row(self) -> dict:
        return {"student": self.student, **{k: v[0] for k, v in self.exercises.items()},
                "total": self.score, "max_score": self.max_score}


def layout_notes(layout: Layout) -> list[str]:
    notes = [f"{exercise}: {problem}" for exercise, problem in sorted(layout.problems.items())]
    if layout.ignored:
        shown = ", ".join(layout.ignored[:8]) + (" …" if len(layout.ignored) > 8 else "")
        notes.append(f"Not graded (only the exercise modules are): {shown}")
    return notes


def _run_sandboxed(layout: Layout, workdir: Path, options: Options, slot: int, jobs: int,
                   budget: float, exercises: list[str]) -> tuple[list[dict], str]:
    """Run the checks; return the results and, if the runner did not finish, why not."""
    compile_kit()  # here: the runner sees the kit's folder read-only
    uids = options.sandbox.student_uids(slot, options.concurrency)
    argv = [sys.executable, "-m", "grader.grading.runner", "--impl", str(layout.impl_root),
            "--seed", str(options.seed), "--concurrency", str(options.concurrency),
            "--scale", str(options.scale), "--only", ",".join(exercises), "--lang", ",".join(options.languages),
            "--limits", json.dumps(LIMITS if uids else {"FSIZE": LIMITS["FSIZE"]})]
    if uids:
        argv += ["--uids", f"{uids.start}:{len(uids)}"]
    private = {}
    if uids:  # the hidden checks, readable by the runner only (student code runs as other users)
        copy = workdir / "hidden"
        shutil.copytree(HIDDEN_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
        copy.chmod(0o700)
        private[copy] = HIDDEN_DIR
    command = options.sandbox.wrap(argv, workdir=workdir, hide=[*kit_secrets(), *options.hide],
                                   private=private)
    stderr_path = workdir / "runner.err"
    results: list[dict] = []
    finished = threading.Event()
    env, broker = _broker_access(workdir, options, exercises)
    try:
        with open(stderr_path, "wb") as stderr:
            runner = RUNNERS.start(command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                   cwd=workdir, env=env, **session_options())
    except Interrupted:
        if broker is not None:
            broker.close()
        raise

    def read() -> None:
        while True:
            line = runner.stdout.readline(MAX_RECORD_BYTES)  # a longer line comes in pieces: none parses
            if not line:
                return
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if record.get("type") == "result":
                results.append(record)
            elif record.get("type") == "done":
                finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        runner.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        pass
    finally:
        _end(runner)
        RUNNERS.done(runner)
        reader.join(timeout=5)
        if broker is not None:
            broker.close()
    if finished.is_set():
        return results, ""
    if RUNNERS.stopping.is_set():
        raise Interrupted("grading was stopped")
    tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-600:].strip()
    why = (f"the grading process ended early (exit status {runner.returncode})"
           if runner.returncode is not None else f"grading ran out of time ({budget:.0f} s)")
    return results, why + (f"; it said: {tail}" if tail else "")


def _broker_access(workdir: Path, options: Options, exercises: list[str]):
    """The runner's environment and, in the bubblewrap sandbox (no network), the relay that lets it
    reach the broker through a Unix socket in `workdir` (see ``grader.grading.relay``)."""
    env = dict(os.environ)
    if options.sandbox.kind != "bubblewrap" or not any(find(name).needs_broker for name in exercises):
        return env, None
    path = workdir / "broker.sock"
    env[relay.SOCKET_ENV] = str(path)
    env[amqp.URL_ENV] = amqp.url()
    return env, relay.outside(path, amqp.url())


def broker_problem(exercises: list[Exercise]) -> str | None:
    """Why the exercises that need RabbitMQ cannot be graded here, or None. Grading refuses to start
    rather than give every student a zero for the grader's missing broker."""
    needing = [e.name for e in exercises if e.needs_broker]
    if not needing:
        return None
    problem = amqp.unreachable()
    if problem is None:
        return None
    return (f"{', '.join(needing)} need(s) a RabbitMQ broker to be graded.\n"
            f"{amqp.how_to_start(amqp.url(), problem)}")


def _end(process: subprocess.Popen) -> None:
    """End the runner and its whole session (bubblewrap takes its PID namespace down with it)."""
    if process.poll() is None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()


def grade(source: Path, out_dir: Path, options: Options, *, slot: int = 0,
          exercises: list[Exercise] | None = None) -> Graded:
    """Grade `source` (a folder or .zip) and write ``out_dir/results.json`` and ``feedback.md``."""
    exercises = exercises or all_exercises()
    started = time.monotonic()
    student, digest, notes = student_id(source), "", []
    results, why, not_run, flagged = [], "", {}, []
    try:
        with tempfile.TemporaryDirectory(prefix="baozi-grade-") as tmp:
            workdir = Path(tmp)
            workdir.chmod(0o755)  # the student's users read their modules from here
            layout = lay_out(source, exercises, workdir / "impl")
            student, digest, notes = layout.student, layout.digest, layout_notes(layout)
            not_run = dict(layout.problems)  # no module: its checks fail with that reason
            flagged = review.scan_modules(layout.impl_root)
            results, why = run_checks(layout, workdir, options, slot, exercises)
            flagged += review.scan_results(results)
    except Interrupted:
        raise
    except Exception as exc:  # a fault of the grader's own: the submission still gets its row
        why = grader_fault(exc)
        notes.append(why)
    return write_grade(out_dir, student, digest, exercises, results, key=grading_key(options, exercises),
                       why=why, not_run=not_run, notes=notes, seconds=time.monotonic() - started, review=flagged,
                       languages=options.languages)


def grader_fault(exc: BaseException) -> str:
    return f"the grader failed on this submission ({type(exc).__name__}: {exc}); please report it"


def run_checks(layout: Layout, workdir: Path, options: Options, slot: int,
               exercises: list[Exercise]) -> tuple[list[dict], str]:
    """Steps 2-4: run the checks of every exercise whose module was found, in the sandbox.

    Returns the runner's results and, if it did not finish, why not. `workdir` holds the layout.
    """
    plan = grading_plan()
    checks = [check for exercise in exercises for check in checks_for(exercise)]
    jobs = len(plan.runs(checks))
    options = dataclasses.replace(options, concurrency=checks_at_once(options))  # resolved once, here
    # 8 s a run, however many run at once beyond RUNNER_PARALLEL: more at once on the same cores
    # does not make each one take less.
    budget = RUNNER_SLACK + options.scale * jobs * 8.0 / max(1, min(RUNNER_PARALLEL, options.concurrency))
    runnable = [e.name for e in exercises if e.name not in layout.problems]
    if not runnable:
        return [], ""
    return _run_sandboxed(layout, workdir, options, slot, jobs, budget, runnable)


def write_grade(out_dir: Path, student: str, digest: str, exercises: list[Exercise],
                results: list[dict], *, key: str = "", why: str = "", not_run: dict[str, str] | None = None,
                notes: list[str] | None = None, seconds: float = 0.0,
                plan: Plan | None = None, review: list[str] | None = None,
                languages: tuple[str, ...] = ("en",)) -> Graded:
    """Steps 5-6: score the results (a missing one is a failed check with `why`) and write
    ``results.json`` and ``feedback.md`` atomically. `plan` is the grading plan the results were
    run under (default: this machine's; a remote worker sends its own). `review` goes to the
    instructor only (``extra_data``), never into the student's feedback. `languages`: of the feedback's
    own words (the reports in `results` were said in them by the runner)."""
    plan = plan or grading_plan()
    notes = list(notes or [])
    checks = [check for exercise in exercises for check in checks_for(exercise)]
    results, forged = accept_records(results, checks, plan)
    results, leaks = withhold_leaks(results)
    review = [*(review or []), *forged, *leaks]
    tests = report.score_checks(checks, plan, results, why or "no result was reported", not_run or {})
    scores = report.exercise_scores(tests, exercises)
    score = round(sum(s for s, _ in scores.values()), 2)
    max_score = sum(most for _, most in scores.values())
    summary = f"{student}: {score:g} / {max_score}" + "".join(f"\n{note}" for note in notes)
    payload = json.loads(report.results_json(tests, seconds=seconds, summary=summary))
    payload["extra_data"] = {"student": student, "digest": digest, "key": key,
                             "exercises": {k: list(v) for k, v in scores.items()}, "review": list(review or [])}
    causes = report.failure_causes(checks, results)
    feedback = report.feedback_md(student, tests, exercises, notes, causes, languages)
    report.atomic_write(out_dir / FEEDBACK_FILE, feedback)
    report.atomic_write(out_dir / RESULT_FILE, json.dumps(payload, indent=2, ensure_ascii=False))
    return Graded(student, digest, score, max_score, scores, tests, seconds, list(review or []), key)


MAX_RECORD_BYTES = 256 * 1024  # one result line of the runner (its message is capped far below)
TWICE = ("This check was reported twice under one start method: something other than the grader wrote "
         "to its results. The check failed.")


def accept_records(results: list, checks: list, plan: Plan) -> tuple[list[CheckResult], list[str]]:
    """The records that stand for a planned (check, start method), read as CheckResults (field by
    field, capped); and a review line for each one refused. The runner writes one record per planned
    run, so a second record for the same run means the stream was written to by someone else: that
    run fails. The points are the check's own, whatever the record says."""
    planned = {(c.exercise.name, c.name, method): c for c, method in plan.runs(checks)}
    kept: dict[tuple, CheckResult] = {}
    refused = []
    for record in results:
        result = CheckResult.from_record(record)
        key = (result.exercise, result.check, result.start_method) if result else (
            _text(record, "exercise"), _text(record, "check"), None)
        if result is None or key not in planned:
            refused.append(f"{key[0]}/{key[1]}: at run time, a result record that is not one of its "
                           "checks' (refused)")
        elif key in kept:
            kept[key] = dataclasses.replace(kept[key], verdict=Verdict.FAILED, message=TWICE)
            refused.append(f"{key[0]}/{key[1]}: at run time, two result records for one run (failed)")
        else:
            check = planned[key]
            kept[key] = dataclasses.replace(result, points=float(check.points), hidden=check.hidden)
    return list(kept.values()), list(dict.fromkeys(refused))[:20]


def _text(record, name: str) -> str | None:
    value = record.get(name) if isinstance(record, dict) else None
    return value[:100] if isinstance(value, str) else None


WITHHELD = ("This check's output quoted the kit's hidden checks, which a submission must not read, "
            "and was withheld. The check failed.")


def withhold_leaks(results: list[CheckResult]) -> tuple[list[CheckResult], list[str]]:
    """The results with every message that holds the hidden checks' canary (``grader.grading.hidden``)
    replaced, the check failed; and a line for the review list per check that leaked."""
    try:
        from grader.grading.hidden import CANARY
    except ImportError:  # a kit without its hidden checks (a student's bundle) has none to leak
        return results, []
    kept, leaks = [], []
    for result in results:
        if CANARY in json.dumps(result.to_record(), ensure_ascii=False):
            leaks.append(f"{result.exercise}/{result.check}: at run time, its output "
                         "quoted the kit's hidden checks (withheld from the student)")
            result = dataclasses.replace(result, verdict=Verdict.FAILED, message=WITHHELD, cause="", advice="")
        kept.append(result)
    return kept, list(dict.fromkeys(leaks))


def load_graded(out_dir: Path) -> Graded | None:
    """A grade written before (to resume a batch), or None if there is none or it is unreadable."""
    try:
        payload = json.loads((out_dir / RESULT_FILE).read_text(encoding="utf-8"))
        extra = payload["extra_data"]
        scores = {k: (v[0], v[1]) for k, v in extra["exercises"].items()}
        return Graded(extra["student"], extra["digest"], payload["score"],
                      sum(m for _, m in scores.values()), scores, payload["tests"],
                      payload.get("execution_time", 0.0), [str(r) for r in extra.get("review", [])],
                      str(extra.get("key", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main(args) -> int:
    """``python -m grader grade SUBMISSION [--out DIR]``."""
    from grader.grading.sandbox import choose
    from grader.grading.submission import student_id

    problem = broker_problem(all_exercises())
    if problem:
        print(problem, file=sys.stderr)
        return 2
    sandbox = choose(args.sandbox)
    print(sandbox.description, file=sys.stderr)
    options = Options(sandbox=sandbox, seed=args.seed, concurrency=args.concurrency,
                      scale=args.budget_scale, hide=(args.out.resolve(),), languages=args.lang)
    try:
        graded = grade(args.submission, args.out / student_id(args.submission), options)
    except KeyboardInterrupt:  # its runner was ended on the way out: nothing of it is written
        print("stopped: the submission was not graded", file=sys.stderr)
        return 128 + signal.SIGINT
    for name, (score, most) in graded.exercises.items():
        print(f"{name:<24} {score:g} / {most}")
    print(f"{'total':<24} {graded.score:g} / {graded.max_score}   ({graded.seconds:.1f} s; "
          f"{args.out / graded.student / FEEDBACK_FILE})")
    return 0
