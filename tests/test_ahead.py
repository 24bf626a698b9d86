"""Checks run ahead of their turn (grader.checking.ahead): the same outcomes and reports as one by
one (--serial), in pytest's order, with nothing left running when a session ends early."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from grader.checking.exercise import EXERCISES_DIR

CASES = EXERCISES_DIR.parent / "tests" / "cases"

# A check that says which thread ran it, next to the exercise's own checks.
WHO_RAN_ME = '''
import threading
from pathlib import Path

def test_zz_who_ran_me(kit):
    Path("ran-by.txt").open("a").write(threading.current_thread().name + "\\n")
'''


@pytest.fixture
def ex03(pytester):
    """exercises/ex03_sentinel as shipped, and the classic mistake (no sentinel) in nosentinel/:
    seven of its checks hang, two pass."""
    shutil.copytree(EXERCISES_DIR / "ex03_sentinel", pytester.path / "exercises" / "ex03_sentinel")
    (pytester.path / "nosentinel").mkdir()
    shutil.copy(CASES / "ex03_sentinel" / "no_sentinel" / "sentinel.py", pytester.path / "nosentinel")
    return pytester


def _results(pytester, xml_name: str) -> list[tuple[str, str, str]]:
    """Each test of a junit file, in the order they ran: (name, outcome, its message with every
    number replaced, since pids, times and budgets differ from run to run, and each run of spaces
    made one: a table's columns are as wide as its widest pid)."""
    out = []
    for case in ET.parse(pytester.path / xml_name).getroot().iter("testcase"):
        failure = case.find("failure")
        text = "" if failure is None else (failure.text or "")
        out.append((case.get("name"), "failed" if failure is not None else "passed",
                    re.sub(r" +", " ", re.sub(r"\d+(\.\d+)?", "N", text))))
    return out


def test_run_ahead_gives_the_outcomes_and_reports_of_a_serial_run(ex03):
    # two checks that hang (run() never puts the sentinel) and two that pass, under both methods
    checks = ("test_run_returns_every_item_in_order or test_run_with_a_slow_consumer or test_producer_puts "
              "or test_consumer_returns_at_the_sentinel")
    args = ["exercises", "--impl", "nosentinel", "-k", checks, "-p", "no:cacheprovider", "-vv"]
    ahead = ex03.runpytest(*args, "--junitxml", "ahead.xml")
    serial = ex03.runpytest(*args, "--serial", "--junitxml", "serial.xml")
    ahead.assert_outcomes(failed=4, passed=4)
    serial.assert_outcomes(failed=4, passed=4)
    assert _results(ex03, "ahead.xml") == _results(ex03, "serial.xml")
    # and the terminal shows them in pytest's order: the order of the serial run
    order = re.compile(r"^(\S+::test_\S+) (PASSED|FAILED)", re.M)
    assert order.findall(ahead.stdout.str()) == order.findall(serial.stdout.str())


def test_checks_run_in_threads_of_their_own_unless_serial(ex03):
    (ex03.path / "exercises" / "ex03_sentinel" / "test_who.py").write_text(WHO_RAN_ME, encoding="utf-8")
    ex03.runpytest("exercises", "-k", "who_ran_me", "-p", "no:cacheprovider").assert_outcomes(passed=2)
    ran_by = (ex03.path / "ran-by.txt").read_text().split()
    assert len(ran_by) == 2 and all(name.startswith("baozi-check") for name in ran_by), ran_by
    (ex03.path / "ran-by.txt").unlink()
    ex03.runpytest("exercises", "-k", "who_ran_me", "--serial", "-p", "no:cacheprovider").assert_outcomes(passed=2)
    assert (ex03.path / "ran-by.txt").read_text().split() == ["MainThread", "MainThread"]


def test_exitfirst_stops_the_checks_run_ahead(ex03):
    """-x: the first failure ends the session; the checks already running end with their budgets
    (this suite's no_process_left fixture then finds none of their processes), the others never
    start."""
    result = ex03.runpytest("exercises", "--impl", "nosentinel", "-x", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


def test_a_warning_held_by_a_check_run_ahead_reaches_pytest(ex03):
    (ex03.path / "exercises" / "ex03_sentinel" / "test_warns.py").write_text(
        "import warnings\n\n"
        "def test_warns(kit):\n"
        "    note = UserWarning('a note from ' + kit.start_method)\n"
        "    if kit.held_warnings is None:\n"
        "        warnings.warn(note)\n"
        "    else:\n"
        "        kit.held_warnings.append(note)\n", encoding="utf-8")
    for extra in ([], ["--serial"]):
        result = ex03.runpytest("exercises", "-k", "test_warns", "--start-method", "spawn", "-p", "no:cacheprovider",
                                *extra)
        result.assert_outcomes(passed=1, warnings=1)
        result.stdout.fnmatch_lines(["*test_warns.py::test_warns[[]spawn[]]*", "*UserWarning: a note from spawn*"])


def test_checks_at_once_is_a_positive_integer(monkeypatch):
    from grader.checking import settings

    monkeypatch.setenv(settings.AT_ONCE_ENV, "3")
    assert settings.checks_at_once() == 3
    monkeypatch.delenv(settings.AT_ONCE_ENV)
    assert 2 <= settings.checks_at_once() <= 4
    for wrong in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv(settings.AT_ONCE_ENV, wrong)
        with pytest.raises(ValueError, match="positive integer"):
            settings.checks_at_once()
