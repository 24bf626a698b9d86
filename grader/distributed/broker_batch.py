"""``python -m grader batch SUBMISSIONS --out OUT --broker URL``: grade a folder on RabbitMQ workers.

The batch lays every submission out here (the same ``lay_out`` as a local batch: only the exercise
modules, size-capped), publishes one job per submission still to grade (``grader.distributed.jobs``:
durable quorum queue, persistent messages, publisher confirms), then collects the results from its own
durable results queue and writes exactly the files of a local batch, with the same code
(``grade.write_grade``, ``batch.write_gradebook``).

- **Matching.** Every result names its submission's id and digest. A result whose digest is not the
  submission's current one (an older version) is dropped; one whose digest is already written is a
  duplicate and dropped. So a duplicate can never double a row nor overwrite a newer grade.
- **Resumable.** ``OUT/.broker-batch.json`` keeps the batch's id and what was published. Run the same
  command again after a crash: it publishes only what was never confirmed, and collects on. What
  is already written (``results.json`` with the same digest) is never redone.
- **Poison.** A job the workers died on ``--max-deliveries`` times is dead-lettered by the broker to
  this batch's results queue; the submission is written as "could not be graded" with that reason:
  every exercise at 0, with its full max_score.
- **A broker restart** is waited out: the batch reconnects and goes on (queues and messages are
  durable; what was in flight is redelivered and matched as above).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from grader.checking import amqp
from grader.checking.exercise import all_exercises
from grader.checking.results import CheckResult
from grader.grading import batch, pipeline, report, review
from grader.grading.checklist import Plan
from grader.grading.submission import discover, lay_out
from grader.distributed import jobs

STATE_FILE = ".broker-batch.json"
PREFETCH = 20  # results taken at once: each is written and acked in turn
QUIET_HINT = 120.0  # seconds without any news from a worker before the batch says so


@dataclasses.dataclass
class Pending:
    """A submission the batch waits for."""

    source: Path
    digest: str
    notes: list[str]
    not_run: dict[str, str]
    impl: Path  # its laid-out modules (packed into the job when it is published)
    review: list[str] = dataclasses.field(default_factory=list)  # grader.grading.review's hits


class BrokerProgress(batch.Progress):
    """The batch's progress bar, with what the workers are doing: queued / running / done."""

    def advance(self, text: str) -> None:
        if self._bar:
            self._bar.console.print(f"[{self.done + 1}/{self.total}] {text}", markup=False, highlight=False)
        super().advance(text)

    def status(self, queued: int, running: int) -> None:
        text = f"queued {queued} · running {running} · done {self.done}"
        if self._bar:
            self._bar.update(self._task, description=text)
        elif text != getattr(self, "_last_status", None):
            print(f"  {text}", file=self.stream, flush=True)
        self._last_status = text


