"""The kit proves itself: every solution passes and every stub fails, under every start method."""

from __future__ import annotations

import multiprocessing

import pytest

from grader import check

METHODS = multiprocessing.get_all_start_methods()


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_solution_passes_every_check(method):
    run = check.run_suite("solutions", method)
    assert run.ok, f"solutions under {method}: {run.failed} failed: {run.failures}"
    assert run.passed >= 30


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_stub_fails_every_check_fast(method):
    run = check.run_suite("stubs", method)
    assert run.ok, f"stubs under {method}: {run.passed} checks passed on a stub"
    assert run.failed >= 30
    assert run.seconds < 30, f"the stubs took {run.seconds:.1f} s to fail"


def test_check_command_reports_each_run(monkeypatch, capsys):
    fake = [check.Run("solutions", "spawn", 30, 0, 0, 1.0, []),
            check.Run("stubs", "spawn", 1, 29, 0, 1.0, ["x"])]
    monkeypatch.setattr(check, "check_kit", lambda methods: fake)
    from grader.__main__ import main

    assert main(["check", "--start-method", "spawn"]) == 1
    out = capsys.readouterr().out
    assert "ok   solutions spawn" in out and "FAIL stubs" in out
