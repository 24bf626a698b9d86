"""The RabbitMQ broker the kit talks to: where it is, whether it answers, and names of our own on it.

Exercise 7 and its checks run against a real broker. Its address comes from ``KIT_AMQP_URL``, else
RabbitMQ's default on this machine. Every check and every graded submission works on queues of its
own (``unique_name``), and deletes them afterwards, so parallel runs never see each other's messages.
"""

from __future__ import annotations

import os
import threading
import uuid
from urllib.parse import urlsplit

from grader.checking import mistakes

URL_ENV = "KIT_AMQP_URL"
DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
REQUIRE_ENV = "KIT_REQUIRE_BROKER"  # set to 1 (CI does): a missing broker fails instead of skipping
NAME_PREFIX = "baozi"


def url() -> str:
    return os.environ.get(URL_ENV) or DEFAULT_URL


def where(address: str) -> str:
    """host:port of a URL, without the credentials (for messages)."""
    parts = urlsplit(address)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5672}"


def unreachable(address: str | None = None, timeout: float = 3.0) -> str | None:
    """None if a broker answers at `address` (an AMQP handshake, not just a TCP connect), else why."""
    import pika  # imported here: the exercises that do not use the broker should not pay for it

    address = address or url()
    params = pika.URLParameters(address)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    params.stack_timeout = timeout
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.ProbableAuthenticationError:
        return "it refused the user name and password of the URL"
    except pika.exceptions.AMQPError as exc:
        detail = str(exc).strip("() ,'\"")
        return f"{type(exc).__name__}: {detail}" if detail else "nothing answers there"
    except OSError as exc:
        return str(exc)
    connection.close()
    return None


_ANSWERS: dict[str, str | None] = {}
_ASKING = threading.Lock()  # the grader's checks start in threads of one process, all at once


def unreachable_once(address: str | None = None) -> str | None:
    """`unreachable`, asked once per process and address (every check of a session would ask)."""
    address = address or url()
    with _ASKING:
        if address not in _ANSWERS:
            _ANSWERS[address] = unreachable(address)
        return _ANSWERS[address]


def required() -> bool:
    """Whether a missing broker is an error rather than a reason to skip (``KIT_REQUIRE_BROKER=1``)."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def how_to_start(address: str | None = None, why: str = "no answer", language: str = "en") -> str:
    """Why the checks that need a broker cannot run, and how to start one, in `language`."""
    return mistakes.say("report", "no-broker", language, where=where(address or url()), why=why, env=URL_ENV)


def unique_name(label: str) -> str:
    """A queue name no other run uses: baozi.<label>.<random>."""
    return f"{NAME_PREFIX}.{label}.{uuid.uuid4().hex[:12]}"


def delete_queues(address: str, names: list[str]) -> None:
    """Delete the queues a check made (a missing one is fine); never raises."""
    import pika

    if not names:
        return
    try:
        connection = pika.BlockingConnection(pika.URLParameters(address))
    except Exception:  # the broker went away: nothing to clean on it
        return
    try:
        for name in names:
            channel = connection.channel()
            try:
                channel.queue_delete(name)
                channel.close()
            except Exception:  # closed by the broker (no such queue): open another for the next
                pass
    finally:
        try:
            connection.close()
        except Exception:
            pass
