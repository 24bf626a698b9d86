"""Verdicts of the kit on observations made up for the purpose: the cases no run shows on demand."""

from __future__ import annotations

import pytest

from grader.exercise import all_exercises
from grader.kit import Kit

EX03 = next(e for e in all_exercises() if e.name == "ex03_sentinel")


def kit() -> Kit:
    return Kit(exercise=EX03, impl_root=EX03.folder.parent, start_method="spawn", seed=1, scale=1.0,
               rerun="(rerun)")


def test_sleeps_of_nothing_fail_a_call_that_took_long_enough_only_under_load():
    """Under heavy load a run that ignored its delays can still last long enough; the seconds its
    code asked of time.sleep show the delay was not passed on."""
    seen = {"seconds": 0.5, "slept": {"calls": 20, "seconds": 0.0}}
    with pytest.raises(pytest.fail.Exception, match="slept too little for the delays it was given"):
        kit().expect_took_at_least(seen, 0.3, what="run()", why="10 items, producer_delay=0.03")


def test_code_that_never_calls_sleep_is_judged_by_the_length_of_the_call():
    kit().expect_took_at_least({"seconds": 0.5, "slept": {"calls": 0, "seconds": 0.0}}, 0.3,
                               what="run()", why="10 items, producer_delay=0.03")
    with pytest.raises(pytest.fail.Exception, match="finished too fast"):
        kit().expect_took_at_least({"seconds": 0.1, "slept": {"calls": 0, "seconds": 0.0}}, 0.3,
                                   what="run()", why="10 items, producer_delay=0.03")


def test_enough_sleep_in_a_long_enough_call_passes():
    kit().expect_took_at_least({"seconds": 0.35, "slept": {"calls": 20, "seconds": 0.3}}, 0.3,
                               what="run()", why="10 items, producer_delay=0.03")
