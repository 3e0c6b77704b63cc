"""Remediation function: one per registered remediation, selected by SNAPBACK_REMEDIATION.

An adapter only: EventBridge event in, the runtime's results out. Throttling and 5xx raise, so
that Lambda retries and finally sends the event to the on-failure destination.
"""

import gc
import os

# Cold start: the imports and the first event's clients build botocore's models, a few hundred
# thousand long-lived objects, and every cyclic collection that allocation triggers walks all of them
# again (bench/cold_start.py: ~100-150 ms of a cold process). Collection waits until the first event is
# handled; then what is alive is frozen out of later collections and collection resumes. Reference
# counting frees everything that is not a cycle meanwhile.
gc.disable()
_cold = True

from snapback.runtime import lambda_runtime  # noqa: E402


def handler(event: dict, context: object) -> list[dict]:
    try:
        runtime = lambda_runtime()
        runtime.begin(context)  # the invocation's deadline bounds the leases of its claims
        if runtime.logger is not None:
            runtime.logger.set_correlation_id(event.get("id") if isinstance(event, dict) else None)
        results = runtime.process(event, remediations=[os.environ["SNAPBACK_REMEDIATION"]])
        return [result.as_dict() for result in results]
    finally:
        global _cold
        if _cold:  # the first event is over, handled or not
            _cold = False
            gc.freeze()
            gc.enable()
