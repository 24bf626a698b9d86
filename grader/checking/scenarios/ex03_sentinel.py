"""Scenarios for ex03_sentinel: run() with a None sentinel after the producer is joined."""

from grader.checking.scenarios.common import (  # noqa: F401
    CONSUMER_STOPS, PRODUCER_ONLY_ITEMS, RUN_ITEMS, consumer_stops, producer_only_items, run_items)
