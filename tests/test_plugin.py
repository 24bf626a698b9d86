"""The pytest plugin, tested the way pytest tests its own plugins: with pytester."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys

import pytest

from grader.checking.exercise import EXERCISES_DIR, SOLUTIONS_DIR

DEFAULT_METHOD = multiprocessing.get_start_method()
EXPECTED_IDS = list(dict.fromkeys([DEFAULT_METHOD, "spawn"]))

TEST_FILE = '''
from grader.checking.scenarios.ex03_sentinel import RUN_ITEMS


def test_run_keeps_order(kit):
    items = kit.items(6)
    out = kit.run(RUN_ITEMS, items=items)
    kit.expect_items(out.value.value, items, what="run()", ordered=True, look_at="join-producers-then-none")

def test_plain():
    assert True
'''


@pytest.fixture
def project(pytester):
    """A tiny course: exercises/ex03_sentinel with the stub, and mine/ with a solution."""
    folder = pytester.path / "exercises" / "ex03_sentinel"
    folder.mkdir(parents=True)
    shutil.copy(EXERCISES_DIR / "ex03_sentinel" / "exercise.toml", folder)
    shutil.copy(EXERCISES_DIR / "ex03_sentinel" / "sentinel.py", folder)
    (folder / "test_sentinel.py").write_text(TEST_FILE, encoding="utf-8")
    mine = pytester.path / "mine" / "ex03_sentinel"
    mine.mkdir(parents=True)
    shutil.copy(SOLUTIONS_DIR / "ex03_sentinel" / "sentinel.py", mine)
    return pytester


def test_an_unrelated_project_loads_none_of_the_harness(tmp_path):
    """Installed, the plugin loads in every pytest run of the environment: collecting an unrelated
    project's tests must not import what runs a check (the harness, psutil, pika)."""
    (tmp_path / "test_other.py").write_text("def test_other():\n    assert True\n", encoding="utf-8")
    # --seed is the plugin's option: without the plugin loaded, pytest would refuse it
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pytest", "--co", "-q", "--seed", "3",
                           "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    heavy = sorted(m for m in imported if m.split(".")[0] in ("psutil", "pika")
                   or m in ("grader.checking.harness", "grader.checking.kit", "grader.checking.driver",
                            "grader.checking.exercise"))
    assert heavy == [], heavy


def test_help_lists_the_options(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--impl=DIR*", "*--start-method*", "*--seed=SEED*", "*--budget-scale*"])


def test_each_check_runs_under_the_default_method_and_spawn(project):
    result = project.runpytest("exercises", "--impl", "mine", "-v")
    result.assert_outcomes(passed=len(EXPECTED_IDS) + 1)
    result.stdout.fnmatch_lines([f"*test_run_keeps_order[[]{m}[]] PASSED*" for m in EXPECTED_IDS])


def test_start_method_selects_one(project):
    result = project.runpytest("exercises", "--impl", "mine", "--start-method", "spawn", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_run_keeps_order[[]spawn[]] PASSED*"])


def test_without_impl_the_stubs_fail_and_teach(project):
    result = project.runpytest("exercises", "--start-method", "spawn", "--seed", "5")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*NOT WRITTEN YET: run(items) still raises NotImplementedError*",
        "*hint: start both; p.join(); q.put(None)*",
        "*(start method spawn, seed 5) rerun: python -m pytest*--start-method spawn --seed 5*",
    ])


def test_the_header_names_what_is_tested(project):
    result = project.runpytest("exercises", "--impl", "mine", "--seed", "9", "--start-method", "spawn")
    result.stdout.fnmatch_lines(["baozi-kit: testing mine; start methods spawn; seed 9"])


def test_impl_is_resolved_from_the_invocation_folder(project):
    inner = project.path / "exercises"
    result = project.runpytest_subprocess(str(inner), "--impl", str(project.path / "mine"),
                                          "--start-method", "spawn")
    result.assert_outcomes(passed=2)


def test_a_missing_impl_folder_is_a_usage_error(project):
    result = project.runpytest("exercises", "--impl", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl nowhere: no such folder*"])


def test_a_flat_impl_folder_is_accepted(project):
    flat = project.path / "flat"
    flat.mkdir()
    shutil.copy(SOLUTIONS_DIR / "ex03_sentinel" / "sentinel.py", flat)
    result = project.runpytest("exercises", "--impl", "flat", "--start-method", "spawn")
    result.assert_outcomes(passed=2)


def test_a_missing_module_file_is_named(project):
    (project.path / "empty").mkdir()
    result = project.runpytest("exercises", "--impl", "empty", "--start-method", "spawn")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*MISSING FILE:*ex03_sentinel/sentinel.py does not exist*"])


def test_broken_metadata_fails_the_check_with_its_reason(project):
    toml = project.path / "exercises" / "ex03_sentinel" / "exercise.toml"
    toml.write_text("colour = 1\n" + toml.read_text(encoding="utf-8"), encoding="utf-8")
    result = project.runpytest("exercises", "--impl", "mine", "--start-method", "spawn")
    result.stdout.fnmatch_lines(["*exercise metadata is broken*unknown key(s) colour*"])


# --------------------------------------------------------------------------- the broker (exercise 7)

NO_BROKER = "amqp://guest:guest@127.0.0.1:9/%2F"  # the discard port: nothing speaks AMQP there


@pytest.fixture
def rabbit_project(pytester, monkeypatch):
    """exercises/ex07_rabbitmq as shipped, with the solution in mine/, and no broker at the URL."""
    shutil.copytree(EXERCISES_DIR / "ex07_rabbitmq", pytester.path / "exercises" / "ex07_rabbitmq")
    shutil.copytree(SOLUTIONS_DIR / "ex07_rabbitmq", pytester.path / "mine" / "ex07_rabbitmq")
    monkeypatch.setenv("KIT_AMQP_URL", NO_BROKER)
    monkeypatch.delenv("KIT_REQUIRE_BROKER", raising=False)
    return pytester


def test_without_a_broker_the_rabbitmq_checks_skip_and_say_how_to_start_one(rabbit_project):
    result = rabbit_project.runpytest("exercises", "--impl", "mine", "-rs", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 8 and not outcomes.get("passed") and not outcomes.get("failed")
    result.stdout.fnmatch_lines(["*RabbitMQ is not running at 127.0.0.1:9*"])
    assert "rabbitmq-server" in result.stdout.str() and "KIT_AMQP_URL" in result.stdout.str()


def test_require_broker_turns_the_skips_into_failures(rabbit_project):
    result = rabbit_project.runpytest("exercises", "--impl", "mine", "--require-broker",
                                      "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 8 and not outcomes.get("passed") and not outcomes.get("skipped")
    result.stdout.fnmatch_lines(["*NO BROKER: RabbitMQ is not running at 127.0.0.1:9*"])
