"""Timings of the batch grader, run by hand (never in a timed test):

    python bench/grading.py [--copies N] [--concurrency K]

Targets on a 2-core machine (issue: the batch grader):
1. a correct submission is graded in at most 5 s;
2. a submission that hangs in every exercise costs at most 2.5 times a correct one;
3. `--workers 2` grades a folder at least 1.6 times faster than `--workers 1`.

It grades the reference solutions, a generated submission whose every function blocks forever, and
a folder of N copies of both, through the same code as `python -m grader batch`.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.checking.exercise import SOLUTIONS_DIR, all_exercises  # noqa: E402
from grader.grading import batch, pipeline  # noqa: E402
from grader.grading.sandbox import choose  # noqa: E402

HANG = '''import threading


def _forever(*args, **kwargs):
    threading.Event().wait()


{names}
'''


def hanging_submission(folder: Path) -> Path:
    """Every function of every exercise waits forever."""
    for exercise in all_exercises():
        names = "\n".join(f"{name} = _forever" for name in exercise.functions)
        module = folder / exercise.name / f"{exercise.module}.py"
        module.parent.mkdir(parents=True)
        module.write_text(HANG.format(names=names))
    return folder


def time_grade(source: Path, out: Path, options: pipeline.Options) -> tuple[float, float]:
    started = time.monotonic()
    result = pipeline.grade(source, out, options)
    return time.monotonic() - started, result.score


def time_batch(folder: Path, out: Path, options: pipeline.Options, workers: int) -> float:
    quiet = batch.Progress(0, stream=io.StringIO())
    started = time.monotonic()
    batch.run_batch(folder, out, options, workers, progress=quiet)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="copies of each submission in the batch")
    parser.add_argument("--concurrency", type=int, default=pipeline.Options.concurrency)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "grading.json")
    args = parser.parse_args()
    options = pipeline.Options(sandbox=choose(), concurrency=args.concurrency)
    print(options.sandbox.description)
    with tempfile.TemporaryDirectory(prefix="baozi-bench-") as tmp:
        tmp = Path(tmp)
        hang = hanging_submission(tmp / "hang")
        correct_s, correct_score = time_grade(SOLUTIONS_DIR, tmp / "out-correct", options)
        hang_s, hang_score = time_grade(hang, tmp / "out-hang", options)
        folder = tmp / "class"
        for i in range(args.copies):
            shutil.copytree(SOLUTIONS_DIR, folder / f"correct-{i}")
            shutil.copytree(hang, folder / f"hang-{i}")
        one = time_batch(folder, tmp / "out-1", options, workers=1)
        two = time_batch(folder, tmp / "out-2", options, workers=2)
    figures = {
        "correct_submission_s": round(correct_s, 2), "correct_score": correct_score,
        "hanging_submission_s": round(hang_s, 2), "hanging_score": hang_score,
        "hang_over_correct": round(hang_s / correct_s, 2),
        "batch_submissions": 2 * args.copies,
        "workers_1_s": round(one, 1), "workers_2_s": round(two, 1), "speedup": round(one / two, 2),
        "concurrency": args.concurrency, "sandbox": options.sandbox.kind,
    }
    for key, value in figures.items():
        print(f"{key:<22} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