class Collector:
    def __init__(self, submissions: Path, out: Path, options: pipeline.Options, url: str, queue: str,
                 max_deliveries: int, progress: BrokerProgress | None = None, key: bytes = b""):
        self.out, self.options, self.url, self.queue = out, options, url, queue
        self.key = key  # only results signed with it are taken (jobs.RESULTS_KEY_ENV)
        self.max_deliveries = max_deliveries
        self.exercises = all_exercises()
        self.kit = pipeline.fingerprint()
        self.grading_key = pipeline.grading_key(options, self.exercises)
        self.sources = discover(submissions)
        self.ids = batch.unique_ids(self.sources)
        self.progress = progress or BrokerProgress(len(self.sources))
        self.graded: dict[str, pipeline.Graded] = {}
        self.pending: dict[str, Pending] = {}
        self.expected: dict[str, str] = {}  # student -> digest of what is in the folder now
        self.running: dict[str, str] = {}  # student -> worker, from the "started" notices
        self.last_news = time.monotonic()
        self.state: dict = {}

    def say(self, text: str) -> None:
        self.progress.say(text)

    # ----------------------------------------------------------------------- the steps

    def run(self) -> list[pipeline.Graded]:
        self.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="baozi-batch-") as tmp:
            try:
                self._lay_out_all(Path(tmp))
                self._load_state()
                self.say(f"{len(self.pending)} to grade on workers through {self.queue} at "
                         f"{amqp.where(self.url)} (batch {self.state['batch'][:8]}, kit {self.kit})")
                while self.pending:
                    try:
                        self._session()
                    except jobs.connection_errors() as exc:
                        self.say(f"lost the broker ({type(exc).__name__}); reconnecting")
                        self.running.clear()
            finally:
                self.progress.close()
                batch.write_gradebook(self.out, self.graded, self.exercises)
        if self.state.get("results"):  # every submission is written: the results queue is done
            amqp.delete_queues(self.url, [self.state["results"]])
        (self.out / STATE_FILE).unlink(missing_ok=True)
        return [self.graded[self.ids[s]] for s in self.sources if self.ids[s] in self.graded]

    def _lay_out_all(self, tmp: Path) -> None:
        """Lay out every submission: its digest decides whether it is graded already."""
        for source in self.sources:
            student = self.ids[source]
            layout = lay_out(source, self.exercises, tmp / student / "impl")
            self.expected[student] = layout.digest
            previous = pipeline.load_graded(self.out / student)
            if previous is not None and previous.digest == layout.digest and previous.key == self.grading_key:
                previous.student = student
                self.graded[student] = previous
                self.progress.advance(f"{student}: already graded ({previous.score:g})")
                continue
            self.pending[student] = Pending(source, layout.digest, pipeline.layout_notes(layout),
                                            dict(layout.problems), layout.impl_root,
                                            review.scan_modules(layout.impl_root))

    def _load_state(self) -> None:
        try:
            state = json.loads((self.out / STATE_FILE).read_text(encoding="utf-8"))
            assert isinstance(state.get("batch"), str) and isinstance(state.get("published"), dict)
        except (OSError, ValueError, AssertionError):
            batch_id = uuid.uuid4().hex
            state = {"batch": batch_id, "results": jobs.RESULTS_PREFIX + batch_id, "queue": self.queue,
                     "published": {}}
        if state.get("queue") != self.queue:  # jobs sent to another jobs queue: send them here too
            state.update(queue=self.queue, published={})
        self.state = state
        self._save_state()

    def _save_state(self) -> None:
        report.atomic_write(self.out / STATE_FILE, json.dumps(self.state, indent=2))

    def _session(self) -> None:
        connection = jobs.connect(self.url, self.say)
        try:
            channel = jobs.declare_jobs(connection, self.queue, self.max_deliveries)
            jobs.declare_results(channel, self.state["results"], self.state["batch"])
            self._publish(channel)
            self._collect(connection, channel)
        finally:
            try:
                connection.close()
            except Exception:  # already gone
                pass

    def _publish(self, channel) -> None:
        """One persistent job per pending submission not yet confirmed by the broker."""
        options = {"seed": self.options.seed, "concurrency": self.options.concurrency,
                   "scale": self.options.scale, "languages": list(self.options.languages)}
        published = self.state["published"]
        fresh = 0
        for student, pending in sorted(self.pending.items()):
            if published.get(student) == pending.digest:
                continue
            body = jobs.job_body(batch=self.state["batch"], student=student, digest=pending.digest,
                                 archive=jobs.pack(pending.impl), kit=self.kit, options=options)
            if len(body) > jobs.JOB_CAP:
                self._write_ungraded(student, f"could not be graded: its modules make a job of "
                                              f"{len(body)} bytes, more than the {jobs.JOB_CAP} a job may hold")
                continue
            channel.basic_publish("", self.queue, body, jobs.properties(
                jobs.JOB, batch=self.state["batch"], student=student, digest=pending.digest,
                reply_to=self.state["results"]), mandatory=True)  # returns once the broker confirmed
            published[student] = pending.digest
            fresh += 1
            if fresh % 50 == 0:
                self._save_state()
        self._save_state()
        if fresh:
            self.say(f"published {fresh} jobs")
        self.progress.status(self._queued(), len(self.running))

    def _collect(self, connection, channel) -> None:
        channel.basic_qos(prefetch_count=PREFETCH)
        channel.basic_consume(self.state["results"], self._on_message)
        self.last_news = time.monotonic()
        while self.pending:
            connection.process_data_events(time_limit=1.0)
            if not channel.consumer_tags:  # the results queue was deleted under us
                self.say(f"the broker cancelled our consumer (was {self.state['results']} deleted?); starting over")
                return
            if time.monotonic() - self.last_news > QUIET_HINT:
                self.say(f"no news from any worker for {QUIET_HINT:.0f} s; {len(self.pending)} submissions "
                         f"wait in {self.queue}: is a `python -m grader worker` running against this broker?")
                self.last_news = time.monotonic()

    # ----------------------------------------------------------------------- one message

    def _on_message(self, channel, method, props, body) -> None:
        self.last_news = time.monotonic()
        try:
            message = jobs.parse(body)
        except jobs.JobError as exc:
            self.say(f"dropped a message that is not ours ({exc})")
        else:
            if (props.headers or {}).get("x-death"):
                self._dead_letter(message, props)
            elif message["format"] == jobs.STARTED:
                if self._current(message):
                    self.running[message["student"]] = message.get("worker", "?")
            elif message["format"] == jobs.RESULT and not jobs.is_signed(message, self.key):
                self.say(f"{message['student']}: refused a result that this batch's key did not sign "
                         f"(from {str(message.get('worker', '?'))[:80]})")
            elif message["format"] == jobs.RESULT:
                self._result(message)
        channel.basic_ack(method.delivery_tag)  # after the files are written
        self.progress.status(self._queued(), len(self.running))

    def _current(self, message: dict) -> bool:
        """Whether `message` is about a submission still to write: same id, same digest, not written."""
        student, digest = message["student"], message["digest"]
        if message["batch"] != self.state["batch"]:
            return False
        if self.expected.get(student) != digest:
            if student in self.expected:
                self.say(f"{student}: a {message['format']} message for another version of the submission: ignored")
            return False
        if student not in self.pending:
            return False  # written already: a duplicate
        return True

    def _result(self, message: dict) -> None:
        if not self._current(message):
            return
        student = message["student"]
        pending = self.pending[student]
        try:
            results = [_record(r) for r in message.get("results") or []]
            plan = Plan.from_json(message["plan"]) if message.get("plan") else None
            seconds = float(message.get("seconds") or 0.0)
        except (TypeError, ValueError, KeyError) as exc:
            self._write_ungraded(student, f"could not be graded: the result from worker "
                                          f"{message.get('worker', '?')} is unreadable ({type(exc).__name__}: {exc})")
            return
        why = str(message.get("why") or "")
        notes = list(pending.notes) + ([why] if why.startswith(("could not be graded", "the grader failed")) else [])
        graded = pipeline.write_grade(self.out / student, student, pending.digest, self.exercises, results,
                                     key=self.grading_key, why=why, not_run=pending.not_run, notes=notes,
                                     seconds=seconds, plan=plan, review=pending.review,
                                     languages=self.options.languages)
        self._written(student, graded, f"{graded.score:g} / {graded.max_score} in {graded.seconds:.1f} s "
                                       f"on {message.get('worker', '?')}")

    def _dead_letter(self, message: dict, props) -> None:
        if not self._current(message):
            return
        headers = props.headers or {}
        deaths = headers.get("x-death") or [{}]
        cause = deaths[0].get("reason", b"")
        cause = cause.decode() if isinstance(cause, bytes) else str(cause)
        deliveries = headers.get("x-delivery-count")
        count = f"{int(deliveries) + 1} times" if deliveries is not None else f"{self.max_deliveries} times"
        if cause == "delivery_limit":
            why = (f"could not be graded: its job was delivered {count} and every worker that took it "
                   f"was lost before it finished (the submission may crash or exhaust the machine), so "
                   f"it was set aside (dead-lettered), not retried")
        else:
            why = f"could not be graded: its job was dead-lettered by the broker ({cause or 'no reason given'})"
        self._write_ungraded(message["student"], why)

    def _write_ungraded(self, student: str, why: str) -> None:
        pending = self.pending[student]
        graded = pipeline.write_grade(self.out / student, student, pending.digest, self.exercises, [],
                                     key=self.grading_key, why=why, not_run=pending.not_run,
                                     notes=[*pending.notes, why], review=pending.review,
                                     languages=self.options.languages)
        self._written(student, graded, why)

    def _written(self, student: str, graded: pipeline.Graded, text: str) -> None:
        graded.student = student
        self.graded[student] = graded
        del self.pending[student]
        self.running.pop(student, None)
        self.progress.advance(f"{student}: {text}")

    def _queued(self) -> int:
        return len([s for s in self.pending if s not in self.running])


