"""The kit proves itself: every solution passes and every stub fails, under every start method."""

from __future__ import annotations

import importlib
import multiprocessing
import subprocess
import sys
import threading
import time

import pytest

from grader import check
from grader.checking import amqp

METHODS = multiprocessing.get_all_start_methods()


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_solution_passes_every_check(method):
    run = check.run_suite("solutions", method)
    assert run.ok, f"solutions under {method}: {run.failed} failed: {run.failures}\n" + "\n".join(run.reasons)
    assert run.passed >= 30


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_stub_fails_every_check_fast(method):
    """Fast: no check of a stub waits for its budget to run out (a hang). How long the whole run
    takes depends on the machine's load, and is measured in bench/run.py."""
    run = check.run_suite("stubs", method)
    assert not run.hung, f"stubs under {method}: checks hung instead of failing at once: {run.hung}"
    assert run.ok, f"stubs under {method}: {run.passed} checks passed on a stub"
    assert run.failed >= 30


def test_check_command_reports_each_run(monkeypatch, capsys):
    fake = [check.Run("solutions", "spawn", 30, 0, 0, 1.0, []),
            check.Run("stubs", "spawn", 1, 29, 0, 1.0, ["x"])]
    monkeypatch.setattr(check, "check_kit", lambda methods: fake)
    from grader.__main__ import main

    assert main(["check", "--start-method", "spawn"]) == 1
    out = capsys.readouterr().out
    assert "ok   solutions spawn" in out and "FAIL stubs" in out


def test_a_check_that_hung_is_told_from_one_that_failed(tmp_path):
    """The junit report of a real run: a consumer that never gets its sentinel hangs; a stub fails."""
    from grader.checking.exercise import EXERCISES_DIR, KIT_ROOT

    report = tmp_path / "report.xml"
    hanging = KIT_ROOT / "tests" / "cases" / "ex03_sentinel" / "no_sentinel"
    subprocess.run([sys.executable, "-m", "pytest", str(EXERCISES_DIR / "ex03_sentinel"), "--impl", str(hanging),
                    "--start-method", "spawn", "-p", "no:cacheprovider", "-k", "order",
                    f"--junitxml={report}"], cwd=KIT_ROOT, capture_output=True, check=False, timeout=120)
    passed, failed, _, failures, hung, _ = check._count(report)
    assert failed >= 1 and hung == failures, (failures, hung)
    subprocess.run([sys.executable, "-m", "pytest", str(EXERCISES_DIR / "ex03_sentinel"), "--start-method", "spawn",
                    "-p", "no:cacheprovider", "-k", "order", f"--junitxml={report}"], cwd=KIT_ROOT,
                   capture_output=True, check=False, timeout=120)
    assert check._count(report)[4] == [] and check._count(report)[1] >= 1


def test_every_declared_scenario_names_a_function_of_its_module():
    """A scenario's declaration (what the checks pass to kit.run) names a function its exercise's
    module has, and plans a run from parameters: a typo is caught here, not in a student's run."""
    from grader.checking.exercise import all_exercises
    from grader.checking.scenarios.common import Scenario

    declared = 0
    for exercise in all_exercises():
        module = importlib.import_module(f"grader.checking.scenarios.{exercise.name}")
        for name, value in vars(module).items():
            if isinstance(value, Scenario):
                declared += 1
                assert callable(getattr(module, value.name, None)), \
                    f"{exercise.name}.{name} names {value.name!r}, which its module does not define"
    assert declared >= len(all_exercises())


def test_a_scenario_plans_its_budget_from_its_parameters():
    from grader.checking.scenarios.ex04_many import RUN_BATCHES

    action, work, processes = RUN_BATCHES.plan({"batches": [[1, 2, 3], [4]], "n_consumers": 3,
                                                "producer_delay": 0.1, "consumer_delay": 0.5})
    assert action == "run(batches, 3)"
    assert work == pytest.approx(4 * 0.1 + 2 * 0.5)  # every put, then the busiest consumer's share
    assert processes == 5


def test_an_observation_is_read_as_its_scenarios_class_and_nothing_else():
    """What a scenario answered becomes its Seen class; an answer with a field the scenario never
    returns (a forged one) or that is not a dict of fields is not the account of this run."""
    from grader.checking.harness import Outcome, Status, read_observation
    from grader.checking.scenarios.common import RunSeen
    from grader.checking.scenarios.ex03_sentinel import RUN_ITEMS

    def answered(value) -> Outcome:
        outcome = Outcome(Status.RETURNED, "run(items)", 1.0, 0.1, "spawn", "sentinel.py", value=value)
        read_observation(outcome, RUN_ITEMS.seen)
        return outcome

    read = answered({"value": [1, 2], "seconds": 0.1, "processes": ["producer", "consumer"]})
    assert read.status == Status.RETURNED and isinstance(read.value, RunSeen)
    assert (read.value.value, read.value.processes, read.value.gets) == ([1, 2], ["producer", "consumer"], None)
    for forged in ({"value": [1, 2], "verdict": "passed"}, [1, 2], {1: "not a field name"}):
        outcome = answered(forged)
        assert outcome.status == Status.INCONSISTENT, forged
        assert "not a RunSeen" in outcome.error["message"]


def test_each_exercise_names_its_own_mistakes_with_known_keys():
    """An exercise's own rules (DIAGNOSIS beside its scenarios) give keys the catalogue knows."""
    from grader.checking import mistakes
    from grader.checking.diagnose import rules_of
    from grader.checking.exercise import all_exercises
    from grader.checking.scenarios.common import Diagnosis

    own = {exercise.name: rules_of(exercise.name).keys for exercise in all_exercises()}
    assert own["ex03_sentinel"]["sentinel-too-early"] == "ex03.sentinel-before-producer-ended"
    for name, keys in own.items():
        for key in keys.values():
            assert key in mistakes.keys(), f"{name}: {key} is not a mistake key of the catalogue"
    with pytest.raises(ValueError, match="no general rule is called sentinel-too-late"):
        Diagnosis(keys={"sentinel-too-late": "ex03.sentinel-before-producer-ended"})


def test_the_brokers_answer_is_asked_once_by_checks_that_start_together(monkeypatch):
    """The grader starts a submission's checks in threads of one process, all at once: one of them
    asks the broker, the others wait for its answer instead of each opening a connection."""
    asked, release = [], threading.Event()

    def unreachable(address):
        asked.append(address)
        release.wait(10.0)
        return None

    monkeypatch.setattr(amqp, "unreachable", unreachable)
    monkeypatch.setattr(amqp, "_ANSWERS", {})
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(amqp.unreachable_once("amqp://nowhere")))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and not _all_in_function(threads, "unreachable_once", but_one="unreachable"):
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(10.0)
    assert asked == ["amqp://nowhere"] and answers == [None] * 6


def _all_in_function(threads, name: str, but_one: str) -> bool:
    """Whether one of `threads` runs the function `but_one` and every other one waits in `name`."""
    frames = sys._current_frames()
    stacks = []
    for thread in threads:
        frame, stack = frames.get(thread.ident), []
        while frame is not None:
            stack.append(frame.f_code.co_name)
            frame = frame.f_back
        stacks.append(stack)
    running = [stack for stack in stacks if but_one in stack]
    return len(running) == 1 and all(stack[:1] == [name] for stack in stacks if stack not in running)
