"""``python -m grader worker --broker URL``: grade jobs from RabbitMQ, one at a time.

Any number of workers, on any machine with the kit installed, take jobs from the jobs queue with
``prefetch_count=1`` and manual acks:

1. take a job; tell its batch (a transient "started" notice, for the progress bar);
2. lay its modules out (``grader.distributed.jobs.unpack``: the same caps as any submission, and the
   digest must match) and run its checks in the same sandbox as a local batch
   (``grader.grading.pipeline.run_checks``), in a thread, while this thread keeps the connection alive
   (heartbeats);
3. publish the result to the batch's results queue, persistent, and wait for the broker's confirm;
4. only then ack the job. A worker killed anywhere before that loses nothing: the broker gives the
   job to another worker. After the broker's delivery limit the job is dead-lettered instead.

A lost broker (restart, network) is reconnected to, with backoff, forever; a job graded while the
broker was away is not graded again when it comes back (its result is kept and sent). Each worker
holds a grading slot of its own (``grader.grading.slots``), so the workers of one machine never share the
users their checks run as.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader.checking import amqp
from grader.checking.exercise import all_exercises
from grader.checking.results import Verdict
from grader.checking.settings import course_languages, grading_concurrency
from grader.grading import pipeline, slots
from grader.grading.checklist import grading_plan
from grader.grading.sandbox import UIDS_PER_SLOT
from grader.distributed import jobs

MAX_SCALE = 20.0  # largest --budget-scale a job may ask for
DONE_CACHE = 32  # results kept, to answer a redelivered job without grading it again


def _languages(value) -> tuple[str, ...]:
    """A job's feedback languages (a list of names); English when they are not the kit's."""
    try:
        return course_languages(",".join(value)) if isinstance(value, list) and all(
            isinstance(name, str) for name in value) else ("en",)
    except ValueError:
        return ("en",)


class Stop(Exception):
    """SIGTERM: leave; the job in hand (unacked) goes back to the queue."""


class Worker:
    def __init__(self, url: str, queue: str, max_deliveries: int, sandbox, slot: int,
                 log=None, max_jobs: int | None = None, key: bytes = b""):
        self.url, self.queue, self.max_deliveries = url, queue, max_deliveries
        self.key = key  # signs every result (jobs.RESULTS_KEY_ENV)
        self.sandbox, self.slot = sandbox, slot
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.exercises = all_exercises()
        self.kit = pipeline.fingerprint()
        self.plan = grading_plan().to_json()
        self.max_jobs = max_jobs
        self.graded = 0
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self._delivery = None  # (method, properties, body) handed over by the consumer callback
        # (batch, student, digest) -> [reply_to, properties, body, sent]: results of jobs this
        # worker graded, so that a job redelivered after a lost connection is answered at once
        self._done: collections.OrderedDict = collections.OrderedDict()

    def log(self, text: str) -> None:
        self._log(f"{time.strftime('%H:%M:%S')} worker {self.name} slot {self.slot}: {text}")

    # ----------------------------------------------------------------------- the loop

    def run(self) -> int:
        self.log(f"taking jobs from {self.queue} at {amqp.where(self.url)} (kit {self.kit}); "
                 f"{self.sandbox.description}")
        while self.max_jobs is None or self.graded < self.max_jobs:
            try:
                self._session()
            except jobs.connection_errors() as exc:
                self.log(f"lost the broker ({type(exc).__name__}: {str(exc)[:120]}); reconnecting")
        return 0

    def _session(self) -> None:
        connection = jobs.connect(self.url, self.log)
        self._delivery = None  # a delivery of a lost channel cannot be acked: the broker redelivers it
        try:
            channel = jobs.declare_jobs(connection, self.queue, self.max_deliveries)
            self._send_unsent(channel)
            channel.basic_qos(prefetch_count=1)
            channel.basic_consume(self.queue, self._on_job)
            while self.max_jobs is None or self.graded < self.max_jobs:
                connection.process_data_events(time_limit=1.0)
                if not channel.consumer_tags and self._delivery is None:
                    self.log(f"the broker cancelled our consumer (was {self.queue} deleted?); starting over")
                    return
                if self._delivery is not None:
                    delivery, self._delivery = self._delivery, None
                    self._handle(connection, channel, *delivery)
        finally:
            try:
                connection.close()
            except Exception:  # already gone
                pass

    def _on_job(self, channel, method, props, body) -> None:
        self._delivery = (method, props, body)  # handled by the loop, not inside pika's dispatch

    # ----------------------------------------------------------------------- one job

    def _handle(self, connection, channel, method, props, body) -> None:
        try:
            job = jobs.parse(body)
            if job["format"] != jobs.JOB:
                raise jobs.JobError(f"a {job['format']} message in the jobs queue")
        except jobs.JobError as exc:
            self.log(f"refused a message that is not a job ({exc}): dead-lettered")
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        key = (job["batch"], job["student"], job["digest"])
        who = f"{job['student']} ({job['digest'][:8]})"
        deliveries = 1 + int((props.headers or {}).get("x-delivery-count", 0) or 0)
        if job.get("kit") != self.kit:
            # Another version of the kit would grade differently: leave the job to a worker that
            # has the batch's kit, and stop taking jobs (the job goes back to the queue).
            self.log(f"{who}: the job comes from kit {job.get('kit')}, this worker has kit {self.kit}; "
                     f"install the batch's version of the kit here. Stopping.")
            channel.basic_nack(method.delivery_tag, requeue=True)
            raise SystemExit(2)
        done = self._done.get(key)
        if done is not None:
            self.log(f"{who}: graded here before the connection was lost; result "
                     f"{'already sent' if done[3] else 'sent now'}, job acked")
            self._send(channel, done)
            channel.basic_ack(method.delivery_tag)
            self.graded += 1
            return
        self.log(f"took {who} for batch {job['batch'][:8]} (delivery {deliveries})")
        self._notify_started(channel, job, props)
        outcome = {}
        grader = threading.Thread(target=self._grade, args=(job, outcome), daemon=True,
                                  name=f"grade-{job['student']}")
        grader.start()
        while grader.is_alive():  # serve heartbeats while the checks run
            try:
                connection.process_data_events(time_limit=0.5)
            except jobs.connection_errors():
                grader.join()  # finish grading; the result is sent on the next connection
                self._remember(key, props, job, outcome)
                raise
            grader.join(timeout=0)
        entry = self._remember(key, props, job, outcome)
        self._send(channel, entry)
        channel.basic_ack(method.delivery_tag)
        self.graded += 1
        passed = sum(1 for r in outcome.get("results", []) if r.get("verdict") == Verdict.PASSED)
        self.log(f"{who}: {passed} of {len(outcome.get('results', []))} check runs passed in "
                 f"{outcome.get('seconds', 0):.1f} s{'; ' + outcome['why'][:100] if outcome.get('why') else ''}"
                 f"; result sent, job acked")

    def _grade(self, job: dict, outcome: dict) -> None:
        started = time.monotonic()
        results, why = [], ""
        try:
            options = job.get("options") or {}
            # the batch's settings, within bounds: a job must not make this machine run 1000 checks
            options = pipeline.Options(sandbox=self.sandbox, seed=int(options.get("seed", 1)),
                                      concurrency=min(UIDS_PER_SLOT, max(1, int(options.get("concurrency")
                                                                                  or grading_concurrency()))),
                                      scale=min(MAX_SCALE, max(0.1, float(options.get("scale", 1.0)))),
                                      languages=_languages(options.get("languages")))
            with tempfile.TemporaryDirectory(prefix="baozi-job-") as tmp:
                workdir = Path(tmp)
                workdir.chmod(0o755)  # the student's users read their modules from here
                layout = jobs.unpack(job, self.exercises, workdir)
                results, why = pipeline.run_checks(layout, workdir, options, self.slot, self.exercises)
        except jobs.JobError as exc:
            why = f"could not be graded: the job is unusable: {exc}"
        except Exception as exc:  # a fault of the grader's own: the submission still gets its row
            why = pipeline.grader_fault(exc)
        outcome.update(results=results, why=why, seconds=time.monotonic() - started)

    def _remember(self, key, props, job: dict, outcome: dict) -> list:
        body = jobs.signed({"format": jobs.RESULT, "batch": job["batch"], "student": job["student"],
                            "digest": job["digest"], "worker": self.name, "plan": self.plan,
                            "results": outcome.get("results", []), "why": outcome.get("why", ""),
                            "seconds": round(outcome.get("seconds", 0.0), 2)}, self.key)
        properties = jobs.properties(jobs.RESULT, batch=job["batch"], student=job["student"],
                                     digest=job["digest"])
        entry = [props.reply_to, properties, body, False]
        self._done[key] = entry
        while len(self._done) > DONE_CACHE:
            self._done.popitem(last=False)
        return entry

    def _send(self, channel, entry: list) -> None:
        """Publish a result, persistent, and wait for the broker's confirm."""
        import pika.exceptions

        reply_to, properties, body, sent = entry
        if sent:
            return
        if not reply_to:
            self.log("a job without a results queue (reply_to): its result is dropped")
        else:
            try:
                channel.basic_publish("", reply_to, body, properties, mandatory=True)
            except pika.exceptions.UnroutableError:
                self.log(f"the results queue {reply_to} is gone (its batch was deleted): result dropped")
        entry[3] = True

    def _send_unsent(self, channel) -> None:
        for entry in list(self._done.values()):
            if not entry[3]:
                self._send(channel, entry)

    def _notify_started(self, channel, job: dict, props) -> None:
        import pika.exceptions

        if not props.reply_to:
            return
        body = json.dumps({"format": jobs.STARTED, "batch": job["batch"], "student": job["student"],
                           "digest": job["digest"], "worker": self.name}).encode()
        try:
            channel.basic_publish("", props.reply_to, body,
                                  jobs.properties(jobs.STARTED, batch=job["batch"], student=job["student"],
                                                  digest=job["digest"], persistent=False))
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError):
            pass  # a progress notice only


