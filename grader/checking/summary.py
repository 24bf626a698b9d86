"""What the pytest plugin prints after the checks: each cause of failure once, and where each
exercise stands.

A mistake usually fails several checks of its exercise, under each start method: one sentinel for
three consumers hangs every check that runs ``run()``. Each failure's report carries its cause
(``kit.CheckFailed``: the same kind of failure, in the same process, at the same line); within an
exercise the first report of a cause is printed whole and the others in one line that names it.
Only the terminal's copy is shortened, and not under ``-vv``: junit and the other reporters have
each report whole by then, and pytest's outcomes, exit code, ``--lf`` and ``-x`` do not change.

Then a table, one row per exercise: the checks that passed (a check passes when every run of it
passed, under each start method), their points, and the one next step, the advice of the cause
that explains the most failed checks.
"""

from __future__ import annotations

import dataclasses
import io

from grader.checking import mistakes

STYLES = {"done": "green", "failing": "red", "skipped": "yellow"}


def fold_repeats(reports, language: str = mistakes.DEFAULT_LANGUAGE) -> None:
    """Shorten, in place, every failure report whose cause an earlier report of the same exercise
    has already shown (`reports` in the order they ran; one without a known cause is left whole).
    The short line keeps the report's crash
    message, for pytest's short summary (``-r``); its captured output goes with the long text."""
    first: dict[tuple[str, str], str] = {}
    for report in reports:
        if not getattr(report, "baozi_cause", None):
            continue
        key = (report.baozi_exercise, report.baozi_cause)
        if key not in first:
            first[key] = _run_name(report)
            continue
        headline = (report.longreprtext.strip().splitlines() or [""])[0]
        report.longrepr = _Folded(_say("same-cause", language, check=first[key], headline=headline),
                                  getattr(report.longrepr, "reprcrash", None))
        report.sections = []


class _Folded:
    """A report's long text cut to one line (pytest prints whatever has ``toterminal``)."""

    def __init__(self, line: str, reprcrash) -> None:
        self.line = line
        self.reprcrash = reprcrash

    def toterminal(self, out) -> None:
        out.line(self.line)

    def __str__(self) -> str:
        return self.line


@dataclasses.dataclass
class Row:
    exercise: str
    passed: int
    checks: int
    points: float
    of_points: float
    next_step: str
    state: str  # "done", "failing" or "skipped"


def rows(reports, language: str = mistakes.DEFAULT_LANGUAGE) -> list[Row]:
    """One row per exercise from the call reports of its checks, in the order they ran."""
    by_exercise: dict[str, list] = {}
    for report in reports:
        by_exercise.setdefault(report.baozi_exercise, []).append(report)
    return [_row(name, by_exercise[name], language) for name in sorted(by_exercise)]


def check_outcomes(runs) -> dict[str, str]:
    """Each check's outcome over its runs (`runs`: (check, outcome) pairs, one per start method):
    "passed" if every run passed, else "failed" if one failed, else "skipped"; in the order met."""
    seen: dict[str, list[str]] = {}
    for check, outcome in runs:
        seen.setdefault(check, []).append(outcome)
    return {check: ("passed" if all(o == "passed" for o in outcomes) else
                    "failed" if "failed" in outcomes else "skipped")
            for check, outcomes in seen.items()}


def _row(exercise: str, reports, language: str) -> Row:
    outcomes = check_outcomes((report.baozi_check, report.outcome) for report in reports)
    points = {report.baozi_check: report.baozi_points for report in reports}
    passed = [check for check, outcome in outcomes.items() if outcome == "passed"]
    failed = [r for r in reports if r.outcome == "failed"]
    if failed:
        state, next_step = "failing", _biggest_cause(failed, language)
    elif len(passed) < len(outcomes):
        skipped = next(r for r in reports if r.outcome == "skipped")
        state, next_step = "skipped", _say("skipped", language, reason=_skip_reason(skipped))
    else:
        state, next_step = "done", _say("done", language)
    return Row(exercise, len(passed), len(outcomes), sum(points[c] for c in passed), sum(points.values()),
               next_step, state)


def _biggest_cause(failed, language: str) -> str:
    """The advice of the cause that failed the most checks (the first to fail, of equals)."""
    checks: dict[str, set[str]] = {}
    first: dict[str, object] = {}
    for report in failed:
        cause = getattr(report, "baozi_cause", None) or f"report\x1f{report.nodeid}"
        checks.setdefault(cause, set()).add(report.baozi_check)
        first.setdefault(cause, report)
    cause = max(checks, key=lambda c: len(checks[c]))  # max keeps the first of equals
    report = first[cause]
    kind, _, function = cause.partition("\x1f")
    if kind == "not-written":
        advice = _say("write-function", language, function=function)
    else:
        advice = getattr(report, "baozi_advice", None) or (report.longreprtext.strip().splitlines() or [""])[0]
    return _say("next-step", language, advice=advice, check=_run_name(report))


def _say(name: str, language: str, **params) -> str:
    return mistakes.say("summary", name, language, **params)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ").splitlines()[0] if text else ""


def _run_name(report) -> str:
    return report.nodeid.rsplit("::", 1)[-1]


def render(table_rows: list[Row], width: int, color: bool, language: str = mistakes.DEFAULT_LANGUAGE) -> str:
    """The table as text for the terminal, `width` columns wide."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=_say("title", language), title_justify="left", expand=False)
    for column in (_say(f"column-{name}", language) for name in ("exercise", "passed", "points", "next-step")):
        table.add_column(column, overflow="fold")  # a check's name is one long word: break it, keep it whole
    for row in table_rows:
        cells = (row.exercise, f"{row.passed}/{row.checks}", f"{_number(row.points)}/{_number(row.of_points)}",
                 row.next_step)
        table.add_row(*(Text(cell) for cell in cells), style=STYLES[row.state])  # Text: "[spawn]" is no markup
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=color, color_system="standard" if color else None,
                      no_color=not color, highlight=False, soft_wrap=False)
    console.print(table)
    return out.getvalue()


def _number(value: float) -> str:
    return f"{value:g}"


# -- the reports as data, for the student's loop (grader.student.runs) -----------------------------

def records(reports, order: dict[str, int]) -> list[dict]:
    """The call reports of the kit's checks as CheckResult records, in the order they ran (`order`:
    each nodeid's place in the session), each with its whole text: before fold_repeats shortens it."""
    from grader.checking.results import CheckResult, Verdict

    out = []
    for report in sorted(reports, key=lambda r: order.get(r.nodeid, len(order))):
        if report.outcome == "skipped":
            text = _skip_reason(report)
        else:
            text = report.longreprtext if report.outcome == "failed" else ""
        result = CheckResult(report.baozi_exercise, report.baozi_check, report.baozi_method, Verdict(report.outcome),
                             report.baozi_points, message=text, cause=getattr(report, "baozi_cause", "") or "",
                             advice=getattr(report, "baozi_advice", "") or "", seconds=round(report.duration, 3),
                             mistakes=tuple(getattr(report, "baozi_mistakes", ())))
        out.append(result.to_record())
    return out
