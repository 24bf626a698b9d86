"""Timings of the kit, run by hand (never in a timed test):

    python bench/run.py [--repeat N]

1. wall time of `pytest exercises/ --impl solutions --start-method M` for each start method
   (targets on a 2-core machine: at most 8 s under fork, 20 s under spawn);
2. the time from the start of a hanging check to its report (target: within 3 s), for the
   classic hang of exercise 3 (no sentinel), through the same harness the visible tests use;
3. wall time of `pytest exercises/ --start-method M` on the stubs, which must all fail at once
   (target: under 30 s on a quiet machine; the kit's tests only ask that none hangs);
4. the student's loop, with the default start methods (the platform's and spawn), median of
   --repeat runs: `pytest exercises/ --impl solutions` (target: at most 18 s on 2 cores) and
   `pytest exercises/ex04_many` on the one-sentinel mistake (target: at most 8 s), each with the
   checks run ahead (the default) and with --serial;
5. with --cases, the slowest check of each golden case (tests/cases/<exercise>/<case>/, the
   grading cases aside) under each of its start methods, the slowest first: every one is a check a
   student waits for, right or wrong (target: the case's max_seconds, 5 s unless its case.toml says
   otherwise, on a quiet machine; tests/test_cases.py judges the verdicts, not the time).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import check  # noqa: E402
from grader.checking import exercise, harness

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

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
                                    scenario="grader.checking.scenarios.ex03_sentinel:run_items",
                                    params={"items": list(range(10))}, start_method=method,
                                    budget=budget, action="run(items)")
            totals.append(time.monotonic() - started)
            elapsed.append(out.elapsed)
            assert out.status == "hang" and out.stuck, out.status
        rows.append({"start_method": method, "budget_s": round(budget, 2),
                     "report_after_s": statistics.median(totals), "worst_s": max(totals)})
    return rows


CASES_DIR = Path(__file__).resolve().parent.parent / "tests" / "cases"
LOOP_RUNS = {  # what a student waits for: (the exercises to test, the modules tested)
    "every solution": ("exercises", "solutions"),
    "ex04, one sentinel": ("exercises/ex04_many", "tests/cases/ex04_many/one_sentinel"),
}


def loop_times(repeat: int) -> list[dict]:
    """Wall time of a plain pytest run as a student starts it, with the checks run ahead and not."""
    rows = []
    for name, (target, impl) in LOOP_RUNS.items():
        for extra in ([], ["--serial"]):
            seconds = []
            for _ in range(repeat):
                started = time.monotonic()
                subprocess.run([sys.executable, "-m", "pytest", target, "--impl", impl, "-q", "-p", "no:cacheprovider",
                                *extra], cwd=exercise.KIT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=False)
                seconds.append(time.monotonic() - started)
            rows.append({"run": name, "mode": "serial" if extra else "ahead",
                         "median_s": statistics.median(seconds), "max_s": max(seconds)})
    return rows


def case_times(methods) -> list[dict]:
    """Each golden case's slowest visible check under each of its start methods, slowest first."""
    rows = []
    for toml in sorted(CASES_DIR.glob("ex*/*/case.toml")):
        case = tomllib.loads(toml.read_text(encoding="utf-8"))
        ex = exercise.find(toml.parent.parent.name)
        for method in case.get("start_methods", ["fork", "spawn"]):
            if method not in methods:
                continue
            with tempfile.TemporaryDirectory(prefix="baozi-bench-") as tmp:
                report = Path(tmp) / "report.xml"
                args = [sys.executable, "-m", "pytest", str(ex.folder / f"test_{ex.module}.py"),
                        "--impl", str(toml.parent), "--start-method", method, "-q",
                        "-p", "no:cacheprovider", f"--junitxml={report}"]
                if case.get("checks"):
                    args += ["-k", " or ".join(case["checks"])]
                subprocess.run(args, cwd=exercise.KIT_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)
                times = [(float(t.get("time", 0)), t.get("name")) for t in
                         ElementTree.parse(report).iter("testcase")] if report.exists() else []
            slowest = max(times, default=(float("nan"), "(pytest did not run)"))
            rows.append({"case": f"{toml.parent.parent.name}/{toml.parent.name}", "start_method": method,
                         "slowest_s": slowest[0], "check": slowest[1],
                         "target_s": case.get("max_seconds", 5.0)})
    rows.sort(key=lambda r: -r["slowest_s"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "latest.json")
    parser.add_argument("--cases", action="store_true", help="also time every golden case (minutes)")
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
    loop = loop_times(args.repeat)
    print("the student's loop (default start methods):")
    for row in loop:
        print(f"  {row['run']:<20} {row['mode']:<7} median {row['median_s']:.1f} s  max {row['max_s']:.1f} s")
    print("hanging check (ex03 without a sentinel), start to report:")
    for row in hangs:
        print(f"  {row['start_method']:<10} budget {row['budget_s']:.2f} s  median {row['report_after_s']:.2f} s"
              f"  worst {row['worst_s']:.2f} s")
    cases = case_times(methods) if args.cases else []
    if cases:
        over = [row for row in cases if row["slowest_s"] > row["target_s"]]
        print(f"golden cases: {len(cases)} runs, {len(over)} with a check over its target; the slowest:")
        for row in cases[:10]:
            print(f"  {row['slowest_s']:5.1f} s (target {row['target_s']:.0f})  {row['case']} "
                  f"[{row['start_method']}] {row['check']}")
    args.out.write_text(json.dumps({"python": sys.version.split()[0], "suites": suites, "stubs": stubs, "hangs": hangs,
                                    "loop": loop, "cases": cases}, indent=2))


if __name__ == "__main__":
    main()
