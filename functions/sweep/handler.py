"""Reconciliation sweep function, on the EventBridge schedule from snapback.yaml (`sweep.schedule`).

An adapter only. The schedule's invocation sweeps the organization itself when it fits in one batch
(`sweep.accounts_per_invocation`); a larger organization is handed out in batches, one asynchronous
invocation of this same function each (`{"accounts": [...]}`). A sweep stops starting new accounts a
minute before the Lambda timeout, so that it always returns its summary (and its SweepErrors metric)
instead of being cut off. Every scheduled run reads the organization live, which refreshes the
membership cache (`snapback.membership`); so does an Organizations membership event (the membership
rule), which only refreshes it and sweeps nothing.
"""

import time

from snapback.membership import is_membership_event
from snapback.runtime import lambda_runtime
from snapback.sweep import Sweeper, fan_out, organization_accounts

MARGIN_S = 60


def handler(event: dict, context: object) -> dict:
    runtime = lambda_runtime()
    runtime.begin(context)
    if is_membership_event(event):
        accounts = organization_accounts(runtime.org)
        return {"membership": event["detail"]["eventName"], "accounts": len(accounts)}
    accounts = event.get("accounts") if isinstance(event, dict) else None
    if not accounts:
        accounts = sorted(organization_accounts(runtime.org))  # live: writes the membership cache
        if len(accounts) > runtime.config.sweep.accounts_per_invocation:
            return fan_out(runtime, context.invoked_function_arn)  # type: ignore[attr-defined]
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 900_000)() / 1000
    return Sweeper(runtime, accounts=accounts, deadline=time.monotonic() + remaining - MARGIN_S).run().as_dict()
