"""Grading on RabbitMQ: the messages, the queues, and connections that outlive a broker restart.

Used by both ends: the batch (``grader.distributed.broker_batch``) publishes one job per submission and
collects the results; workers (``grader.distributed.worker``) take the jobs. Every message is JSON (see
docs/distributed.md):

- a **job** (``baozi.job/1``) carries the submission itself: the exercise modules that ``lay_out``
  took from it, as a zip, base64, capped at ``JOB_CAP`` bytes, with its student id, its digest
  (``Layout.digest``), the kit's fingerprint, and the grading options;
- a **started** notice (``baozi.started/1``), transient, tells the batch a worker took a job;
- a **result** (``baozi.result/1``) carries the runner's records (one per check and start method),
  why the runner did not finish if it did not, and the worker's grading plan: the batch scores
  them and writes the files itself, with the same code as a local batch.

Topology: one durable **quorum** jobs queue shared by every batch (a quorum queue counts
deliveries: after ``max_deliveries`` a job is dead-lettered, never retried forever); one durable
results queue per batch, named in each job's ``reply_to``. Dead-lettered jobs go to the headers
exchange ``DEAD_EXCHANGE``, which routes each to its own batch's results queue by the
``baozi-batch`` header, so a batch learns of its poison submissions where it learns of the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import threading
import zipfile
from pathlib import Path

from grader.checking.exercise import Exercise
from grader.grading.submission import Layout, lay_out

JOBS_QUEUE = "baozi.grading.jobs"
RESULTS_PREFIX = "baozi.grading.results."
DEAD_EXCHANGE = "baozi.grading.dead"
MAX_DELIVERIES = 5  # a job whose worker died this many times is dead-lettered
JOB_CAP = 16 * 1024**2  # bytes of one job message (the modules themselves are capped by lay_out)
HEARTBEAT = 30  # seconds; workers keep serving the connection while they grade
JOB, STARTED, RESULT = "baozi.job/1", "baozi.started/1", "baozi.result/1"
# The grading broker's URL for `--broker env` and for workers, off the command line (where `ps`
# shows it). Workers remove it from their environment before grading: student code never sees it.
BROKER_ENV = "BAOZI_BROKER_URL"
# The secret the batch and its workers share, out of band: a worker signs each result with it, the
# batch takes only results it signed. Neither puts it where a check could read it, so a submission
# that reaches the broker (exercise 7) cannot forge a grade.
RESULTS_KEY_ENV = "BAOZI_RESULTS_KEY"
NO_RESULTS_KEY = (f"set {RESULTS_KEY_ENV} to the same secret for the batch and every worker (for example "
                  f"`export {RESULTS_KEY_ENV}=$(python -c 'import secrets; print(secrets.token_hex(32))')`): "
                  "results are signed with it, so that code that reaches the broker cannot forge a grade")
BATCH_HEADER = "baozi-batch"


class JobError(ValueError):
    """A job message that cannot be graded (malformed, corrupt, or from another kit)."""


# --------------------------------------------------------------------------- messages


def pack(impl_root: Path) -> bytes:
    """A laid-out submission's modules (``Layout.impl_root``: nothing else is in it) as a zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(impl_root.rglob("*.py")):
            info = zipfile.ZipInfo(path.relative_to(impl_root).as_posix(), (2000, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def job_body(*, batch: str, student: str, digest: str, archive: bytes, kit: str, options: dict) -> bytes:
    return json.dumps({"format": JOB, "batch": batch, "student": student, "digest": digest,
                       "kit": kit, "options": options,
                       "archive": base64.b64encode(archive).decode("ascii")}).encode()


def take_results_key() -> bytes | None:
    """The results key, removed from this process's environment (the checks inherit it)."""
    key = os.environ.pop(RESULTS_KEY_ENV, "")
    return key.encode("utf-8") if key else None


def _mac(message: dict, key: bytes) -> str:
    fields = {k: v for k, v in message.items() if k != "mac"}
    return hmac.new(key, json.dumps(fields, sort_keys=True).encode("utf-8"), hashlib.sha256).hexdigest()


def signed(message: dict, key: bytes) -> bytes:
    """`message` as a body, with its HMAC-SHA256 under `key` in "mac"."""
    return json.dumps({**message, "mac": _mac(message, key)}).encode("utf-8")


def is_signed(message: dict, key: bytes) -> bool:
    mac = message.get("mac")
    return isinstance(mac, str) and hmac.compare_digest(mac, _mac(message, key))


def parse(body: bytes) -> dict:
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise JobError(f"not JSON ({exc})") from None
    if not isinstance(message, dict) or message.get("format") not in (JOB, STARTED, RESULT):
        raise JobError("not a baozi grading message")
    for key in ("batch", "student", "digest"):
        if not isinstance(message.get(key), str):
            raise JobError(f"no {key}")
    return message


def unpack(job: dict, exercises: list[Exercise], workdir: Path) -> Layout:
    """Lay the job's modules out under ``workdir/impl``, with the same caps as any submission;
    JobError if they are not the ones the batch sent (their digest differs)."""
    try:
        data = base64.b64decode(job["archive"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise JobError(f"no readable archive ({exc})") from None
    archive = workdir / "submission.zip"
    archive.write_bytes(data)
    try:
        layout = lay_out(archive, exercises, workdir / "impl")
    finally:
        archive.unlink()
    if layout.digest != job["digest"]:
        raise JobError("its modules do not match its digest (a corrupt or altered job)")
    return layout


# --------------------------------------------------------------------------- the broker


def broker_url(given: str | None) -> str:
    """`--broker URL` as given, or (none, or "env") BAOZI_BROKER_URL, else KIT_AMQP_URL, else
    RabbitMQ's default on this machine."""
    import os

    from grader.checking import amqp

    if given and given != "env":
        return given
    return os.environ.get(BROKER_ENV) or amqp.url()


def parameters(url: str):
    import pika

    params = pika.URLParameters(url)
    params.heartbeat = HEARTBEAT
    params.blocked_connection_timeout = 300
    params.connection_attempts = 1
    params.socket_timeout = 5
    return params


def connection_errors() -> tuple[type[BaseException], ...]:
    """What a lost or restarting broker raises: the caller reconnects and goes on."""
    import pika.exceptions as e

    return (e.AMQPConnectionError, e.ConnectionClosed, e.StreamLostError, e.ChannelWrongStateError,
            e.ChannelClosed, e.ConnectionWrongStateError, ConnectionError, OSError)


def connect(url: str, say, stop=None):
    """A BlockingConnection to `url`, retried with backoff (up to 5 s apart) until it opens, or
    until `stop` (a threading.Event) is set (then None). `say` reports each outage once."""
    import pika

    from grader.checking.amqp import where

    stop = stop or threading.Event()
    delay, told = 0.2, False
    while not stop.is_set():
        try:
            connection = pika.BlockingConnection(parameters(url))
            if told:
                say(f"connected to the broker at {where(url)} again")
            return connection
        except connection_errors() as exc:
            if not told:
                say(f"no broker at {where(url)} ({type(exc).__name__}); retrying until it answers")
                told = True
        stop.wait(delay)  # backoff between attempts (nothing sets it unless the caller does)
        delay = min(5.0, delay * 2)
    return None


def declare_jobs(connection, queue: str, max_deliveries: int):
    """Declare the jobs queue (quorum, delivery limit, dead-lettered to DEAD_EXCHANGE) and its
    exchange; a queue that exists already with other arguments is used as it is. Returns a channel
    with publisher confirms on."""
    import pika.exceptions

    channel = connection.channel()
    channel.exchange_declare(DEAD_EXCHANGE, exchange_type="headers", durable=True)
    try:
        channel.queue_declare(queue, durable=True, arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": max(0, max_deliveries - 1),  # redeliveries allowed after the first
            "x-dead-letter-exchange": DEAD_EXCHANGE,
        })
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code != 406:  # PRECONDITION_FAILED: declared before with other arguments
            raise
        channel = connection.channel()
        channel.queue_declare(queue, passive=True)
    channel.confirm_delivery()
    return channel


def declare_results(channel, queue: str, batch: str) -> None:
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, DEAD_EXCHANGE, arguments={"x-match": "all", BATCH_HEADER: batch})


def properties(kind: str, *, batch: str, student: str, digest: str, reply_to: str | None = None,
               persistent: bool = True):
    import pika

    return pika.BasicProperties(
        content_type="application/json", type=kind, delivery_mode=2 if persistent else 1,
        message_id=f"{student}:{digest}", reply_to=reply_to,
        headers={BATCH_HEADER: batch, "baozi-student": student, "baozi-digest": digest})
