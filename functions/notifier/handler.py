"""Slack notifier: SNS topic -> SQS queue -> this function -> Slack incoming webhook.

An adapter only. Reserved concurrency 1 and the poster's pacing keep Slack under one message per
second; a burst arrives as one batch and becomes one digest. Failures raise, so the queue retries
and finally dead-letters the batch.
"""

import os

from snapback.clients import Clients
from snapback.slack import deliver_batch, poster_from_secret

_CLIENTS = Clients(region=os.environ.get("AWS_REGION", "us-east-1"))


def handler(event: dict, context: object) -> dict:
    poster = poster_from_secret(os.environ["SNAPBACK_SLACK_SECRET"], _CLIENTS)
    return {"posted": deliver_batch(event, poster)}
