"""Grade a folder of submissions into a gradebook.

``python -m grader batch SUBMISSIONS --out OUT [--workers N]`` grades every submission (one folder
or .zip per student, or nbgrader's ``submitted/<student>/``) and writes ``OUT/grades.csv``,
``OUT/summary.md`` and, per student, ``OUT/<student>/results.json`` and ``feedback.md``.

- One row per submission, always: whatever a submission does, it ends graded, with its reason.
- Resumable: a submission whose ``results.json`` holds the digest of the same modules, graded by
  the same kit with the same options, is not graded again, so a batch interrupted by Ctrl-C or a
  dead machine is simply run again, and one run with another seed or a changed kit regrades. Every file is
  written atomically; ``grades.csv`` and ``summary.md`` are rebuilt from the results at the end.
- ``--workers N`` submissions at a time (default: the number of cores), each in its own sandbox with
  its own unprivileged user. A progress bar on a terminal, plain lines elsewhere.
- Ctrl-C stops it: the checks at work are ended and their submissions left ungraded (nothing of
  theirs is written), every submission graded so far is kept, ``grades.csv`` and ``summary.md`` are
  written for them, and the exit status is 130; run the same command again to grade the rest. A
  second Ctrl-C exits at once.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from collections.abc import Callable
from pathlib import Path

from grader.checking.exercise import all_exercises
from grader.checking.settings import grading_concurrency, usable_cores
from grader.grading import checklist, pipeline, report, slots
from grader.grading.submission import discover, lay_out, student_id


class Progress:
    """A rich progress bar on a terminal; one plain line per submission elsewhere."""

    def __init__(self, total: int, stream=None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self._bar = None
        if self.stream.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            self._bar = Bar(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), TextColumn("{task.description}"), transient=False)
            self._task = self._bar.add_task("", total=total)
            self._bar.start()

    def say(self, text: str) -> None:
        if self._bar:
            self._bar.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def advance(self, text: str) -> None:
        self.done += 1
        if self._bar:
            self._bar.update(self._task, advance=1, description=text)
        else:
            print(f"[{self.done}/{self.total}] {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar:
            self._bar.stop()


def unique_ids(sources: list[Path]) -> dict[Path, str]:
    """Student ids from names; two names that clean up alike get a suffix instead of colliding."""
    ids, seen = {}, {}
    for source in sources:
        base = student_id(source)
        seen[base] = seen.get(base, 0) + 1
        ids[source] = base if seen[base] == 1 else f"{base}-{seen[base]}"
    return ids


def already_graded(source: Path, out_dir: Path, exercises, key: str) -> pipeline.Graded | None:
    """The grade written before for the same modules, graded by the same kit with the same options
    (``pipeline.grading_key``); None if it must be graded (again)."""
    previous = pipeline.load_graded(out_dir)
    if previous is None or previous.key != key:
        return None
    with tempfile.TemporaryDirectory(prefix="baozi-digest-") as tmp:
        digest = lay_out(source, exercises, Path(tmp) / "impl").digest
    return previous if previous.digest == digest else None


class Stopped(Exception):
    """Ctrl-C stopped the batch; `graded` holds the submissions graded before it (and written)."""

    def __init__(self, graded: list[pipeline.Graded], total: int):
        super().__init__(f"stopped with {len(graded)} of {total} submissions graded")
        self.graded = graded
        self.total = total


def _exit_at_once(signum, frame) -> None:
    os._exit(128 + signal.SIGINT)


def run_batch(submissions: Path, out: Path, options: pipeline.Options, workers: int,
              progress: Progress | None = None) -> list[pipeline.Graded]:
    """Grade every submission not graded before; Stopped (after writing the gradebook of what is
    done) if Ctrl-C came."""
    exercises = all_exercises()
    sources = discover(submissions)
    ids = unique_ids(sources)
    progress = progress or Progress(len(sources))
    progress.say(options.sandbox.description)
    out.mkdir(parents=True, exist_ok=True)
    graded: dict[str, pipeline.Graded] = {}
    key = pipeline.grading_key(options, exercises)
    todo = []
    for source in sources:
        previous = already_graded(source, out / ids[source], exercises, key)
        if previous is not None:
            graded[ids[source]] = previous
            progress.advance(f"{ids[source]}: already graded ({previous.score:g})")
        else:
            todo.append(source)

    workers = max(1, workers)
    # grading slots: each has users of its own for its checks, locked against other graders here
    held = slots.acquire_many(workers, first=slots.first_local_slot())
    free = queue.SimpleQueue()
    for slot in held:
        free.put(slot.number)

    def work(source: Path) -> pipeline.Graded:
        slot = free.get()
        try:
            result = pipeline.grade(source, out / ids[source], options, slot=slot, exercises=exercises)
        finally:
            free.put(slot)
        result.student = ids[source]
        return result

    collected: set[Future] = set()

    def collect(future: Future) -> None:
        if future in collected:
            return
        collected.add(future)
        try:
            result = future.result()
        except pipeline.Interrupted:  # its runner was ended by Ctrl-C: left ungraded
            return
        graded[result.student] = result
        progress.advance(f"{result.student}: {result.score:g} / {result.max_score} in {result.seconds:.1f} s")

    stopped = False
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")
    try:
        futures = [pool.submit(work, source) for source in todo]
        try:
            for future in as_completed(futures):
                collect(future)
        except KeyboardInterrupt:
            stopped = True
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, _exit_at_once)
            progress.say("Ctrl-C: ending the checks at work; what is graded is kept (Ctrl-C again to quit at once)")
            pool.shutdown(wait=False, cancel_futures=True)
            pipeline.RUNNERS.stop()
            for future in futures:
                if not future.cancelled():
                    collect(future)  # a submission at work ends at once, ungraded, or was just done
    finally:
        pool.shutdown(wait=True)
        for slot in held:
            slot.release()
        progress.close()
        write_gradebook(out, graded, exercises)
    done = [graded[ids[s]] for s in sources if ids[s] in graded]
    if stopped:
        raise Stopped(done, len(sources))
    return done


def write_gradebook(out: Path, graded: dict[str, pipeline.Graded], exercises) -> None:
    rows = [g.row() for g in graded.values()]
    for row, g in zip(rows, graded.values()):
        row["student"] = g.student
    report.atomic_write(out / "grades.csv", report.grades_csv(rows, exercises))
    max_score = sum(checklist.max_score(e) for e in exercises)
    summary = {g.student: {"score": g.score, "tests": g.tests, "review": g.review} for g in graded.values()}
    report.atomic_write(out / "summary.md", report.summary_md(summary, exercises, max_score))


def default_workers() -> int:
    """Submissions graded at once: one per usable core (each runs grading_concurrency checks)."""
    return usable_cores()


def main(args, then: Callable[[list[pipeline.Graded]], None] | None = None) -> int:
    """Grade the batch `args` asks for; `then` (e.g. writing the grades into nbgrader's gradebook)
    gets the graded submissions."""
    from grader.grading.sandbox import choose, refusal

    problem = pipeline.broker_problem(all_exercises())
    if problem:
        print(problem, file=sys.stderr)
        return 2
    sandbox = choose(args.sandbox)
    refused = refusal(args.sandbox, sandbox, "batch")
    if refused:
        print(refused, file=sys.stderr)
        return 2
    workers = args.workers or default_workers()
    options = pipeline.Options(sandbox=sandbox, seed=args.seed,
                              concurrency=args.concurrency or grading_concurrency(workers), scale=args.budget_scale,
                              hide=(args.submissions.resolve(), args.out.resolve()), languages=args.lang)
    started = time.monotonic()
    try:
        results = run_batch(args.submissions, args.out, options, workers)
    except Stopped as stop:
        print(f"{stop}, kept in {args.out / 'grades.csv'}: run the same command again to grade the rest",
              file=sys.stderr)
        return 128 + signal.SIGINT
    return finish(args, results, started, then)


def finish(args, results: list[pipeline.Graded], started: float,
           then: Callable[[list[pipeline.Graded]], None] | None = None) -> int:
    """Say what was graded, and hand it to `then` (a local batch and a batch on workers alike)."""
    print(f"graded {len(results)} submissions in {time.monotonic() - started:.1f} s: "
          f"{args.out / 'grades.csv'}", file=sys.stderr)
    if then is not None:
        then(results)
    return 0
