"""Timings of grading on RabbitMQ workers, run by hand (never in a timed test):

    python bench/distributed.py [--copies N] [--broker URL]

Targets on a 2-core machine (issue 6: grade across machines):
1. two workers grade a folder at least 1.6 times faster than one worker;
2. the broker path with two workers is at most 15% slower than the local pool (``--workers 2``) on
   the same folder.

Target 1 is measured twice. Adding a worker means adding a machine, so the first measure gives each
worker a core of its own (``taskset -c``: the worker and everything it starts run on that core),
as two one-core machines would: one pinned worker against two. The second runs the workers
unpinned on the same two cores; there one worker, which runs several checks at once, already keeps
both cores mostly busy, so a second worker on the same cores only fills the idle time that is left.

The folder holds N copies of the reference solutions and N of a submission whose every function hangs
(as in bench/grading.py). The local pool runs through ``grader.grading.batch.run_batch``, the broker
path through ``grader.distributed.broker_batch.run_broker_batch`` (what ``python -m grader batch
--broker`` runs), with ``python -m grader worker`` processes started, and ready, before the clock
starts. Each run uses a jobs queue of its own on the broker (default: KIT_AMQP_URL, else localhost),
deleted after. The machine's load (``os.getloadavg``) is recorded before and after each run: on a shared
machine the figures are only as good as the quiet they were taken in.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading import hanging_submission  # noqa: E402  (bench/grading.py)

from grader.checking import amqp  # noqa: E402
from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR  # noqa: E402
from grader.grading import batch, pipeline
from grader.grading.sandbox import choose  # noqa: E402
from grader.distributed import broker_batch, jobs
from grader.distributed.worker import same_account  # noqa: E402

WORKER_READY_TIMEOUT = 60.0


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def start_workers(count: int, url: str, queue: str, pinned: bool = False) -> list[subprocess.Popen]:
    """`count` workers, each ready (its first log line written) before this returns; `pinned`, the
    i-th on core i alone (with all it starts: children inherit the CPU affinity)."""
    workers = []
    for i in range(count):
        cores = sorted(os.sched_getaffinity(0))  # the cores this bench may use
        pin = ["taskset", "-c", str(cores[i % len(cores)])] if pinned else []
        worker = subprocess.Popen([*pin, sys.executable, "-m", "grader", "worker", "--broker", url, "--queue", queue],
                                  cwd=KIT_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        workers.append(worker)
        lines = []
        while not lines or "taking jobs" not in lines[-1]:  # "taking jobs from ..." once it has started
            lines.append(worker.stderr.readline())
            if not lines[-1]:  # it ended
                stop_workers(workers)
                raise RuntimeError("a worker did not start: " + "".join(lines))
        threading.Thread(target=worker.stderr.read, daemon=True).start()  # its job log, unread
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def time_local(folder: Path, out: Path, options: pipeline.Options, workers: int) -> dict:
    before = load()
    started = time.monotonic()
    batch.run_batch(folder, out, options, workers, progress=batch.Progress(0, stream=io.StringIO()))
    return {"seconds": round(time.monotonic() - started, 1), "load_before": before, "load_after": load()}


def time_broker(folder: Path, out: Path, options: pipeline.Options, url: str, workers: int,
                pinned: bool = False) -> dict:
    queue = amqp.unique_name("bench")
    started_workers = start_workers(workers, url, queue, pinned)
    try:
        before = load()
        started = time.monotonic()
        broker_batch.run_broker_batch(folder, out, options, url, queue,
                                 progress=broker_batch.BrokerProgress(0, stream=io.StringIO()),
                                 key=os.environ[jobs.RESULTS_KEY_ENV].encode())
        seconds = time.monotonic() - started
    finally:
        stop_workers(started_workers)
        amqp.delete_queues(url, [queue])
    return {"seconds": round(seconds, 1), "load_before": before, "load_after": load()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=3, help="copies of each submission in the folder")
    parser.add_argument("--broker", default=None, help="the broker's URL (default: KIT_AMQP_URL, else localhost)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "distributed.json")
    args = parser.parse_args()
    url = args.broker or amqp.url()
    why = amqp.unreachable(url)
    if why:
        sys.exit(amqp.how_to_start(url, why))
    if same_account(url, amqp.url()):
        sys.exit("workers refuse to take jobs with the account exercise 7 hands to student code: give "
                 "the exercises a vhost and user of their own and point KIT_AMQP_URL at them, or pass "
                 "--broker with another account (docs/distributed.md)")
    os.environ.setdefault(jobs.RESULTS_KEY_ENV, secrets.token_hex(32))  # the workers inherit it
    if not shutil.which("taskset") or len(os.sched_getaffinity(0)) < 2:
        sys.exit("this bench needs taskset (util-linux) and at least 2 cores")
    options = pipeline.Options(sandbox=choose())
    print(options.sandbox.description)
    with tempfile.TemporaryDirectory(prefix="baozi-bench-") as tmp:
        tmp = Path(tmp)
        hang = hanging_submission(tmp / "hang")
        folder = tmp / "class"
        for i in range(args.copies):
            shutil.copytree(SOLUTIONS_DIR, folder / f"correct-{i}")
            shutil.copytree(hang, folder / f"hang-{i}")
        runs = {
            "local_workers_2": time_local(folder, tmp / "out-local", options, 2),
            "broker_workers_1": time_broker(folder, tmp / "out-1", options, url, 1),
            "broker_workers_2": time_broker(folder, tmp / "out-2", options, url, 2),
            "pinned_workers_1": time_broker(folder, tmp / "out-p1", options, url, 1, pinned=True),
            "pinned_workers_2": time_broker(folder, tmp / "out-p2", options, url, 2, pinned=True),
        }
        others = ("out-1", "out-2", "out-p1", "out-p2")
        grades = {name: (tmp / name / "grades.csv").read_text().splitlines() for name in ("out-local", *others)}
        differ = sorted({row for name in others for row in grades[name] if row not in grades["out-local"]})
    one, two, local = (runs[k]["seconds"] for k in ("broker_workers_1", "broker_workers_2", "local_workers_2"))
    pinned_one, pinned_two = runs["pinned_workers_1"]["seconds"], runs["pinned_workers_2"]["seconds"]
    figures = {
        "submissions": 2 * args.copies, "cores": os.cpu_count(), "sandbox": options.sandbox.kind,
        **{f"{name}_s": run["seconds"] for name, run in runs.items()},
        "speedup_2_over_1_a_core_each": round(pinned_one / pinned_two, 2),
        "speedup_2_over_1_same_cores": round(one / two, 2), "target_speedup": 1.6,
        "broker_over_local": round(two / local, 2), "target_broker_over_local": 1.15,
        "same_grades": not differ, "rows_unlike_local": differ,
        "load": {name: [run["load_before"], run["load_after"]] for name, run in runs.items()},
    }
    for key, value in figures.items():
        print(f"{key:<22} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
