"""Scenarios for ex03_sentinel: run() with a None sentinel after the producer is joined."""

from grader.checking.scenarios.common import (  # noqa: F401
    CONSUMER_STOPS, PRODUCER_ONLY_ITEMS, RUN_ITEMS, Diagnosis, consumer_stops, producer_only_items, run_items)

# One producer here: a sentinel before its end is "before the producer ended".
DIAGNOSIS = Diagnosis(keys={"sentinel-before-join": "ex03.sentinel-before-producer-ended",
                            "sentinel-too-early": "ex03.sentinel-before-producer-ended"})
