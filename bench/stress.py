"""Same code, same verdict (issue 12), run by hand (never in a timed test):

    python bench/stress.py [--copies 3] [--only ex03_sentinel,ex07_rabbitmq/auto_ack] [--workers 2] [--quiet]
                           [--broker URL] [--save FILE] [--against FILE] [--keep FOLDER]

Grades every golden case (``tests/cases/<exercise>/<case>/``, the grading cases aside) and every
reference solution (``solutions/<exercise>/``, as the case ``<exercise>/solutions``) as `copies`
submissions of one batch, through the same code as ``python -m grader batch``, with every core
saturated (``bench/saturate.py``). Reports:

- cases whose copies got different per-check verdicts (pass/fail of each check and start method);
- right cases ("pass") that lost points in some copy, and wrong ones that lost none in some copy;
- with ``--against FILE`` (a run saved with ``--save FILE``): cases whose per-check verdicts differ
  from that run's, e.g. ``--workers 1`` against ``--workers 2``, or RabbitMQ workers against a batch
  graded here.

``--broker URL`` grades on ``--workers`` RabbitMQ workers of this machine (``python -m grader
worker``, ended by pid afterwards) through the broker at URL, which must be an account of its own,
not the one exercise 7 gives student code (a worker refuses that one).

Every count must be 0. The suite runs a bounded subset of this (tests/test_stress.py).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from saturate import saturated  # noqa: E402

from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR, all_exercises  # noqa: E402
from grader.grading import batch, pipeline  # noqa: E402
from grader.grading.sandbox import choose  # noqa: E402
from grader.distributed.jobs import RESULTS_KEY_ENV  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CASES = KIT_ROOT / "tests" / "cases"


def golden_cases(only: set[str] | None) -> list[tuple[str, Path, str]]:
    """(exercise, case folder, verdict) of every golden case of the exercises (or cases, as
    ``exercise/case``) asked for, and each exercise's reference solution as a right case named
    ``exercise/solutions``."""
    names = {e.name for e in all_exercises()}
    found = []
    for toml in sorted(CASES.glob("*/*/case.toml")):
        exercise = toml.parent.parent.name
        if exercise in names and (not only or exercise in only or f"{exercise}/{toml.parent.name}" in only):
            found.append((exercise, toml.parent, tomllib.loads(toml.read_text(encoding="utf-8"))["verdict"]))
    for exercise in sorted(names):
        if not only or exercise in only or f"{exercise}/solutions" in only:
            found.append((exercise, SOLUTIONS_DIR / exercise, "pass"))
    return found


def verdicts(results: Path, exercise: str) -> tuple[dict[str, bool], float, int, dict[str, str]]:
    """Per-check pass/fail of one exercise in a student's results.json, its score and max, and the
    report of each failed check."""
    payload = json.loads(results.read_text(encoding="utf-8"))
    mine = [t for t in payload["tests"] if t["name"].startswith(exercise)]
    score, most = payload["extra_data"]["exercises"][exercise]
    failed = {t["name"]: t.get("output", "") for t in mine if t.get("status") != "passed"}
    return {t["name"]: t.get("status") == "passed" for t in mine}, score, most, failed


def grade_on_workers(folder: Path, out: Path, url: str, count: int) -> None:
    """``python -m grader batch --broker URL`` with `count` workers of this machine, on a jobs queue
    of this run's own; the workers are ended by pid when the batch is done."""
    queue = f"baozi.stress.{secrets.token_hex(4)}"
    env = {**os.environ, RESULTS_KEY_ENV: secrets.token_hex(16)}
    grader = [sys.executable, "-m", "grader"]
    workers = [subprocess.Popen([*grader, "worker", "--broker", url, "--queue", queue], env=env, cwd=KIT_ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]
    try:
        subprocess.run([*grader, "batch", str(folder), "--out", str(out), "--broker", url, "--queue", queue],
                       env=env, cwd=KIT_ROOT, stdout=subprocess.DEVNULL, check=True)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated exercises or exercise/case (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no saturation (for comparison)")
    parser.add_argument("--broker", metavar="URL", help="grade on RabbitMQ workers through the broker at URL")
    parser.add_argument("--save", metavar="FILE", help="write each case's per-check verdicts to FILE")
    parser.add_argument("--against", metavar="FILE", help="compare with the verdicts a run saved in FILE")
    parser.add_argument("--keep", metavar="FOLDER", help="keep the graded batch (every copy's feedback) in FOLDER")
    args = parser.parse_args()
    cases = golden_cases(set(filter(None, args.only.split(","))))
    options = pipeline.Options(sandbox=choose())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="baozi-stress-") as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "out"
        names = {}
        for exercise, case, verdict in cases:
            module = next(case.glob("*.py"))
            label = "solutions" if case.parent == SOLUTIONS_DIR else case.name
            for copy in range(args.copies):
                name = f"{exercise}-{label}-{copy}"
                (folder / name / exercise).mkdir(parents=True)
                shutil.copy(module, folder / name / exercise / module.name)
                names[name] = (exercise, label, verdict)
        with saturated(0 if args.quiet else None):
            if args.broker:
                grade_on_workers(folder, out, args.broker, args.workers)
            else:
                batch.run_batch(folder, out, options, args.workers, progress=batch.Progress(0, stream=io.StringIO()))
        seen: dict[tuple, list] = collections.defaultdict(list)
        for name, (exercise, case, verdict) in names.items():
            seen[(exercise, case, verdict)].append(verdicts(out / name / "results.json", exercise))
        if args.keep:
            shutil.copytree(out, args.keep, dirs_exist_ok=True)
    differing, right_lost, wrong_kept = [], [], []
    for (exercise, case, verdict), copies in seen.items():
        if any(checks != copies[0][0] for checks, _, _, _ in copies):
            flips = sorted(k for k in copies[0][0] if len({c[0].get(k) for c in copies}) > 1)
            differing.append(f"{exercise}/{case}: {', '.join(flips)} (scores {[c[1] for c in copies]})")
        if verdict == "pass" and any(score < most for _, score, most, _ in copies):
            reports = [f"\n  {name}:\n    " + text[:1500].replace("\n", "\n    ")
                       for _, _, _, failed in copies for name, text in failed.items()]
            right_lost.append(f"{exercise}/{case}: scores {[c[1] for c in copies]} of {copies[0][2]}"
                              + "".join(reports[:3]))
        if verdict == "fail" and any(score >= most for _, score, most, _ in copies):
            wrong_kept.append(f"{exercise}/{case}: scores {[c[1] for c in copies]} of {copies[0][2]}")
    checks = {f"{exercise}/{case}": copies[0][0] for (exercise, case, _), copies in seen.items()
              if all(c[0] == copies[0][0] for c in copies)}
    if args.save:
        Path(args.save).write_text(json.dumps(checks, indent=1, sort_keys=True), encoding="utf-8")
    unlike = []
    if args.against:
        before = json.loads(Path(args.against).read_text(encoding="utf-8"))
        for case in sorted(set(before) & set(checks)):
            flips = sorted(k for k in set(before[case]) | set(checks[case]) if before[case].get(k) != checks[case].get(k))
            if flips:
                unlike.append(f"{case}: {', '.join(flips)}")
    figures = {"cases": len(seen), "copies": args.copies, "workers": args.workers, "saturated": not args.quiet,
               "broker": bool(args.broker), "differing": len(differing), "right_lost_points": len(right_lost),
               "wrong_kept_full_marks": len(wrong_kept), "seconds": round(time.monotonic() - started, 1)}
    if args.against:
        figures["unlike_the_saved_run"] = len(unlike)
    for title, rows in (("copies differ", differing), ("right case lost points", right_lost),
                        ("wrong case kept full marks", wrong_kept), ("unlike the saved run", unlike)):
        for row in rows:
            print(f"{title}: {row}")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
