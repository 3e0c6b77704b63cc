"""Burst: 1,000 mixed events through moto EventBridge -> SQS -> the handlers, nothing lost."""

from __future__ import annotations

import os

from tests.reliability.burst import run_burst
from tests.reliability.support import PROFILE, report

# `ci`: 300 mixed events (still duplicates, malformed ones and failures among them); `full`
# (make fuzz) and `make bench`: 1,000.
EVENTS = int(os.environ.get("SNAPBACK_BURST_EVENTS", "1000" if PROFILE == "full" else "300"))


def test_a_burst_of_mixed_events_loses_nothing(record_property):
    burst = run_burst(EVENTS, seed=0)

    assert burst.errors == [], burst.errors[:5]
    assert burst.sent == EVENTS and burst.entered == EVENTS, "every event entered the bus"
    assert burst.duplicates_sent > 0 and burst.malformed_sent > 0
    assert burst.routed > 0 and burst.delivered + burst.platform_dead_lettered == burst.routed, "every delivery ended"
    assert sum(burst.outcomes.values()) >= burst.delivered
    assert burst.dead_lettered == burst.outcomes["FAILED"] + burst.platform_dead_lettered, "every FAILED is in the DLQ"
    assert {"SKIPPED", "NOTIFIED", "ALREADY_COMPLIANT"} <= set(burst.outcomes)
    assert burst.lost == 0
    report(
        record_property,
        events_tried=burst.sent,
        duplicates_sent=burst.duplicates_sent,
        malformed_sent=burst.malformed_sent,
        routed=burst.routed,
        outcomes=dict(burst.outcomes),
        dead_lettered=burst.dead_lettered,
        events_lost=burst.lost,
        seconds=burst.seconds,
    )
