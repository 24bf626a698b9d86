"""Hostile exercise 3: instead of solving it, load the reference solution (or a golden submission
of the kit's own tests) and hand every call over to it. When nothing can be read, every function
fails, and run() returns what it read, so the verdict shows whether cheating worked."""

import os

KIT_ROOTS = ["/work/main"]
try:  # wherever the grader is installed, the kit is next to it
    import grader

    KIT_ROOTS.append(os.path.dirname(os.path.dirname(os.path.abspath(grader.__file__))))
except Exception:
    pass

SECRETS = [
    "solutions/ex03_sentinel/sentinel.py",
    "grader/solutions/ex03_sentinel/sentinel.py",  # where an installed kit carries them
    "tests/cases/grading/full_marks/ex03_sentinel/sentinel.py",
    "tests/cases/grading/flat_layout/sentinel.py",
]
FOLDERS = ["solutions", "solutions/ex03_sentinel", "grader/solutions", "tests", "tests/cases/grading"]


def _steal():
    """(source of a solution or None, what every attempt gave)."""
    report = []
    for root in dict.fromkeys(KIT_ROOTS):
        for relative in SECRETS:
            path = os.path.join(root, relative)
            try:
                with open(path, encoding="utf-8") as handle:
                    source = handle.read()
            except OSError as exc:
                report.append(f"{path}: {type(exc).__name__}")
                continue
            if "def run" in source:
                return source, report + [f"{path}: READ {len(source)} characters"]
        for relative in FOLDERS:
            path = os.path.join(root, relative)
            try:
                report.append(f"{path}: lists {sorted(os.listdir(path))}")
            except OSError as exc:
                report.append(f"{path}: {type(exc).__name__}")
    return None, report


def _solution():
    source, report = _steal()
    if source is None:
        return None, report
    namespace = {"__name__": __name__}
    exec(compile(source, __file__, "exec"), namespace)
    return namespace, report


def producer(q, items, delay=0.0):
    solution, _ = _solution()
    if solution:
        return solution["producer"](q, items, delay)


def consumer(q, results, delay=0.0):
    solution, _ = _solution()
    if solution:
        return solution["consumer"](q, results, delay)


def run(items, producer_delay=0.0, consumer_delay=0.0):
    solution, report = _solution()
    if solution:
        return solution["run"](items, producer_delay, consumer_delay)
    return ["could not read any solution"] + report
