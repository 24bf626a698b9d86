"""An unsolved exercise 3 that tries to print the kit's hidden checks into its own feedback: each of
its functions raises an exception that carries every hidden check it can find, in the kit's folder,
in a build/ or dist/ copy, or in an installed copy in site-packages. In the sandbox there is none to
read; where one can be read (no sandbox), the output that quotes it is withheld."""

import glob
import os
import site
import sys


def _loot() -> str:
    roots = set()
    for folder in [*sys.path, *site.getsitepackages(), os.getcwd()]:
        for up in range(6):
            roots.add(os.path.abspath(os.path.join(folder, *[".."] * up)))
    found = []
    for root in sorted(roots):
        for pattern in ("grader/**/hidden/*.py", "build/lib/grader/**/hidden/*.py", "*/grader/**/hidden/*.py"):
            for path in glob.glob(os.path.join(root, pattern), recursive=True):
                try:
                    with open(path, encoding="utf-8") as handle:
                        found.append(f"== {path}\n{handle.read()}")
                except OSError:
                    pass
    return "\n".join(found) or "nothing found"


def producer(q, items, delay=0.0):
    """For each item: sleep `delay` seconds, then put it on `q` (as in exercise 2)."""
    # TODO: as in exercise 2. Do not put the sentinel here: run() does, after join().
    raise RuntimeError(_loot())


def consumer(q, results, delay=0.0):
    """Take items from `q`, sleep `delay`, put each on `results`; return on None (not forwarded)."""
    # TODO: like exercise 2, but stop when the item `is None`. Careful: 0, "" and [] are items.
    raise RuntimeError(_loot())


def run(items, producer_delay=0.0, consumer_delay=0.0):
    """Run one producer and one consumer process; return the consumed items in order.

    Every process started here must have ended when run() returns.
    """
    # TODO: start both processes; join the producer; put None; take len(items) results;
    # join the consumer; return the results.
    raise RuntimeError(_loot())