def _record(record) -> dict:
    """One runner record of a result, checked for what scoring reads (a worker's bug or a forged
    message must not break the batch)."""
    if CheckResult.from_record(record) is None:
        raise ValueError("a record is not a check result of the kit's")
    return record


def run_broker_batch(submissions: Path, out: Path, options: pipeline.Options, url: str,
                     queue: str = jobs.JOBS_QUEUE, max_deliveries: int = jobs.MAX_DELIVERIES,
                     progress: BrokerProgress | None = None, key: bytes = b"") -> list[pipeline.Graded]:
    return Collector(submissions, out, options, url, queue, max_deliveries, progress, key).run()


def main(args, then: Callable[[list[pipeline.Graded]], None] | None = None) -> int:
    """Grade the batch `args` asks for on RabbitMQ workers; `then` as in grader.grading.batch.main."""
    started = time.monotonic()
    key = jobs.take_results_key()
    if key is None:
        print(f"batch --broker refuses to start: {jobs.NO_RESULTS_KEY}.", file=sys.stderr)
        return 2
    options = pipeline.Options(sandbox=None, seed=args.seed, concurrency=args.concurrency,
                              scale=args.budget_scale, languages=args.lang)
    try:
        results = run_broker_batch(args.submissions, args.out, options, args.broker, args.queue,
                                   args.max_deliveries, key=key)
    except KeyboardInterrupt:  # the gradebook holds what was collected, and the state file the rest
        print(f"stopped: what was collected is in {args.out / 'grades.csv'}; the jobs left stay queued for "
              "the workers: run the same command again to collect the rest", file=sys.stderr)
        return 128 + signal.SIGINT
    return batch.finish(args, results, started, then)
