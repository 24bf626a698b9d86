"""Where a correct submission's CPU goes, check by check, run by hand (never in a timed test):

    python bench/checks.py [--hanging] [--only ex01_queue_basics,...] [--seed N] [--out FILE]
                           [--repeat N] [--hidden-only] [--hidden-method spawn|forkserver]

It runs every (check, start method) of the grading plan against the reference solutions (or, with
``--hanging``, a submission whose every function waits forever: bench/grading.py's), one at a
time, in this process, as the grader's runner does (``checklist.run_one``; no sandbox, no other
user), and prints for each one its wall time and CPU-seconds (with ``--repeat``, the median of N
runs), split in two:

- ``watch``: this process, which runs no student code: the harness's watch of the check's process
  tree, its deadlock watch, the reading of the answer, and the kit's checks and report;
- ``tree``: the check's own processes: the driver (forked by the fork server where there is one),
  the interpreters its start method starts, their imports and the student's work.

Then the totals per start method and per exercise. ``--hidden-method`` runs every hidden check
under that method instead of its turn in the plan: run it once for each method to see which one
costs a check less. CPU-seconds come from a cgroup (bench/grading.py's
CpuMeter: cgroup v1 cpuacct, as root on Linux) that the measuring process, a child of this one, and
everything it starts join; elsewhere only the watch is counted, and the tree column is empty.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from grader.checking.exercise import SOLUTIONS_DIR, all_exercises  # noqa: E402
from grader.grading.checklist import grading_plan, run_one  # noqa: E402
from grader.grading.runner import jobs  # noqa: E402

from grading import CpuMeter, hanging_submission  # noqa: E402  (bench/grading.py, beside this script)


def measure(impl: Path, only: list[str] | None, seed: int, group: Path | None, *, repeat: int = 1,
            hidden_only: bool = False, hidden_method: str | None = None) -> list[dict]:
    """Every run, in this process, `repeat` times (the medians); `group`: the cgroup this process
    is in, or None."""
    exercises = [e for e in all_exercises() if only is None or e.name in only]
    plan = grading_plan()
    if hidden_method:
        plan = dataclasses.replace(plan, hidden=(hidden_method,))
    rows = []
    for check, method in jobs(exercises, plan):
        if hidden_only and not check.hidden:
            continue
        runs = [_measure_one(check, method, impl, seed, group) for _ in range(repeat)]
        rows.append({"exercise": check.exercise.name, "check": check.name, "method": method,
                     "passed": all(run["passed"] for run in runs),
                     **{key: _median(runs, key) for key in ("wall_s", "watch_cpu_s", "tree_cpu_s")}})
    return rows


def _measure_one(check, method: str, impl: Path, seed: int, group: Path | None) -> dict:
    wall, own, tree = time.monotonic(), time.process_time(), group and CpuMeter.usage(group)
    result = run_one(check, method, impl_root=impl, seed=seed, scale=1.0)
    wall, own = time.monotonic() - wall, time.process_time() - own
    total = group and CpuMeter.usage(group) - tree
    return {"passed": result.passed, "wall_s": wall, "watch_cpu_s": own,
            "tree_cpu_s": max(0.0, total - own) if group else None}


def _median(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run[key] is not None]
    return round(statistics.median(values), 3) if values else None


def _sum(rows: list[dict], key: str) -> float:
    return sum(row[key] or 0.0 for row in rows)


def print_table(rows: list[dict]) -> None:
    print(f"{'check':<58} {'method':<10} {'wall':>6} {'watch':>6} {'tree':>6}")
    for row in rows:
        tree = "" if row["tree_cpu_s"] is None else f"{row['tree_cpu_s']:6.2f}"
        mark = "" if row["passed"] else "  FAILED"
        print(f"{row['exercise'] + '::' + row['check']:<58} {row['method']:<10} {row['wall_s']:6.2f} "
              f"{row['watch_cpu_s']:6.2f} {tree:>6}{mark}")
    for title, key in (("per start method", "method"), ("per exercise", "exercise")):
        groups = collections.defaultdict(list)
        for row in rows:
            groups[row[key]].append(row)
        print(f"\n{title}: {'runs':>5} {'wall':>7} {'watch':>7} {'tree':>7}")
        for name, group in groups.items():
            print(f"  {name:<22} {len(group):5d} {_sum(group, 'wall_s'):7.1f} {_sum(group, 'watch_cpu_s'):7.1f} "
                  f"{_sum(group, 'tree_cpu_s'):7.1f}")
    print(f"  {'all':<22} {len(rows):5d} {_sum(rows, 'wall_s'):7.1f} {_sum(rows, 'watch_cpu_s'):7.1f} "
          f"{_sum(rows, 'tree_cpu_s'):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hanging", action="store_true", help="a submission that hangs everywhere")
    parser.add_argument("--only", default=None, help="comma-separated exercises (default: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "checks.json")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each check (the medians are shown)")
    parser.add_argument("--hidden-only", action="store_true", help="the hidden checks alone")
    parser.add_argument("--hidden-method", default=None, help="run every hidden check under this start method")
    parser.add_argument("--in-group", default=None, help=argparse.SUPPRESS)  # the measuring child's
    args = parser.parse_args()
    if args.in_group is not None:  # the measuring child: its cgroup ("" for none) holds all it starts
        only = args.only.split(",") if args.only else None
        with tempfile.TemporaryDirectory(prefix="baozi-bench-") as tmp:
            impl = hanging_submission(Path(tmp)) if args.hanging else SOLUTIONS_DIR
            rows = measure(impl, only, args.seed, Path(args.in_group) if args.in_group else None,
                           repeat=args.repeat, hidden_only=args.hidden_only,
                           hidden_method=args.hidden_method)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
        return
    # The runs go into a child, so that the group is empty again (the fork server of drivers too)
    # and can be removed once it has ended.
    meter = CpuMeter()
    try:
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--in-group", str(meter.group or "")],
                       check=True, preexec_fn=meter.join)
    finally:
        meter.close()
    print_table(json.loads(args.out.read_text()))


if __name__ == "__main__":
    main()
