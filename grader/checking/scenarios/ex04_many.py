"""Scenarios for ex04_many: many producers, many consumers, one sentinel per consumer."""

from grader.checking.scenarios import common
from grader.checking.scenarios.common import (  # noqa: F401
    CONSUMER_STOPS, PRODUCER_ONLY_ITEMS, consumer_stops, producer_only_items)


def run_batches(ctx, batches, n_consumers, producer_delay=0.0, consumer_delay=0.0):
    """common.run_batches; the results are complete once every consumer has ended at its sentinel."""
    return common.run_batches(ctx, batches, n_consumers, producer_delay, consumer_delay, late=True)


RUN_BATCHES = common.batches_run("run_batches", common.RunSeen)