def same_account(one: str, other: str) -> bool:
    """Whether two broker URLs log in as the same user on the same broker and vhost."""
    from urllib.parse import unquote, urlsplit

    def account(url: str):
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        host = "localhost" if host in ("127.0.0.1", "::1") else host
        return host, parts.port or 5672, unquote(parts.username or "guest"), unquote(parts.path[1:] or "/")

    return account(one) == account(other)


def main(args) -> int:
    """``python -m grader worker --broker URL``."""
    from grader.grading.sandbox import choose, refusal

    def stop(signum, frame):
        raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    problem = pipeline.broker_problem(all_exercises())  # exercise 7's broker, for its checks
    if problem:
        print(problem, file=sys.stderr)
        return 2
    sandbox = choose(args.sandbox)
    refused = refusal(args.sandbox, sandbox, "worker")
    if refused:
        print(refused, file=sys.stderr)
        return 2
    key = jobs.take_results_key()  # the checks inherit this environment: no secret in it
    if key is None:
        print(f"worker refuses to start: {jobs.NO_RESULTS_KEY}.", file=sys.stderr)
        return 2
    url = jobs.broker_url(args.broker)
    os.environ.pop(jobs.BROKER_ENV, None)  # nor credentials
    needing = [e.name for e in all_exercises() if e.needs_broker]
    if needing and same_account(url, amqp.url()):
        print(f"worker refuses to start: the checks of {', '.join(needing)} hand student code the broker "
              "account of KIT_AMQP_URL, and it is the one this worker takes jobs with, so student code "
              "could read other students' jobs and flood the queues. Give the exercises a user and vhost "
              "of their own (rabbitmqctl add_vhost, add_user, set_permissions) and point KIT_AMQP_URL at "
              "them.", file=sys.stderr)
        return 2
    slot = slots.acquire(slots.WORKER_FIRST_SLOT if args.slot is None else args.slot)
    worker = Worker(url, args.queue, args.max_deliveries, sandbox, slot.number, max_jobs=args.max_jobs,
                    key=key)
    try:
        return worker.run()
    except (Stop, KeyboardInterrupt) as why:
        # The job in hand was not acked: with the connection, it goes back to the queue. Its checks
        # end now (their runner has a session of its own, which no signal to this one reaches).
        pipeline.RUNNERS.stop()
        worker.log(f"stopped ({str(why) or 'Ctrl-C'}); a job in hand goes back to the queue")
        return 128 + signal.SIGINT if isinstance(why, KeyboardInterrupt) else 0
    finally:
        slot.release()
