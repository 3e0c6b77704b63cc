"""Redrive under moto: every dead-letter shape replayed, deleted only after success, dry-run changes nothing."""

from __future__ import annotations

import json

from snapback_ops.demo import cloudtrail_record, runtime_for
from snapback_ops.redrive import redrive, unwrap
from snapback_ops.scenarios.s3_public_bucket import public_policy
from tests.remediations.helpers import inject_error

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

NAME = "s3_block_public_access"


def public_event(org, bucket: str) -> dict:
    account = org.members["member-a"]
    org.session(account).client("s3").create_bucket(Bucket=bucket)
    record = cloudtrail_record(
        account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": bucket, "bucketPolicy": public_policy(bucket)}
    )
    return {
        "version": "0",
        "id": record["eventID"],
        "source": "aws.s3",
        "detail-type": "AWS API Call via CloudTrail",
        "account": account,
        "region": "us-east-1",
        "time": record["eventTime"],
        "resources": [],
        "detail": record,
    }


def blocked(org, bucket: str) -> bool:
    s3 = org.session(org.members["member-a"]).client("s3")
    try:
        return all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    except s3.exceptions.ClientError:
        return False


def test_unwrap_understands_every_dead_letter_shape():
    event = {"id": "1", "source": "aws.s3"}
    assert unwrap(json.dumps({"event": event, "remediation": NAME, "reason": "x", "audit_id": "a"})).remediations == [NAME]
    on_failure = {"requestContext": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f:$LATEST"}, "requestPayload": event}
    assert unwrap(json.dumps(on_failure)).event == event
    assert unwrap(json.dumps(event)).shape == "eventbridge-dlq"


def test_redrive_replays_each_shape_and_deletes_only_what_succeeded(org):
    runtime = runtime_for(org, NAME)
    sqs = runtime.clients.client("sqs")
    url = sqs.create_queue(QueueName="snapback-failures")["QueueUrl"]
    first, second, third = (public_event(org, f"dlq-{i}") for i in range(3))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"event": first, "remediation": NAME, "reason": "throttled"}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"requestContext": {}, "requestPayload": second}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(third))
    sqs.send_message(QueueUrl=url, MessageBody="not json")

    lines: list[str] = []
    dry = redrive(runtime, "snapback-failures", dry_run=True, progress=lines.append)
    assert (dry.seen, dry.deleted, dry.kept) == (4, 0, 4) and not blocked(org, "dlq-0")
    assert sum("would replay" in line for line in lines) == 3

    summary = redrive(runtime, url, progress=lines.append)
    assert summary.deleted == 3 and summary.kept == 1 and summary.outcomes["REMEDIATED"] == 3, summary.as_dict()
    assert all(blocked(org, f"dlq-{i}") for i in range(3))
    assert "not JSON" in summary.problems[0]
    assert lines[-1].startswith("redrive: done")


def test_a_replay_that_fails_again_stays_in_the_queue_once(org):
    runtime = runtime_for(org, NAME)
    runtime.dead_letter_url = "https://must-not-be-used.invalid/queue"
    sqs = runtime.clients.client("sqs")
    url = sqs.create_queue(QueueName="snapback-failures", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    event = public_event(org, "still-denied")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"event": event, "remediation": NAME, "reason": "denied"}))
    member = runtime.clients.member(org.members["member-a"], "us-east-1", NAME)
    inject_error(member.client("s3"), "PutPublicAccessBlock", "AccessDenied")
    summary = redrive(runtime, url, progress=lambda _: None)
    assert summary.kept == 1 and summary.deleted == 0 and summary.outcomes == {"FAILED": 1}
    assert runtime.dead_letter_url == "https://must-not-be-used.invalid/queue"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


def test_a_replay_whose_resource_is_still_being_worked_on_stays_in_the_queue(org):
    """A claim in progress elsewhere (a live holder) is unfinished work: the replay raises a retryable
    error instead of ending SKIPPED, and the message stays until a replay ends in a handled outcome."""
    from snapback.audit import Clock
    from snapback.pipeline import resource_key

    runtime = runtime_for(org, NAME)
    clock_offset = [0.0]
    runtime.clock = Clock(
        now=lambda: __import__("time").time() + clock_offset[0], sleep=lambda s: clock_offset.__setitem__(0, clock_offset[0] + s)
    )
    sqs = runtime.clients.client("sqs")
    url = sqs.create_queue(QueueName="snapback-failures", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    event = public_event(org, "being-fixed")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"event": event, "remediation": NAME, "reason": "timeout"}))
    account = org.members["member-a"]
    from snapback.outcomes import Target

    bucket = Target(account, "us-east-1", "AwsS3Bucket", "being-fixed", "arn:aws:s3:::being-fixed", "other-event")
    held = runtime.ledger.acquire(f"{NAME}#other-event", resource_key(NAME, bucket), deadline=runtime.clock.now() + 3600)

    summary = redrive(runtime, url, progress=lambda _: None)

    assert summary.deleted == 0 and summary.kept == 1 and "in progress" in summary.problems[0], summary.as_dict()
    assert not blocked(org, "being-fixed"), "nothing acted beside the live holder"
    runtime.ledger.abandon(held)  # the holder is gone
    summary = redrive(runtime, url, progress=lambda _: None)
    assert summary.deleted == 1 and summary.outcomes == {"REMEDIATED": 1}, summary.as_dict()
    assert blocked(org, "being-fixed")
