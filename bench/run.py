"""Timings of the kit, run by hand (never in a timed test):

    python bench/run.py [--repeat N]

1. wall time of `pytest exercises/ --impl solutions --start-method M` for each start method
   (targets on a 2-core machine: at most 8 s under fork, 20 s under spawn);
2. the time from the start of a hanging check to its report (target: within 3 s), for the
   classic hang of exercise 3 (no sentinel), through the same harness the visible tests use;
3. wall time of `pytest exercises/ --start-method M` on the stubs, which must all fail at once
   (target: under 30 s on a quiet machine; the kit's tests only ask that none hangs).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import check, exercise, harness  # noqa: E402

NO_SENTINEL = (exercise.SOLUTIONS_DIR / "ex03_sentinel" / "sentinel.py").read_text().replace(
    "    q.put(None)  # ...so the sentinel lands behind the last one\n", "")


def suite_times(methods, repeat, target="solutions"):
    rows = []
    for method in methods:
        runs = [check.run_suite(target, method) for _ in range(repeat)]
        assert all(r.ok for r in runs), f"{target} not as they should be under {method}"
        seconds = [r.seconds for r in runs]
        rows.append({"start_method": method, "checks": runs[0].passed + runs[0].failed,
                     "median_s": statistics.median(seconds), "max_s": max(seconds)})
    return rows


def hang_times(methods, repeat, tmp: Path):
    module = tmp / "sentinel.py"
    module.write_text(NO_SENTINEL)
    ex = exercise.find("ex03_sentinel")
    rows = []
    for method in methods:
        budget = ex.budget.seconds(work=0.0, processes=2, start_method=method)
        totals, elapsed = [], []
        for _ in range(repeat):
            started = time.monotonic()
            out = harness.run_check(module_file=module, module="sentinel",
                                    scenario="grader.scenarios.ex03_sentinel:run_items",
                                    params={"items": list(range(10))}, start_method=method,
                                    budget=budget, action="run(items)")
            totals.append(time.monotonic() - started)
            elapsed.append(out.elapsed)
            assert out.status == "hang" and out.stuck, out.status
        rows.append({"start_method": method, "budget_s": round(budget, 2),
                     "report_after_s": statistics.median(totals), "worst_s": max(totals)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "latest.json")
    args = parser.parse_args()
    methods = multiprocessing.get_all_start_methods()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    suites = suite_times(methods, args.repeat)
    stubs = suite_times(methods, args.repeat, target="stubs")
    with tempfile.TemporaryDirectory(prefix="baozi-bench-") as tmp:
        hangs = hang_times(methods, args.repeat, Path(tmp))
    for title, rows in (("visible suite, --impl solutions:", suites), ("the stubs, every check failing:", stubs)):
        print(title)
        for row in rows:
            print(f"  {row['start_method']:<10} {row['checks']} checks  median {row['median_s']:.1f} s  "
                  f"max {row['max_s']:.1f} s")
    print("hanging check (ex03 without a sentinel), start to report:")
    for row in hangs:
        print(f"  {row['start_method']:<10} budget {row['budget_s']:.2f} s  median {row['report_after_s']:.2f} s"
              f"  worst {row['worst_s']:.2f} s")
    args.out.write_text(json.dumps({"python": sys.version.split()[0], "suites": suites, "stubs": stubs, "hangs": hangs},
                                   indent=2))


if __name__ == "__main__":
    main()
