"""Which of two or more copies of the kit grades a correct submission with less, run by hand:

    python bench/compare.py [--runs N] KIT_ROOT [KIT_ROOT ...]

    e.g. git worktree add /tmp/before HEAD~1; python bench/compare.py --runs 5 /tmp/before .

Each KIT_ROOT is a checkout of the kit (a git worktree will do). Each round grades each kit's own
reference solutions once with `python -m grader grade`, as bench/grading.py does, in turn, so
that whatever else the machine does (a busy neighbour) weighs on every kit alike; a change of
10 % shows through noise that a run of one kit after the other would hide. It prints each run, then
the medians of wall time and CPU-seconds (bench/grading.py's CpuMeter: the grading process tree,
broker excluded), and the score, which must be the full one.

It runs this interpreter in each kit's folder, with that folder first on PYTHONPATH, so that the
kit it imports, here and in the sandbox, is that folder's.
"""

from __future__ import annotations

import argparse
import json
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="checkouts of the kit")
    parser.add_argument("--runs", type=int, default=4, help="rounds (each grades every kit once)")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.roots]
    meter = CpuMeter()
    print(f"CPU-seconds: {meter.how}")
    runs: dict[Path, list[tuple[float, float, float]]] = {root: [] for root in roots}
    try:
        for round_ in range(args.runs):
            for root in roots:
                runs[root].append(grade(root, meter))
                wall, cpu, score = runs[root][-1]
                print(f"round {round_ + 1}: {root}: {wall:.2f} s, {cpu:.2f} CPU-s, score {score:g}", flush=True)
    finally:
        meter.close()
    print("\nmedians:")
    for root, rows in runs.items():
        print(f"  {root}: {statistics.median(r[0] for r in rows):.2f} s, "
              f"{statistics.median(r[1] for r in rows):.2f} CPU-s, scores {sorted({r[2] for r in rows})}")


if __name__ == "__main__":
    main()
