"""What plain pytest prints after the checks: each cause of failure once per exercise, and a table
of where each exercise stands (grader.checking.summary), with pytest's own outputs unchanged."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from grader.checking.exercise import EXERCISES_DIR, SOLUTIONS_DIR
from grader.checking.mistakes import say

CASES = EXERCISES_DIR.parent / "tests" / "cases"
SAME = "same cause as"

TITLE = say("summary", "title")


@pytest.fixture
def ex03(pytester):
    """exercises/ex03_sentinel as shipped (stub, checks, metadata), a solution in mine/, and the
    classic mistake (no sentinel at all) in nosentinel/."""
    shutil.copytree(EXERCISES_DIR / "ex03_sentinel", pytester.path / "exercises" / "ex03_sentinel")
    shutil.copytree(SOLUTIONS_DIR / "ex03_sentinel", pytester.path / "mine" / "ex03_sentinel")
    (pytester.path / "nosentinel").mkdir()
    shutil.copy(CASES / "ex03_sentinel" / "no_sentinel" / "sentinel.py", pytester.path / "nosentinel")
    return pytester


def _blocks(text: str) -> dict[str, list[str]]:
    """The failure reports of pytest's output, by run name ("test_x[spawn]"): their lines."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("_") and line.rstrip().endswith("_") and " test_" in line:
            current = line.strip("_ ")
            blocks[current] = []
        elif line.startswith(("=", TITLE)) or "generated xml file" in line:
            current = None
        elif current is not None:
            blocks[current].append(line)
    return {name: "\n".join(lines).rstrip().splitlines() for name, lines in blocks.items()}


