"""Whether running each hidden check under one start method changes an exercise's verdict, run by
hand:

    python bench/hidden_methods.py [--concurrency K] [--out FILE]

The grading plan runs each hidden check under one non-default start method, the first of each
exercise under the dearest and the rest under the cheapest (``grader.grading.checklist.Plan``),
where it used to run each one under every such method. This
runs every hidden check of every golden case (``tests/cases/<exercise>/<case>/``) and of the
reference solutions under every non-default method, and compares, for each case, the exercise's
hidden verdict (every hidden check passes) both ways: under every method, and under the plan's one
method per check. It lists each hidden check whose verdict differs between methods, and each case
whose exercise verdict the plan changes; it exits with status 1 if there is one.

The visible checks run under the default method either way, and are left out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.checking.exercise import KIT_ROOT, SOLUTIONS_DIR, find  # noqa: E402
from grader.grading.checklist import checks_for, grading_plan, run_one  # noqa: E402
from grader.grading.submission import lay_out  # noqa: E402

CASES_DIR = KIT_ROOT / "tests" / "cases"


def submissions() -> list[tuple[str, str, Path]]:
    """(case id, exercise, folder of its module) for every golden case and reference solution."""
    found = [(f"{folder.parent.name}/{folder.name}", folder.parent.name, folder)
             for folder in sorted(CASES_DIR.glob("ex*/*")) if (folder / "case.toml").is_file()]
    found += [(f"{folder.name}/solution", folder.name, SOLUTIONS_DIR) for folder in sorted(SOLUTIONS_DIR.glob("ex*"))]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=4, help="runs at once (each in a thread)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "hidden_methods.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="baozi-hidden-methods-") as tmp:
        return _compare(args, Path(tmp))


def _compare(args, tmp: Path) -> int:
    plan = grading_plan()
    runs = []
    found = submissions()
    for number, (case, exercise, folder) in enumerate(found):
        # a golden case's folder holds its module flat, as a submission does: laid out as the grader does
        impl = folder if folder == SOLUTIONS_DIR else lay_out(folder, [find(exercise)], tmp / str(number)).impl_root
        runs += [(case, check, method, impl) for check in checks_for(find(exercise)) if check.hidden
                 for method in plan.hidden]
    print(f"{len(runs)} runs: every hidden check of {len(found)} submissions under {', '.join(plan.hidden)}")

    def run(job):
        case, check, method, impl = job
        result = run_one(check, method, impl_root=impl, seed=1, scale=1.0)
        return case, check, method, result.passed

    passed: dict[str, dict[tuple, bool]] = defaultdict(dict)  # case -> (check name, method) -> passed
    checks = {}
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for case, check, method, ok in pool.map(run, runs):
            passed[case][(check.name, method)] = ok
            checks[check.key] = check
    differing, changed = [], []
    for case, results in passed.items():
        exercise = case.split("/")[0]
        mine = [check for check in checks.values() if check.exercise.name == exercise]
        for check in mine:
            verdicts = {method: results[(check.name, method)] for method in plan.hidden}
            if len(set(verdicts.values())) > 1:
                differing.append({"case": case, "check": check.name, "passed": verdicts,
                                  "plan_runs_it_under": plan.methods(check)[0]})
        every_method = all(results.values())
        planned = all(results[(check.name, plan.methods(check)[0])] for check in mine)
        if every_method != planned:
            changed.append({"case": case, "every_method": every_method, "plan": planned})
    print(f"hidden checks whose verdict differs between methods: {len(differing)}")
    for row in differing:
        print(f"  {row['case']}: {row['check']} {row['passed']} (the plan runs it under {row['plan_runs_it_under']})")
    print(f"cases whose exercise verdict the plan changes: {len(changed)}")
    for row in changed:
        print(f"  {row['case']}: every method {'passes' if row['every_method'] else 'fails'}, "
              f"the plan {'passes' if row['plan'] else 'fails'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"differing": differing, "changed": changed}, indent=2))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
