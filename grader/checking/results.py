"""One run of one check, as every consumer of a result sees it.

The grader's runner runs a check under a start method and sends its ``CheckResult`` out of the
sandbox as a JSON record; the pipeline reads the records back and scores them; the notebook runs a
check the same way in a student's kernel; the pytest plugin writes its runs' results for the
student's loop (``watch``), which reads them back. The record crosses from a process that ran
student code to one that decides a verdict, so reading it back (``from_record``) is plain data with
caps, checked field by field: a record without the fields a verdict rests on is refused.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from typing import Callable

from grader.checking.mistakes import known as known_mistakes

MESSAGE_CAP = 4000  # characters of one report kept
CAUSE_CAP = 300  # characters of a failure's cause: it only groups reports
FLAGS_CAP = 5  # flags (what the kit saw the code do) kept per run, each...
FLAG_CAP = 300  # ...this many characters long at most


class Verdict(str, enum.Enum):
    """How one run of a check ended; the values are the words on the wire (and pytest's)."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    exercise: str  # "ex03_sentinel"
    check: str  # the function: "test_run_returns_every_item_in_order" or "check_..." (hidden)
    start_method: str
    verdict: Verdict
    points: float  # what the check is worth
    message: str = ""  # the report of a failure, the reason of a skip
    cause: str = ""  # equal for two failures with the same cause (kit.CheckFailed), "" when unknown
    advice: str = ""  # the one thing to do about that cause
    seconds: float = 0.0
    hidden: bool = False
    seed: int = 0
    flags: tuple[str, ...] = ()  # what the kit saw the code do that a reviewer should know
    mistakes: tuple[str, ...] = ()  # keys of the mistakes a failure shows (grader.checking.mistakes)

    @property
    def passed(self) -> bool:
        return self.verdict == Verdict.PASSED

    @property
    def run(self) -> str:
        """The run's name, as pytest names it: "test_x[spawn]"."""
        return f"{self.check}[{self.start_method}]"

    def to_record(self) -> dict:
        record = dataclasses.asdict(self)
        record["verdict"] = self.verdict.value
        record["flags"] = list(self.flags)
        record["mistakes"] = list(self.mistakes)
        return record

    @classmethod
    def from_record(cls, record) -> CheckResult | None:
        """The result a record stands for, or None if it is not one the kit writes: what decides a
        verdict (exercise, check, start method, verdict, message) must be there and of its kind. The
        rest only informs (a cause groups reports, flags go to review), so a field of another kind
        is left at its default, never a reason to refuse the record; texts are cut to their caps."""
        if not isinstance(record, dict):
            return None
        texts = [record.get(name) for name in ("exercise", "check", "start_method", "message")]
        if not all(isinstance(value, str) for value in texts):
            return None
        try:
            verdict = Verdict(record.get("verdict"))
        except ValueError:
            return None
        exercise, check, start_method, message = texts

        def optional(name: str, valid, default):
            value = record.get(name, default)
            return value if valid(value) else default

        flags = optional("flags", lambda v: isinstance(v, list), [])
        return cls(exercise, check, start_method, verdict, float(optional("points", _number, 0)),
                   message=message[:MESSAGE_CAP], cause=optional("cause", _text, "")[:CAUSE_CAP],
                   advice=optional("advice", _text, "")[:MESSAGE_CAP],
                   seconds=float(optional("seconds", _number, 0.0)),
                   hidden=optional("hidden", lambda v: isinstance(v, bool), False),
                   seed=optional("seed", lambda v: _number(v) and isinstance(v, int), 0),
                   flags=tuple(flag[:FLAG_CAP] for flag in flags[:FLAGS_CAP] if isinstance(flag, str)),
                   mistakes=known_mistakes(record.get("mistakes")) if verdict == Verdict.FAILED else ())


def _text(value) -> bool:
    return isinstance(value, str)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def cap(text: str, limit: int = MESSAGE_CAP) -> str:
    """`text`, or its start and how much was left out when it is longer than `limit`."""
    return text if len(text) <= limit else text[: limit - 40] + f"\n… ({len(text) - limit + 40} more characters)"


def run_check_function(func: Callable, kit, *, check: str, points: float, hidden: bool = False,
                       fault: bool = True) -> CheckResult:
    """Call a check function (a visible test or a hidden check) with `kit` and tell how it ended:
    a ``pytest.fail`` (``kit.CheckFailed``, with its cause) fails it, a ``pytest.skip`` skips it.
    Any other exception is a fault of the kit's: with `fault` it fails the check with a report that
    says so (a batch goes on), else it propagates."""
    import pytest  # here, not at the top: the readers of results (report, watch) need no pytest

    started = time.monotonic()
    verdict, message, cause, advice, keys = Verdict.PASSED, "", "", "", ()
    try:
        func(kit)
    except pytest.fail.Exception as failure:
        verdict, message = Verdict.FAILED, str(failure.msg)
        cause, advice = getattr(failure, "baozi_cause", ""), getattr(failure, "baozi_advice", "")
        keys = tuple(getattr(failure, "baozi_mistakes", ()))
    except pytest.skip.Exception as skipped:
        verdict, message = Verdict.SKIPPED, str(skipped.msg)
    except Exception as exc:
        if not fault:
            raise
        verdict = Verdict.FAILED
        message = f"The grader itself failed on this check ({type(exc).__name__}: {exc}); please report it."
    return CheckResult(kit.exercise.name, check, kit.start_method, verdict, points, message=cap(message),
                       cause=(cause or "")[:CAUSE_CAP], advice=cap(advice or ""),
                       seconds=round(time.monotonic() - started, 3), hidden=hidden, seed=kit.seed,
                       flags=tuple(cap(flag, FLAG_CAP) for flag in kit.flags[:FLAGS_CAP]), mistakes=keys)
