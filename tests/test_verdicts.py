"""Verdicts of the kit on observations made up for the purpose: the cases no run shows on demand."""

from __future__ import annotations

import pytest

from grader.checking.exercise import all_exercises
from grader.checking.kit import Kit
from grader.checking.scenarios.common import RunSeen

EX03 = next(e for e in all_exercises() if e.name == "ex03_sentinel")


def kit() -> Kit:
    return Kit(exercise=EX03, impl_root=EX03.folder.parent, start_method="spawn", seed=1, scale=1.0,
               rerun="(rerun)")


def test_sleeps_of_nothing_fail_a_call_that_took_long_enough_only_under_load():
    """Under heavy load a run that ignored its delays can still last long enough; the seconds its
    code asked of time.sleep show the delay was not passed on."""
    seen = RunSeen(seconds=0.5, slept={"calls": 20, "seconds": 0.0})
    with pytest.raises(pytest.fail.Exception, match="slept too little for the delays it was given"):
        kit().expect_took_at_least(seen, 0.3, what="run()", why="10 items, producer_delay=0.03")


def test_code_that_never_calls_sleep_is_judged_by_the_length_of_the_call():
    kit().expect_took_at_least(RunSeen(seconds=0.5, slept={"calls": 0, "seconds": 0.0}), 0.3,
                               what="run()", why="10 items, producer_delay=0.03")
    with pytest.raises(pytest.fail.Exception, match="finished too fast"):
        kit().expect_took_at_least(RunSeen(seconds=0.1, slept={"calls": 0, "seconds": 0.0}), 0.3,
                                   what="run()", why="10 items, producer_delay=0.03")


def test_enough_sleep_in_a_long_enough_call_passes():
    kit().expect_took_at_least(RunSeen(seconds=0.35, slept={"calls": 20, "seconds": 0.3}), 0.3,
                               what="run()", why="10 items, producer_delay=0.03")


SPANS = [{"role": "producer", "puts": 10, "span": 0.002}, {"role": "consumer", "puts": 10, "span": 0.004},
         {"role": "main", "puts": 1, "span": 0.0}]


def test_puts_bunched_together_fail_a_call_that_took_long_enough_only_under_load():
    """A producer that never sleeps puts its items within milliseconds, however long the
    processes took to start."""
    seen = RunSeen(seconds=0.5, slept={"calls": 0, "seconds": 0.0}, put_spans=SPANS)
    with pytest.raises(pytest.fail.Exception, match="the producers put their items too close together"):
        kit().expect_took_at_least(seen, 0.3, what="run()", why="10 items, producer_delay=0.03",
                                   delay=0.03, by="producer")


def test_puts_spread_only_by_waits_for_room_fail():
    """A producer that never sleeps, on a full queue beside a consumer kept off the CPU: its puts
    spread as far as the consumer was late, but that time was spent waiting in put()."""
    spans = [{"role": "producer", "puts": 10, "span": 0.6, "own": 0.003}, *SPANS[1:]]
    seen = RunSeen(seconds=0.9, slept={"calls": 0, "seconds": 0.0}, put_spans=spans)
    with pytest.raises(pytest.fail.Exception, match="the producers put their items too close together"):
        kit().expect_took_at_least(seen, 0.3, what="run()", why="10 items, producer_delay=0.03",
                                   delay=0.03, by="producer")


def test_puts_spread_by_the_delay_pass():
    spans = [{"role": "producer", "puts": 10, "span": 0.4, "own": 0.28}, *SPANS[1:]]
    kit().expect_took_at_least(RunSeen(seconds=0.5, slept={"calls": 10, "seconds": 0.3}, put_spans=spans),
                               0.3, what="run()", why="10 items, producer_delay=0.03", delay=0.03,
                               by="producer")


def test_the_spread_asked_of_the_puts_counts_the_puts_the_tally_holds():
    """The main process can take a consumer's last item before that consumer's put() has returned
    (a Manager's queue) and so before the tally counts it: nine puts 0.02 s apart spread over
    0.16 s, not the 0.18 s of ten. Nine puts bunched together still fail."""
    spans = [{"role": "consumer", "puts": 9, "span": 0.2, "own": 0.1619}, *SPANS[2:]]
    kit().expect_took_at_least(RunSeen(seconds=0.3, slept={"calls": 10, "seconds": 0.2}, put_spans=spans),
                               0.2, what="run()", why="10 items, consumer_delay=0.02", delay=0.02, by="consumer")
    bunched = [{**spans[0], "own": 0.004}, *SPANS[2:]]
    with pytest.raises(pytest.fail.Exception, match="the consumers put their items too close together"):
        kit().expect_took_at_least(RunSeen(seconds=0.3, slept={"calls": 10, "seconds": 0.2}, put_spans=bunched),
                                   0.2, what="run()", why="10 items, consumer_delay=0.02", delay=0.02,
                                   by="consumer")


def test_without_puts_of_that_kind_the_spans_say_nothing():
    """A consumer that hands its results over some other way (a Manager's queue) has no puts: the
    bunched producer's puts must not fail a check of the consumer's delay."""
    seen = RunSeen(seconds=0.5, slept={"calls": 0, "seconds": 0.0}, put_spans=SPANS[:1])
    kit().expect_took_at_least(seen, 0.2, what="run()", why="10 items, consumer_delay=0.02",
                               delay=0.02, by="consumer")
