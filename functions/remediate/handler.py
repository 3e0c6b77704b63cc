"""Remediation function: one per registered remediation, selected by SNAPBACK_REMEDIATION.

An adapter only: EventBridge event in, the runtime's results out. Throttling and 5xx raise, so
that Lambda retries and finally sends the event to the on-failure destination.
"""

import os

from snapback.runtime import lambda_runtime


def handler(event: dict, context: object) -> list[dict]:
    runtime = lambda_runtime()
    runtime.begin(context)  # the invocation's deadline bounds the leases of its claims
    if runtime.logger is not None:
        runtime.logger.set_correlation_id(event.get("id") if isinstance(event, dict) else None)
    results = runtime.process(event, remediations=[os.environ["SNAPBACK_REMEDIATION"]])
    return [result.as_dict() for result in results]
