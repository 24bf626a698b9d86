"""Where a correct submission's CPU goes, check by check, run by hand (never in a timed test):

    python bench/checks.py [--hanging] [--only ex01_queue_basics,...] [--seed N] [--out FILE]

It runs every (check, start method) of the grading plan against the reference solutions (or, with
``--hanging``, a submission whose every function waits forever: bench/grading.py's), one at a
time, in this process, as the grader's runner does (``checklist.run_one``; no sandbox, no other
user), and prints for each one its wall time and CPU-seconds, split in two:

- ``watch``: this process, which runs no student code: the harness's watch of the check's process
  tree, its deadlock watch, the reading of the answer, and the kit's checks and report;
- ``tree``: the check's own processes: the driver (forked by the fork server where there is one),
  the interpreters its start method starts, their imports and the student's work.

Then the totals per start method and per exercise. CPU-seconds come from a cgroup of this process
(cgroup v1 cpuacct, as root on Linux), which every process it starts joins; elsewhere only the
watch is counted, and the tree column is empty.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from grader.checking.exercise import SOLUTIONS_DIR, all_exercises  # noqa: E402
from grader.grading.checklist import grading_plan, run_one  # noqa: E402
from grader.grading.runner import jobs  # noqa: E402

from grading import hanging_submission  # noqa: E402  (bench/grading.py, beside this script)


class TreeMeter:
    """CPU-seconds of this process and everything it starts (cgroup v1 cpuacct), or None."""

    CPUACCT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self):
        self.group = self.CPUACCT / f"baozi-checks-{os.getpid()}"
        try:
            self.group.mkdir()
            (self.group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            self.group = None

    def seconds(self) -> float | None:
        if self.group is None:
            return None
        return int((self.group / "cpuacct.usage").read_text()) / 1e9

    def close(self) -> None:
        if self.group is None:
            return
        (self.CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
        for _ in range(50):  # the last processes of the last check may still be on their way out
            try:
                self.group.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def measure(impl: Path, only: list[str] | None, seed: int) -> list[dict]:
    exercises = [e for e in all_exercises() if only is None or e.name in only]
    meter = TreeMeter()
    rows = []
    try:
        for check, method in jobs(exercises, grading_plan()):
            wall, own, tree = time.monotonic(), time.process_time(), meter.seconds()
            result = run_one(check, method, impl_root=impl, seed=seed, scale=1.0)
            wall, own = time.monotonic() - wall, time.process_time() - own
            total = None if tree is None else meter.seconds() - tree
            rows.append({"exercise": check.exercise.name, "check": check.name, "method": method,
                         "passed": result.passed, "wall_s": round(wall, 3), "watch_cpu_s": round(own, 3),
                         "tree_cpu_s": None if total is None else round(max(0.0, total - own), 3)})
    finally:
        meter.close()
    return rows


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
    args = parser.parse_args()
    only = args.only.split(",") if args.only else None
    with tempfile.TemporaryDirectory(prefix="baozi-bench-") as tmp:
        impl = hanging_submission(Path(tmp)) if args.hanging else SOLUTIONS_DIR
        rows = measure(impl, only, args.seed)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
