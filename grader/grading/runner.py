"""Run every check against one laid-out submission and stream the results.

``python -m grader.grading.runner --impl DIR [options]`` runs inside the grader's sandbox. Each check runs
the student's code in a process tree of its own (``grader.checking.harness``), as another user when the
grader has one to give, so the student's code can neither signal this process nor write to its
output. This process runs no student code: the verdicts are decided here. Results go out on stdout
as JSON lines, one per (check, start method), as soon as each is known, so that a runner killed
half-way still leaves what it decided.

Checks mostly wait (on delays and on processes), so several run at once, each in a thread of this
process that does nothing but wait on its check's processes.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from grader.checking import amqp
from grader.checking.exercise import all_exercises
from grader.checking.harness import Isolation
from grader.checking.settings import course_languages
from grader.grading import relay
from grader.grading.checklist import Check, Plan, checks_for, grading_plan, run_one


def jobs(exercises, plan: Plan) -> list[tuple[Check, str]]:
    return plan.runs(check for exercise in exercises for check in checks_for(exercise))


def end_user_processes(uid: int) -> None:
    """Kill every process of `uid` (a check's own user), by pid."""
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                proc.kill()
        except psutil.Error:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.grading.runner")
    parser.add_argument("--impl", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--uids", default=None,
                        help="FIRST:COUNT: users for the student's code, one per check at a time")
    parser.add_argument("--limits", default="{}", help="JSON: RLIMIT name -> value")
    parser.add_argument("--only", default=None, help="comma-separated exercises (default: all)")
    parser.add_argument("--lang", default="en", help="the reports' languages: en, zh_CN or zh_CN,en")
    args = parser.parse_args(argv)
    languages = course_languages(args.lang)

    limits = json.loads(args.limits)
    broker = None
    if os.environ.get(relay.SOCKET_ENV):  # the sandbox has no network: reach the broker by the relay
        broker, port = relay.inside(os.environ[relay.SOCKET_ENV])
        os.environ[amqp.URL_ENV] = relay.url_via(amqp.url(), port)
    users: queue.SimpleQueue | None = None
    if args.uids:
        first, count = (int(x) for x in args.uids.split(":"))
        users = queue.SimpleQueue()
        for uid in range(first, first + count):
            users.put(uid)
    exercises = all_exercises()
    if args.only is not None:
        exercises = [e for e in exercises if e.name in args.only.split(",")]
    todo = jobs(exercises, grading_plan())
    out = sys.stdout
    lock = threading.Lock()

    def emit(record: dict) -> None:
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()

    emit({"type": "plan", "jobs": len(todo)})

    def work(job):
        check, method = job
        uid = users.get() if users else None  # a user of its own: no check can touch another
        try:
            isolation = Isolation(user=(uid, uid) if uid is not None else None, limits=limits)
            result = run_one(check, method, impl_root=args.impl, seed=args.seed, scale=args.scale,
                             isolation=isolation, language=languages)
            emit({"type": "result", **result.to_record()})
        finally:
            if uid is not None:
                end_user_processes(uid)  # whatever escaped the check, before the uid is reused
                users.put(uid)

    with ThreadPoolExecutor(max_workers=max(1, args.concurrency), thread_name_prefix="check") as pool:
        for future in [pool.submit(work, job) for job in todo]:
            future.result()
    emit({"type": "done"})
    if broker is not None:
        broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
