"""Keep every core busy, as issue 12 defines "saturated": one `while 1: pass` per core, normal priority.

    python bench/saturate.py [--procs N]     # until Ctrl-C or kill

Benchmarks that must hold under load start it with `saturated()`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys


@contextlib.contextmanager
def saturated(procs: int | None = None):
    """Run `procs` (default: one per core) spinning interpreters for the duration of the block."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while 1: pass"])
                for _ in range((os.cpu_count() or 2) if procs is None else procs)]
    try:
        yield spinners
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=None, help="spinners (default: one per core)")
    args = parser.parse_args()
    # Stopped by `kill` as well as by Ctrl-C (a background job ignores SIGINT): end the spinners too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with saturated(args.procs) as spinners:
        print(f"{len(spinners)} spinners running; Ctrl-C to stop")
        try:
            spinners[0].wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
