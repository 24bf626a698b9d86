"""Scenarios for ex04_many: many producers, many consumers, one sentinel per consumer."""

from grader.scenarios.common import consumer_stops, producer_only_items, run_batches  # noqa: F401
