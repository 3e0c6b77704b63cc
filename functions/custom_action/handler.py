"""Security Hub custom actions ("Snapback remediate", "Snapback undo") from the security account's
default bus. An adapter only: the human approval path acts through the same remediations."""

from snapback.operations import custom_action
from snapback.runtime import lambda_runtime


def handler(event: dict, context: object) -> list[dict]:
    runtime = lambda_runtime()
    runtime.begin(context)
    return custom_action(runtime, event)
