"""What part of the lesson a process plays, read from its role: the name of the function it runs
(``grader.checking.driver._role_of``), or a report's name for it ("consumer-2"). The one place that knows
which words make a producer, a consumer, a worker or a publisher."""

from __future__ import annotations

PRODUCER, CONSUMER, WORKER, PUBLISHER = "producer", "consumer", "worker", "publisher"
WORDS = {PRODUCER: "produc", CONSUMER: "consum", WORKER: "worker", PUBLISHER: "publish"}


def plays(role: str, *parts: str) -> bool:
    """Whether `role` plays one of `parts` (PRODUCER, CONSUMER, WORKER, PUBLISHER)."""
    lowered = str(role).lower()
    return any(WORDS[part] in lowered for part in parts)


def has_a_part(role: str) -> bool:
    """Whether `role` plays any part of the lesson at all."""
    return plays(role, *WORDS)
