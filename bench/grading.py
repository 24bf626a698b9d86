"""Timings of the batch grader, run by hand (never in a timed test):

    python bench/grading.py [--copies N] [--class-size N] [--concurrency K]

Targets on a quiet 2-core machine, bubblewrap as root (the issue on the cost of grading):
1. a correct submission is graded by `python -m grader grade` in at most 7 s and 12 CPU-s;
2. a submission that hangs in every exercise costs at most 2 times a correct one;
3. 200 correct submissions in at most 15 minutes with the default options (extrapolated from a
   class of --class-size correct ones, graded by `python -m grader batch` with its defaults);
4. Ctrl-C stops a batch of that class promptly, exit status 130.

CPU-seconds are those of the grading process tree (CpuMeter says how they were counted).

It grades the reference solutions, a generated submission whose every function blocks forever, and
a folder of N copies of both, through the same code as `python -m grader batch` with one worker and
with two; then a class of correct submissions with `python -m grader batch` as an instructor runs
it; then it stops a batch of that class with Ctrl-C (SIGINT to its process group) once its first
runner is at work, and reports how long the batch took to exit, with its exit status. Without
--concurrency, each run takes the grader's default for its number of workers.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR, all_exercises  # noqa: E402
from grader.checking.settings import grading_concurrency  # noqa: E402
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


class CpuMeter:
    """CPU-seconds of the grading process tree alone: a cgroup of its own (cgroup v1 cpuacct, as
    root on Linux), which every process the grader starts joins, the sandbox and the student's
    processes included, and the broker does not. Elsewhere, every CPU of the machine from
    /proc/stat, which counts whatever else runs: keep the machine quiet."""

    CPUACCT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self):
        self.group = self.CPUACCT / f"baozi-bench-{os.getpid()}"
        try:
            self.group.mkdir()
            self.how = "cgroup cpuacct: the grading process tree, broker excluded"
        except OSError:
            self.group = None
            self.how = "machine-wide /proc/stat (no cgroup here): everything that ran meanwhile"

    def join(self) -> None:
        """Put the calling process, and so all it starts, in the meter's group (a preexec_fn)."""
        if self.group is not None:
            (self.group / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        if self.group is not None:
            return self.usage(self.group)
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def usage(group: Path) -> float:
        """CPU-seconds the processes of `group` have used (readable from inside it too)."""
        return int((group / "cpuacct.usage").read_text()) / 1e9

    def close(self) -> None:
        """Remove the group once the last process of the measured runs has left it (a fork server
        of drivers ends a moment after the process that used it). A group left behind stays
        until the machine restarts."""
        if self.group is None:
            return
        deadline = time.monotonic() + 30
        while (self.group / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.group.rmdir()


def _concurrency(concurrency: int | None) -> list[str]:
    return ["--concurrency", str(concurrency)] if concurrency else []


def _in(root: Path) -> dict:
    """How to run the grader of the kit in `root` (this one, or another checkout: bench/compare.py):
    in its folder, with it first on PYTHONPATH, so that the kit imported there and in the sandbox
    is that folder's."""
    if root == KIT_ROOT:
        return {"cwd": KIT_ROOT}
    return {"cwd": root, "env": {**os.environ, "PYTHONPATH": str(root)}}


def time_grade(source: Path, out: Path, meter: CpuMeter, concurrency: int | None,
               root: Path = KIT_ROOT) -> tuple[float, float, float]:
    """Wall seconds, CPU-seconds (CpuMeter) and score of `python -m grader grade source`, by the
    kit in `root`."""
    started, cpu = time.monotonic(), meter.seconds()
    subprocess.run([sys.executable, "-m", "grader", "grade", str(source), "--out", str(out),
                    *_concurrency(concurrency)], stdin=subprocess.DEVNULL,
                   capture_output=True, check=True, preexec_fn=meter.join, **_in(root))
    wall, used = time.monotonic() - started, meter.seconds() - cpu
    graded = json.loads(next(out.glob("*/results.json")).read_text(encoding="utf-8"))
    for test in graded["tests"]:
        if test["status"] != "passed" and source == root / "solutions":  # a right answer failed: say where
            print(f"the solutions failed {test['name']}:\n{test['output']}", file=sys.stderr)
    return wall, used, sum(score for score, _ in graded["extra_data"]["exercises"].values())


def time_batch(folder: Path, out: Path, options: pipeline.Options, workers: int) -> float:
    quiet = batch.Progress(0, stream=io.StringIO())
    options = dataclasses.replace(options, concurrency=options.concurrency or grading_concurrency(workers))
    started = time.monotonic()
    batch.run_batch(folder, out, options, workers, progress=quiet)
    return time.monotonic() - started


def time_class(folder: Path, out: Path, concurrency: int | None, root: Path = KIT_ROOT,
               meter: CpuMeter | None = None) -> float:
    """Wall seconds of `python -m grader batch folder` with the default options (all of them, but
    --concurrency when given), by the kit in `root`; every submission must get full marks. With
    `meter`, the batch's CPU-seconds count in it."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out),
                    *_concurrency(concurrency)], stdin=subprocess.DEVNULL,
                   capture_output=True, check=True, preexec_fn=meter and meter.join, **_in(root))
    seconds = time.monotonic() - started
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    wrong = {row["student"]: row["total"] for row in rows if float(row["total"]) != float(row["max_score"])}
    if len(rows) != len(list(folder.iterdir())) or wrong:
        raise SystemExit(f"the class was not graded right: {len(rows)} rows, not full marks: {wrong}")
    return seconds


def time_ctrl_c(folder: Path, out: Path) -> tuple[float, int]:
    """Seconds from Ctrl-C to the batch's exit, and its exit status: SIGINT goes to the batch's
    process group as soon as one of its runners is at work."""
    batch_process = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out),
                                      "--workers", "2"], cwd=KIT_ROOT, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        while batch_process.poll() is None and not any(
                "grader.grading.runner" in " ".join(child.cmdline())
                for child in psutil.Process(batch_process.pid).children(recursive=True)):
            time.sleep(0.05)
        started = time.monotonic()
        os.killpg(batch_process.pid, signal.SIGINT)
        status = batch_process.wait(timeout=120)
        return time.monotonic() - started, status
    finally:
        if batch_process.poll() is None:
            os.killpg(batch_process.pid, signal.SIGKILL)
            batch_process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="copies of each submission in the batch")
    parser.add_argument("--class-size", type=int, default=20, help="correct submissions in the class")
    parser.add_argument("--concurrency", type=int, default=None, help="default: the grader's own")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "grading.json")
    args = parser.parse_args()
    options = pipeline.Options(sandbox=choose(), concurrency=args.concurrency)
    print(options.sandbox.description)
    with tempfile.TemporaryDirectory(prefix="baozi-bench-") as tmp:
        tmp = Path(tmp)
        hang = hanging_submission(tmp / "hang")
        meter = CpuMeter()
        try:
            correct_s, correct_cpu, correct_score = time_grade(SOLUTIONS_DIR, tmp / "out-correct", meter, args.concurrency)
            hang_s, hang_cpu, hang_score = time_grade(hang, tmp / "out-hang", meter, args.concurrency)
        finally:
            meter.close()
        folder = tmp / "class"
        for i in range(args.copies):
            shutil.copytree(SOLUTIONS_DIR, folder / f"correct-{i}")
            shutil.copytree(hang, folder / f"hang-{i}")
        one = time_batch(folder, tmp / "out-1", options, workers=1)
        two = time_batch(folder, tmp / "out-2", options, workers=2)
        klass = tmp / "correct-class"
        for i in range(args.class_size):
            shutil.copytree(SOLUTIONS_DIR, klass / f"student-{i:03d}")
        class_s = time_class(klass, tmp / "out-class", args.concurrency)
        ctrl_c_s, ctrl_c_status = time_ctrl_c(klass, tmp / "out-ctrl-c")
    figures = {
        "correct_submission_s": round(correct_s, 2), "correct_cpu_s": round(correct_cpu, 2),
        "correct_score": correct_score,
        "hanging_submission_s": round(hang_s, 2), "hanging_cpu_s": round(hang_cpu, 2), "hanging_score": hang_score,
        "hang_over_correct": round(hang_s / correct_s, 2),
        "batch_submissions": 2 * args.copies,
        "workers_1_s": round(one, 1), "workers_2_s": round(two, 1), "speedup": round(one / two, 2),
        "class_size": args.class_size, "class_s": round(class_s, 1),
        "class_of_200_min": round(class_s * 200 / args.class_size / 60, 1),
        "ctrl_c_to_exit_s": round(ctrl_c_s, 2), "ctrl_c_exit_status": ctrl_c_status,
        "concurrency": args.concurrency or f"default (grade: {grading_concurrency(1)}, two workers: "
                                           f"{grading_concurrency(2)} each)",
        "sandbox": options.sandbox.kind, "cpu_counted_by": meter.how,
    }
    for key, value in figures.items():
        print(f"{key:<22} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
