"""Settings that several entry points read the same way (the pytest plugin, the notebook and the
Gradescope autograder): one place for their environment variables and their checks."""

from __future__ import annotations

import math
import os

SCALE_ENV = "BAOZI_BUDGET_SCALE"
# When set, the plugin writes the session's kit reports there as JSON (grader.checking.summary.records),
# for the student's loop (grader.student.runs), which runs pytest and reads them back.
REPORT_ENV = "BAOZI_REPORT_FILE"


def budget_scale(given: float | None = None) -> float:
    """How much every check's time budget is multiplied by: `given` (an option or an argument),
    else $BAOZI_BUDGET_SCALE, else 1. ValueError if it is not a positive number."""
    if given is None:
        text = os.environ.get(SCALE_ENV, "").strip()
        try:
            given = float(text) if text else 1.0
        except ValueError:
            raise ValueError(f"{SCALE_ENV}={text!r} is not a number") from None
    if not (isinstance(given, (int, float)) and math.isfinite(given) and given > 0):
        raise ValueError(f"the budget scale must be a positive number, not {given!r}")
    return float(given)


AT_ONCE_ENV = "BAOZI_CHECKS_AT_ONCE"


def checks_at_once() -> int:
    """How many checks pytest runs at once, ahead of their turn (grader.checking.ahead):
    $BAOZI_CHECKS_AT_ONCE, else two per core, two to four. Each is a harness and a few student
    processes, nearly all blocked or sleeping. ValueError if the variable is not a positive integer."""
    text = os.environ.get(AT_ONCE_ENV, "").strip()
    if not text:
        return max(2, min(4, 2 * (os.cpu_count() or 1)))
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{AT_ONCE_ENV}={text!r} is not a positive integer")
    return int(text)


# Checks of submissions graded at once, per usable core, by default. A right submission's check
# uses about half a CPU while it runs (its processes start, then mostly sleep through its delays),
# and a hanging one almost none while it waits for its deadlock to be confirmed or its budget to run
# out: six per core keep the cores busy on right submissions and let a hanging one's checks wait
# side by side (bench/grading.py measures both). The budgets grow with the load (the harness's
# load_factor) and a check still at work when its budget runs out gets overtime, so a busy machine
# slows a check down without changing its verdict.
CHECKS_PER_CORE = 6
MAX_CONCURRENCY = 16  # a many-core machine grades more submissions at once, not one faster


def usable_cores() -> int:
    """The CPUs this process may use: the ones it may run on (where the platform says), fewer where
    its cgroup's CPU quota is lower (a container started with a CPU limit, as Gradescope's are);
    at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, int(quota)))
    return max(1, cores)


CGROUP_ROOT = "/sys/fs/cgroup"


def _cgroup_cpu_quota(root: str = CGROUP_ROOT) -> float | None:
    """CPUs' worth of time the cgroup may use: cgroup v2's ``cpu.max`` ("QUOTA PERIOD"), else v1's
    CFS quota and period; None without a limit, or where there are no such files (not Linux)."""
    def read(name: str) -> str:
        with open(os.path.join(root, name)) as handle:
            return handle.read().strip()

    for reading in (lambda: read("cpu.max").split()[:2],
                    lambda: [read("cpu/cpu.cfs_quota_us"), read("cpu/cpu.cfs_period_us")]):
        try:
            quota, period = reading()
            return None if quota in ("max", "-1") else int(quota) / int(period)
        except (OSError, ValueError):
            continue
    return None


def grading_concurrency(workers: int = 1) -> int:
    """How many checks of one submission the grader runs at once, by default, while `workers`
    submissions are graded at once on this machine: CHECKS_PER_CORE per usable core, shared among
    them, between 1 and MAX_CONCURRENCY."""
    return max(1, min(MAX_CONCURRENCY, CHECKS_PER_CORE * usable_cores() // max(1, workers)))


LANG_ENV = "BAOZI_LANG"


def language(given: str | None = None) -> str:
    """The language of the kit's words for a student: `given` (--lang), else $BAOZI_LANG, else the
    system's locale, else English. Each of the first two must name a language of the catalogue
    (``zh_CN``, ``en``; ``zh-CN`` is taken too), else ValueError; the locale only picks Chinese
    when it is Chinese (``zh_CN.UTF-8``, ``zh_TW``...) and English otherwise."""
    from grader.checking.mistakes import DEFAULT_LANGUAGE

    for source, text in (("--lang", given), (LANG_ENV, os.environ.get(LANG_ENV))):
        text = (text or "").strip()
        if text:
            return _one_language(text, source)
    return "zh_CN" if _system_locale().lower().startswith("zh") else DEFAULT_LANGUAGE


def course_languages(given: str | None = None) -> tuple[str, ...]:
    """The languages of a course's feedback (--lang of grade, batch, worker, gradescope and nbgrader
    export): `given`, one language or several with commas (``zh_CN,en``: each report in both, the
    first first), else English. The course decides, never the grading machine's locale or
    $BAOZI_LANG. ValueError for a language the kit lacks, or one named twice."""
    from grader.checking.mistakes import DEFAULT_LANGUAGE

    names = [part.strip() for part in (given or "").split(",") if part.strip()]
    chosen = tuple(_one_language(name, "--lang") for name in names) or (DEFAULT_LANGUAGE,)
    if len(set(chosen)) < len(chosen):
        raise ValueError(f"--lang {given!r}: a language named twice")
    return chosen


def _one_language(text: str, source: str) -> str:
    from grader.checking.mistakes import LANGUAGES

    chosen = {name.lower(): name for name in LANGUAGES}.get(text.replace("-", "_").lower())
    if chosen is None:
        raise ValueError(f"{source} {text!r}: the kit speaks {' and '.join(LANGUAGES)}")
    return chosen


def _system_locale() -> str:
    """The user's locale as the C library reads it (LC_ALL, then LC_MESSAGES, then LANG), or as
    Windows reports it."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return os.environ[name]
    import locale

    try:
        return locale.getlocale()[0] or ""
    except ValueError:
        return ""
