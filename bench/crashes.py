"""Signal deaths of right code under load, run by hand (issue 12's reproducer):

    python bench/crashes.py [--runs N] [--exercise ex07_rabbitmq] [--part asked|graded|both]

Both parts run with every core saturated (`bench/saturate.py`); right code never crashes, so any
count above zero is a fault of the kit.

- asked: N processes move items through a queue (its feeder thread busy) while they are asked for
  their stacks every 2 ms, the kit's own way (`grader.checking.driver.arm_stack_dump`, SIGUSR1), as the
  deadlock watch asks quiet processes. Counts the processes that die by a signal.
- graded: grades the reference solution of one exercise N times and counts the checks whose report
  speaks of a crash or a signal. ex07 needs a broker (`KIT_AMQP_URL`).
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from saturate import saturated  # noqa: E402

from grader.checking.driver import DUMP_DIR_ENV, arm_stack_dump  # noqa: E402
from grader.checking.exercise import SOLUTIONS_DIR, all_exercises  # noqa: E402
from grader.grading import pipeline  # noqa: E402
from grader.grading.sandbox import choose  # noqa: E402

CRASH = re.compile(r"CRASH|signal \d+|killed by signal|could not be graded reliably", re.I)


def _busy_queue(seconds: float) -> None:
    arm_stack_dump()
    q = multiprocessing.Queue()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for i in range(100):
            q.put(i)
        for _ in range(100):
            q.get()


def asked(runs: int, seconds: float = 2.0) -> dict:
    """Processes asked for their stacks while their queue's feeder thread runs."""
    deaths = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="baozi-dumps-") as tmp:
        os.environ[DUMP_DIR_ENV] = tmp
        try:
            for _ in range(runs):
                child = multiprocessing.get_context("fork").Process(target=_busy_queue, args=(seconds,))
                child.start()
                ready = os.path.join(tmp, f"{child.pid}.txt")
                while child.is_alive() and not os.path.exists(ready):  # as the harness does
                    time.sleep(0.001)
                while child.is_alive():
                    try:
                        os.kill(child.pid, signal.SIGUSR1)
                    except ProcessLookupError:
                        break
                    time.sleep(0.002)
                child.join()
                if child.exitcode:
                    deaths[f"exit {child.exitcode}"] += 1
        finally:
            del os.environ[DUMP_DIR_ENV]
    return {"processes": runs, "died": sum(deaths.values()), "how": dict(deaths)}


def graded(runs: int, exercise_name: str) -> dict:
    """The reference solution of one exercise, graded `runs` times."""
    exercises = [e for e in all_exercises() if e.name == exercise_name]
    options = pipeline.Options(sandbox=choose())
    crashed, lost = collections.Counter(), 0
    with tempfile.TemporaryDirectory(prefix="baozi-crashes-") as tmp:
        for run in range(runs):
            result = pipeline.grade(SOLUTIONS_DIR, Path(tmp) / f"out-{run}", options, exercises=exercises)
            lost += result.score < result.max_score
            for test in result.tests:
                if test.get("status") == "failed" and CRASH.search(test.get("output", "")):
                    crashed[test["name"]] += 1
                    print(f"run {run}: {test['name']}\n    " + test["output"][:400].replace("\n", "\n    "))
    return {"exercise": exercise_name, "runs": runs, "runs_losing_points": lost,
            "crashed_checks": sum(crashed.values()), "by_check": dict(crashed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--exercise", default="ex07_rabbitmq")
    parser.add_argument("--part", choices=("asked", "graded", "both"), default="both")
    parser.add_argument("--quiet", action="store_true", help="no saturation (for comparison)")
    args = parser.parse_args()
    figures = {"saturated": not args.quiet}
    started = time.monotonic()
    with saturated(0 if args.quiet else None):
        if args.part in ("asked", "both"):
            figures["asked"] = asked(args.runs)
        if args.part in ("graded", "both"):
            figures["graded"] = graded(args.runs, args.exercise)
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
