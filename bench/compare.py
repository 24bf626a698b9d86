"""Which of two or more copies of the kit grades a correct submission with less, run by hand:

    python bench/compare.py [--runs N] [--class-size N] KIT_ROOT [KIT_ROOT ...]

    e.g. git worktree add /tmp/before HEAD~1; python bench/compare.py --runs 5 /tmp/before .

Each KIT_ROOT is a checkout of the kit (a git worktree will do). Each round grades each kit's own
reference solutions once with `python -m grader grade`, as bench/grading.py does, in turn, so
that whatever else the machine does (a busy neighbour) weighs on every kit alike; a change of
10 % shows through noise that a run of one kit after the other would hide. It prints each run, then
the medians of wall time and CPU-seconds (bench/grading.py's CpuMeter: the grading process tree,
broker excluded), and the score, which must be the full one. With --class-size, each round grades
instead a class of that many copies of the solutions with `python -m grader batch` and its
defaults, as bench/grading.py does, and prints its wall time and what it makes of 200 submissions.

It runs this interpreter in each kit's folder, with that folder first on PYTHONPATH, so that the
kit it imports, here and in the sandbox, is that folder's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading import CpuMeter  # noqa: E402  (bench/grading.py, beside this script)


def grade(root: Path, meter: CpuMeter) -> tuple[float, float, float]:
    """Wall seconds, CPU-seconds and score of `python -m grader grade solutions` in `root`."""
    with tempfile.TemporaryDirectory(prefix="baozi-compare-") as out:
        started, cpu = time.monotonic(), meter.seconds()
        subprocess.run([sys.executable, "-m", "grader", "grade", str(root / "solutions"), "--out", out],
                       cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True, preexec_fn=meter.join)
        wall, used = time.monotonic() - started, meter.seconds() - cpu
        graded = json.loads(next(Path(out).glob("*/results.json")).read_text(encoding="utf-8"))
    return wall, used, sum(score for score, _ in graded["extra_data"]["exercises"].values())


def grade_class(root: Path, size: int, meter: CpuMeter) -> tuple[float, float, float]:
    """Wall seconds and CPU-seconds of `python -m grader batch` on `size` copies of the solutions
    in `root`, and the least total a submission got."""
    with tempfile.TemporaryDirectory(prefix="baozi-compare-") as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "out"
        for number in range(size):
            shutil.copytree(root / "solutions", folder / f"student{number:03d}")
        started, cpu = time.monotonic(), meter.seconds()
        subprocess.run([sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out)],
                       cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True, preexec_fn=meter.join)
        wall, used = time.monotonic() - started, meter.seconds() - cpu
        with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
            totals = [float(row["total"]) for row in csv.DictReader(handle)]
    return wall, used, min(totals) if len(totals) == size else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="checkouts of the kit")
    parser.add_argument("--runs", type=int, default=4, help="rounds (each grades every kit once)")
    parser.add_argument("--class-size", type=int, default=0, help="grade a class of this many instead")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.roots]
    meter = CpuMeter()
    print(f"CPU-seconds: {meter.how}")
    runs: dict[Path, list[tuple[float, float, float]]] = {root: [] for root in roots}
    try:
        for round_ in range(args.runs):
            for root in roots:
                if args.class_size:
                    runs[root].append(grade_class(root, args.class_size, meter))
                else:
                    runs[root].append(grade(root, meter))
                wall, cpu, score = runs[root][-1]
                per_200 = f" ({wall / args.class_size * 200 / 60:.1f} min per 200)" if args.class_size else ""
                print(f"round {round_ + 1}: {root}: {wall:.2f} s{per_200}, {cpu:.2f} CPU-s, "
                      f"{'least ' if args.class_size else ''}score {score:g}", flush=True)
    finally:
        meter.close()
    print("\nmedians:")
    for root, rows in runs.items():
        wall = statistics.median(r[0] for r in rows)
        per_200 = f" ({wall / args.class_size * 200 / 60:.1f} min per 200)" if args.class_size else ""
        print(f"  {root}: {wall:.2f} s{per_200}, {statistics.median(r[1] for r in rows):.2f} CPU-s, "
              f"scores {sorted({r[2] for r in rows})}")


if __name__ == "__main__":
    main()
