"""Reconciliation sweep function, on the EventBridge schedule from snapback.yaml (`sweep.schedule`).

An adapter only: the sweep stops starting new accounts a minute before the Lambda timeout, so that
it always returns its summary (and its SweepErrors metric) instead of being cut off.
"""

import time

from snapback.runtime import lambda_runtime
from snapback.sweep import Sweeper

MARGIN_S = 60


def handler(event: dict, context: object) -> dict:
    runtime = lambda_runtime()
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 900_000)() / 1000
    return Sweeper(runtime, deadline=time.monotonic() + remaining - MARGIN_S).run().as_dict()