def test_a_stub_prints_one_report_per_unwritten_function(ex03, monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")  # wide enough for pytest to print each failure's message with -rf
    result = ex03.runpytest("exercises", "--start-method", "spawn", "-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(failed=9)
    blocks = _blocks(result.stdout.str())
    assert len(blocks) == 9, list(blocks)
    whole = {name: lines for name, lines in blocks.items() if not lines[0].startswith(SAME)}
    assert sorted(whole) == ["test_consumer_returns_at_the_sentinel[spawn]",
                             "test_producer_puts_only_the_items[spawn]",
                             "test_run_returns_every_item_in_order[spawn]"]
    for name, lines in whole.items():
        assert lines[0].startswith("NOT WRITTEN YET"), (name, lines)
        assert any("rerun: python -m pytest" in line for line in lines), lines
    for name, lines in blocks.items():
        if name not in whole:
            assert lines == [f"{SAME} test_run_returns_every_item_in_order[spawn] (its report is above): "
                             f"NOT WRITTEN YET: run(items) still raises NotImplementedError "
                             f"(run(): producer, consumer, sentinel, results). Replace the TODOs in sentinel.py."
                             ], (name, lines)
    # the short summary (-rf) still has each failure's own message
    result.stdout.fnmatch_lines(["FAILED *test_run_with_a_slow_consumer[[]spawn[]] - CheckFailed: NOT WRITTEN YET*"])
    result.stdout.fnmatch_lines(["*ex03_sentinel*0/9*0/13*write run() first*"
                                 "(see the report of test_run_returns_every_item_in_order[[]spawn[]])*"])


def test_a_mistake_is_explained_once_and_the_other_checks_named(ex03, monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")  # the table's next step on one line
    checks = "test_run_returns_every_item_in_order or test_run_with_a_slow_consumer or test_producer_puts"
    result = ex03.runpytest("exercises", "--impl", "nosentinel", "--start-method", "spawn", "-k", checks,
                            "-p", "no:cacheprovider", "--junitxml", "out.xml")
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    blocks = _blocks(result.stdout.str())
    first, second = blocks["test_run_returns_every_item_in_order[spawn]"], blocks["test_run_with_a_slow_consumer[spawn]"]
    assert first[0].startswith("HANG:") and any("blocked in c.join()" in line for line in first), first
    assert len(second) == 1 and second[0].startswith(f"{SAME} test_run_returns_every_item_in_order[spawn]")
    assert "HANG:" in second[0]
    # the table: 1 of the 3 checks passed, its point, and the next step from the hang's diagnosis
    result.stdout.fnmatch_lines(["*ex03_sentinel*1/3*1/4*nothing told it to stop*"])
    table = " ".join(result.stdout.str().replace("│", " ").split())
    assert "the consumer returns when it takes None. (see the report of " \
           "test_run_returns_every_item_in_order[spawn])" in table
    # junit has each failure whole: the folded one too
    cases = {case.get("name"): case for case in ET.parse(ex03.path / "out.xml").getroot().iter("testcase")}
    failure = cases["test_run_with_a_slow_consumer[spawn]"].find("failure")
    assert "blocked in c.join()" in failure.text and SAME not in failure.text


def test_very_verbose_prints_every_report_whole(ex03):
    result = ex03.runpytest("exercises", "--start-method", "spawn", "-k", "test_run_", "-vv",
                            "-p", "no:cacheprovider")
    result.assert_outcomes(failed=4)
    assert SAME not in result.stdout.str()
    assert result.stdout.str().count("NOT WRITTEN YET: run(items)") >= 4


def test_last_failed_reruns_the_folded_checks_too(ex03):
    ex03.runpytest("exercises", "--start-method", "spawn", "-k", "test_run_ or test_producer")
    again = ex03.runpytest("exercises", "--start-method", "spawn", "--lf", "-k", "test_run_with or test_producer")
    again.assert_outcomes(failed=2)
    assert len(_blocks(again.stdout.str())) == 2


def test_a_passing_exercise_is_done_and_a_plain_run_has_no_table(ex03):
    (ex03.path / "test_other.py").write_text("def test_other():\n    assert True\n", encoding="utf-8")
    result = ex03.runpytest("exercises", "--impl", "mine", "--start-method", "spawn", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines([f"*{TITLE}*", "*ex03_sentinel*9/9*13/13*done*"])
    plain = ex03.runpytest("test_other.py", "-p", "no:cacheprovider")
    plain.assert_outcomes(passed=1)
    assert TITLE not in plain.stdout.str()
    quiet = ex03.runpytest("exercises", "--impl", "mine", "--start-method", "spawn", "-qq", "-k", "test_producer_puts",
                           "-p", "no:cacheprovider")
    assert TITLE not in quiet.stdout.str()


# --------------------------------------------------------------------------- the cause of a failure

def _hang(*stuck, **fields):
    from grader.checking.diagnose import ProcReport
    from grader.checking.harness import Outcome, Status

    procs = [ProcReport(pid=pid, role=role, kind=role.split("-")[0], state="blocked", call=call, line=line)
             for pid, role, call, line in stuck]
    defaults = dict(status=Status.HANG, action="run(items)", budget=2.0, elapsed=0.9, start_method="spawn",
                    module_file="sentinel.py", stuck=procs)
    return Outcome(**{**defaults, **fields})


def test_a_cause_is_what_went_wrong_where_not_the_run_it_happened_in():
    from grader.checking.harness import Status
    from grader.checking.kit import cause_of

    one = _hang((11, "main", "c.join()", 30), (12, "consumer-1", "q.get()", 15))
    # other pids, numbers, budget, start method and action: the same mistake
    same = _hang((71, "main", "c.join()", 30), (75, "consumer-2", "q.get()", 15), budget=3.1, elapsed=1.4,
                 start_method="fork", action="run(items, 3)")
    elsewhere = _hang((11, "main", "c.join()", 31), (12, "consumer-1", "q.get()", 15))
    other_kind = _hang((11, "main", "c.join()", 30), (12, "producer-1", "q.put()", 15))
    assert cause_of(one) == cause_of(same)
    assert cause_of(one) != cause_of(elsewhere) != cause_of(other_kind)
    raised = _hang(status=Status.RAISED, stuck=[], error={"type": "ValueError", "function": "run", "line": 9})
    stub = _hang(status=Status.RAISED, stuck=[], error={"type": "NotImplementedError", "function": "run"})
    assert cause_of(raised) != cause_of(stub) == "not-written\x1frun"
    assert cause_of(_hang(status=Status.CRASHED, stuck=[], error={"returncode": -11})) != \
           cause_of(_hang(status=Status.CRASHED, stuck=[], error={"returncode": -9}))
