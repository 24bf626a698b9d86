"""Right programs under a load the budgets have not seen yet, run by hand (never in a timed test):

    python bench/sudden_load.py [--only ex04_many,...] [--rounds 3] [--at-once 16] [--spinners 4] [--seed 1]

The harness makes every budget grow with the 1-minute load average (``harness.load_factor``), but
that average lags: in the first seconds of a `grade` on an idle machine it is still near 0 while a
dozen checks already share two cores. This runs every (check, start method) of the grading plan
against the reference solutions, `rounds` times, `at-once` at a time in threads of this process (as
the grader's runner does, without its sandbox), beside `spinners` spinning interpreters, with the
load factor held at 1, so that no budget grows at all. The overtime of a check still at work, the
kit's own waits and holds, and the answer's way back must then carry every right program.

Every run must pass. For each one that does not, it prints the report, and for a hang every stuck
process's innermost frames (the kit's own code included, which the report leaves out). ex07 needs a
RabbitMQ server (the README's "RabbitMQ" paragraph says how to start one).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from saturate import saturated  # noqa: E402

from grader.checking import kit  # noqa: E402
from grader.checking.exercise import SOLUTIONS_DIR, all_exercises  # noqa: E402
from grader.grading.checklist import grading_plan, run_one  # noqa: E402
from grader.grading.runner import jobs  # noqa: E402


def hold_load_factor_at_one() -> None:
    """Budgets as on a quiet machine, and every hang's stuck processes printed with their frames."""
    run_check = kit.run_check

    def run_check_and_show_hangs(*args, **kwargs):
        outcome = run_check(*args, **kwargs)
        if outcome.status == "hang":
            print(f"HANG {kwargs.get('scenario')} under {kwargs.get('start_method')}: "
                  f"{outcome.elapsed:.2f} s of a {kwargs.get('budget', 0):.2f} s budget", flush=True)
            for proc in outcome.stuck or ():
                frames = (proc.stack or "").strip().replace("\n", "\n        ")
                print(f"    {proc.role} ({proc.state}, {proc.call or 'no call of its own'})\n        {frames}",
                      flush=True)
        return outcome

    kit.load_factor = lambda: 1.0
    kit.run_check = run_check_and_show_hangs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated exercises (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--at-once", type=int, default=16)
    parser.add_argument("--spinners", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    exercises = [e for e in all_exercises() if args.only is None or e.name in args.only.split(",")]
    runs = [run for _ in range(args.rounds) for run in jobs(exercises, grading_plan())]
    hold_load_factor_at_one()
    failed: collections.Counter = collections.Counter()
    started = time.monotonic()
    with saturated(args.spinners), ThreadPoolExecutor(max_workers=args.at_once) as pool:
        futures = {pool.submit(run_one, check, method, impl_root=SOLUTIONS_DIR, seed=args.seed, scale=1.0):
                   (check, method) for check, method in runs}
        for future in as_completed(futures):
            check, method = futures[future]
            result = future.result()
            if not result.passed:
                failed[f"{check.exercise.name}::{check.name}[{method}]"] += 1
                print(f"FAILED {check.exercise.name}::{check.name}[{method}]\n{result.message}\n", flush=True)
    print(f"{len(runs)} runs of the reference solutions, {args.at_once} at once, {args.spinners} spinners, "
          f"load factor held at 1: {sum(failed.values())} failed, {time.monotonic() - started:.1f} s")
    for name, count in sorted(failed.items()):
        print(f"  {count} x {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
