"""Command line: ``python -m grader check``."""

from __future__ import annotations

import argparse
import multiprocessing
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description="baozi-kit tools")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="prove the kit: every solution passes, every stub fails")
    check.add_argument("--start-method", action="append", choices=multiprocessing.get_all_start_methods(),
                       help="only this start method (repeatable; default: all of this platform's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        from grader import check

        return check.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
