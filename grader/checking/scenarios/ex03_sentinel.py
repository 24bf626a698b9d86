"""Scenarios for ex03_sentinel: run() with a None sentinel after the producer is joined."""

from grader.checking.scenarios.common import consumer_stops, producer_only_items, run_items  # noqa: F401
