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
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading import CpuMeter, time_class, time_grade  # noqa: E402  (bench/grading.py, beside this script)


def grade(root: Path, meter: CpuMeter) -> tuple[float, float, float]:
    """Wall seconds, CPU-seconds and score of `python -m grader grade solutions` in `root`."""
    with tempfile.TemporaryDirectory(prefix="baozi-compare-") as out:
        return time_grade(root / "solutions", Path(out), meter, None, root=root)


def grade_class(root: Path, size: int, meter: CpuMeter) -> tuple[float, float, None]:
    """Wall seconds and CPU-seconds of `python -m grader batch` on `size` copies of the solutions
    in `root` (time_class stops the comparison unless every copy gets full marks)."""
    with tempfile.TemporaryDirectory(prefix="baozi-compare-") as tmp:
        folder = Path(tmp) / "class"
        for number in range(size):
            shutil.copytree(root / "solutions", folder / f"student{number:03d}")
        cpu = meter.seconds()
        wall = time_class(folder, Path(tmp) / "out", None, root=root, meter=meter)
    return wall, meter.seconds() - cpu, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="checkouts of the kit")
    parser.add_argument("--runs", type=int, default=4, help="rounds (each grades every kit once)")
    parser.add_argument("--class-size", type=int, default=0, help="grade a class of this many instead")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.roots]
    meter = CpuMeter()
    print(f"CPU-seconds: {meter.how}")
    runs: dict[Path, list[tuple[float, float, float | None]]] = {root: [] for root in roots}
    try:
        for round_ in range(args.runs):
            for root in roots:
                if args.class_size:
                    runs[root].append(grade_class(root, args.class_size, meter))
                else:
                    runs[root].append(grade(root, meter))
                wall, cpu, score = runs[root][-1]
                print(f"round {round_ + 1}: {root}: {_figures(wall, cpu, args.class_size)}"
                      f"{'' if score is None else f', score {score:g}'}", flush=True)
    finally:
        meter.close()
    print("\nmedians:")
    for root, rows in runs.items():
        wall, cpu = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        scores = sorted({r[2] for r in rows if r[2] is not None})
        print(f"  {root}: {_figures(wall, cpu, args.class_size)}{f', scores {scores}' if scores else ''}")


def _figures(wall: float, cpu: float, class_size: int) -> str:
    per_200 = f" ({wall / class_size * 200 / 60:.1f} min per 200)" if class_size else ""
    return f"{wall:.2f} s{per_200}, {cpu:.2f} CPU-s"


if __name__ == "__main__":
    main()
