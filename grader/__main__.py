"""Command line: ``python -m grader watch | status | check | grade | batch | worker | release | init |
nbgrader export | gradescope``."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path


def _course_languages(text: str) -> tuple[str, ...]:
    from grader.checking.settings import course_languages

    try:
        return course_languages(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _language_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", type=_course_languages, default=("en",), metavar="LANG[,LANG]",
                        help="the language of the students' feedback: en (default), zh_CN, or both "
                             "(zh_CN,en: every report in each, the first first); the course decides, "
                             "not this machine's locale")


def _grading_options(parser: argparse.ArgumentParser) -> None:
    _language_option(parser)
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated items (default 1)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="checks of one submission run at once (default: 6 per core, shared among "
                             "the submissions graded at once, at most 16)")
    parser.add_argument("--budget-scale", type=float, default=1.0,
                        help="multiply every check's time budget (a slow or busy machine)")
    parser.add_argument("--sandbox", choices=["auto", "bubblewrap", "session"], default="auto",
                        help="bubblewrap (Linux) or plain process sessions (default: the best available)")


def _queue_options(parser: argparse.ArgumentParser) -> None:
    from grader.distributed.jobs import JOBS_QUEUE, MAX_DELIVERIES

    parser.add_argument("--queue", default=JOBS_QUEUE, help=f"the jobs queue (default {JOBS_QUEUE})")
    parser.add_argument("--max-deliveries", type=int, default=MAX_DELIVERIES,
                        help="deliveries of a job before it is set aside as 'could not be graded' "
                             f"(default {MAX_DELIVERIES}; fixed when the queue is first declared)")


def _student_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", default=None, metavar="LANG",
                        help="the language of the screen and the reports: zh_CN or en (else BAOZI_LANG, "
                             "else the system's locale, else English)")
    parser.add_argument("--impl", type=Path, default=None, metavar="DIR",
                        help="your modules are in DIR, laid out like exercises/ (default: exercises/ itself)")
    parser.add_argument("--start-method", choices=multiprocessing.get_all_start_methods(), default=None,
                        help="run your code under this start method only (default: the platform's and spawn)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description="baozi-kit tools")
    commands = parser.add_subparsers(dest="command", required=True)

    watch = commands.add_parser("watch", help="the exercises one by one: the checks rerun on every save")
    _student_options(watch)
    watch.add_argument("--poll", action="store_true",
                       help="look at the module twice a second instead of waiting for file events "
                            "(where they do not work: some network folders, WSL on a Windows drive)")
    status = commands.add_parser("status", help="where you stand: done, current and not started exercises")
    _student_options(status)
    status.add_argument("--check", action="store_true", help="rerun every exercise's checks first")

    check = commands.add_parser("check", help="prove the kit: every solution passes, every stub fails")
    check.add_argument("--start-method", action="append", choices=multiprocessing.get_all_start_methods(),
                       help="only this start method (repeatable; default: all of this platform's)")

    grade = commands.add_parser("grade", help="grade one submission (a folder or .zip)")
    grade.add_argument("submission", type=Path)
    grade.add_argument("--out", type=Path, default=Path("graded"),
                       help="writes OUT/<student>/results.json and feedback.md (default ./graded)")
    _grading_options(grade)

    batch = commands.add_parser("batch", help="grade every submission of a folder into a gradebook")
    batch.add_argument("submissions", type=Path)
    batch.add_argument("--out", type=Path, required=True)
    batch.add_argument("--workers", type=int, default=None,
                       help="submissions graded at once (default: the number of cores)")
    batch.add_argument("--broker", metavar="URL", default=None,
                       help="grade on RabbitMQ workers (python -m grader worker) through the broker at "
                            "URL instead of here; 'env' reads it from BAOZI_BROKER_URL, else KIT_AMQP_URL "
                            "(keeps the password off the command line)")
    _queue_options(batch)
    batch.add_argument("--nbgrader-db", type=Path, default=None, metavar="PATH",
                       help="also write the grades into this nbgrader gradebook (e.g. COURSE/gradebook.db)")
    batch.add_argument("--nbgrader-assignment", default="baozi", metavar="NAME",
                       help="the gradebook's assignment (default baozi)")
    _grading_options(batch)

    worker = commands.add_parser("worker", help="grade jobs of `batch --broker` from RabbitMQ, one at a time")
    worker.add_argument("--broker", metavar="URL", default=None,
                        help="the broker's URL (default: BAOZI_BROKER_URL, else KIT_AMQP_URL, else "
                             "amqp://guest:guest@localhost:5672/%%2F)")
    _queue_options(worker)
    worker.add_argument("--sandbox", choices=["auto", "bubblewrap", "session"], default="auto",
                        help="bubblewrap (Linux) or plain process sessions (default: the best available)")
    worker.add_argument("--slot", type=int, default=None,
                        help="first grading slot to try (default 16; a free one is locked)")
    worker.add_argument("--max-jobs", type=int, default=None, help="leave after grading this many jobs")

    release = commands.add_parser("release", help="build the student bundle (no solutions, no hidden checks)")
    release.add_argument("out", type=Path)

    init = commands.add_parser("init", help="write a student's copy of the exercises, for an installed kit")
    init.add_argument("dir", type=Path, metavar="DIR")

    nbgrader = commands.add_parser("nbgrader", help="the kit as an nbgrader course")
    nbgrader_commands = nbgrader.add_subparsers(dest="nbgrader_command", required=True)
    export = nbgrader_commands.add_parser("export", help="write nbgrader_config.py and source/ASSIGNMENT/*.ipynb")
    export.add_argument("course", type=Path, metavar="COURSE_DIR")
    export.add_argument("--assignment", default="baozi", help="the assignment's name (default baozi)")
    export.add_argument("--exercises", default=None, metavar="EX1,EX2",
                        help="only these exercises (default: every exercise of the kit)")
    export.add_argument("--force", action="store_true", help="replace an existing source/ASSIGNMENT/")
    _language_option(export)

    gradescope = commands.add_parser("gradescope", help="build a Gradescope autograder zip")
    gradescope.add_argument("out", type=Path, metavar="OUT.zip")
    _language_option(gradescope)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("watch", "status"):
        if args.impl is not None and not args.impl.is_dir():
            parser.error(f"--impl {args.impl}: no such folder (it should be laid out like exercises/)")
        from grader.checking.settings import language

        try:
            args.lang = language(args.lang)
        except ValueError as exc:
            parser.error(str(exc))
        from grader.student import loop, status

        return loop.main(args) if args.command == "watch" else status.main(args)
    if args.command == "check":
        from grader import check

        return check.main(args)
    if args.command in ("release", "init"):
        from grader import release

        return release.main(args) if args.command == "release" else release.init_main(args)
    if args.command == "nbgrader":
        from grader.integrations import nbgrader_export

        return nbgrader_export.main(args)
    if args.command == "gradescope":
        from grader.integrations import gradescope

        return gradescope.main(args)
    if args.command in ("grade", "batch"):
        source = args.submission if args.command == "grade" else args.submissions
        if not source.exists():
            parser.error(f"{source}: no such file or folder")
    then = None
    if args.command == "batch" and args.nbgrader_db is not None:
        from grader.integrations import nbgrader_gradebook

        problem = nbgrader_gradebook.unusable(args.nbgrader_db)
        if problem:
            parser.error(f"--nbgrader-db: {problem}")
        then = nbgrader_gradebook.writer(args.nbgrader_db, args.nbgrader_assignment)
    if args.command == "grade":
        from grader.grading import pipeline

        return pipeline.main(args)
    if args.command == "worker":
        from grader.distributed import worker

        return worker.main(args)
    if args.broker:
        from grader.distributed import broker_batch, jobs

        args.broker = jobs.broker_url(args.broker)
        return broker_batch.main(args, then)
    from grader.grading import batch

    return batch.main(args, then)


if __name__ == "__main__":
    sys.exit(main())
