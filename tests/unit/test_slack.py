"""Slack rendering (golden files), limits, redaction, pacing, and 429 handling on a real local server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from snapback import registry
from snapback.errors import PermanentError, RetryableError
from snapback.outcomes import Outcome
from snapback.slack import (
    FIELD_LIMIT,
    HEADER_LIMIT,
    MAX_BLOCKS,
    TEXT_LIMIT,
    VIEWS,
    SlackPoster,
    blocks_of,
    deliver_batch,
    plan_posts,
    readable,
    redact,
    render,
    urllib_sender,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def notification(outcome: str = "REMEDIATED", remediation: str = "s3_block_public_access", **extra) -> dict:
    message = {
        "schema": "snapback.notification/1",
        "severity": "HIGH",
        "outcome": outcome,
        "remediation": remediation,
        "summary": "S3 bucket made public",
        "reason": "remediated and verified",
        "mode": "enforce",
        "what_happened": {
            "summary": "PutBucketPolicy on bucket exports: policy allows s3:GetObject to everyone",
            "event_name": "PutBucketPolicy",
            "event_id": "0f5e-11",
            "event_time": "2026-11-22T10:00:00Z",
            "actor": "arn:aws:sts::210987654321:assumed-role/dev/alice",
            "source_ip": "198.51.100.23",
        },
        "where": {"account": "210987654321", "region": "us-east-1", "resource": "arn:aws:s3:::exports"},
        "actions": ["s3:PutPublicAccessBlock on exports: turn on BlockPublicAcls, IgnorePublicAcls"],
        "before": {"public_access_block": None},
        "after": {"public_access_block": {"BlockPublicAcls": True}},
        "audit_id": "20261122T100001Z-abc",
        "finding_id": "snapback/s3_block_public_access/210987654321/us-east-1/exports",
        "event_id": "evt-1",
        "undo": "snapback undo 20261122T100001Z-abc" if outcome == "REMEDIATED" else None,
    }
    message.update(extra)
    return message


def check_limits(payload: dict) -> None:
    assert payload["text"] and len(blocks_of(payload)) <= MAX_BLOCKS
    for block in blocks_of(payload):
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= HEADER_LIMIT
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= TEXT_LIMIT
            for item in block.get("fields", []):
                assert len(item["text"]) <= FIELD_LIMIT
            assert len(block.get("fields", [])) <= 10


@pytest.mark.parametrize("name", registry.names())
def test_every_remediation_renders_within_limits(name):
    for outcome in Outcome:
        payload = render(notification(outcome.value, name, summary=registry.get(name).summary))
        check_limits(payload)
        assert name in payload["text"]


def test_huge_values_are_truncated_with_a_marker_and_documents_are_redacted():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    message = notification(
        summary="x" * 10_000,
        before={"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "*"}]}, "note": "y" * 5000},
        what_happened={"summary": "z" * 9000, "actor": f"AKIAIOSFODNN7EXAMPLE with {secret}", "event_id": "e"},
    )
    payload = render(message)
    check_limits(payload)
    text = json.dumps(payload, ensure_ascii=False)
    assert "truncated" in text and secret not in text and "AKIAIOSFODNN7EXAMPLE" not in text and "AKIA…MPLE" in text
    assert '\\"Action\\": \\"*\\"' not in text and "[redacted]" in text
    assert redact({"bucketPolicy": "{...}", "x": ["https://hooks.slack.com/services/T0/B0/xyz"]}) == {
        "bucketPolicy": "[redacted]",
        "x": ["[redacted webhook]"],
    }


def test_mrkdwn_is_escaped():
    payload = render(notification(what_happened={"summary": "<script>&", "event_id": "e"}))
    assert "&lt;script&gt;&amp;" in json.dumps(payload)


def test_a_burst_of_200_becomes_one_digest_within_limits():
    burst = [
        notification(where={"account": "210987654321", "region": "us-east-1", "resource": f"arn:aws:s3:::b{i}"})
        for i in range(200)
    ]
    posts = plan_posts(burst)
    assert len(posts) == 1
    check_limits(posts[0])
    assert "200 outcomes" in posts[0]["text"]
    assert len(plan_posts(burst[:3])) == 3


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_posts_are_paced_to_one_per_second():
    clock = FakeClock()
    sent = []
    poster = SlackPoster(
        "https://hooks.slack.com/x",
        send=lambda url, body: (sent.append(body), (200, {}, b"ok"))[1],
        sleep=clock.sleep,
        clock=clock,
    )
    for _ in range(5):
        poster.post({"text": "t"})
    assert len(sent) == 5 and clock.now >= 4 * 1.1


class SlackStub(BaseHTTPRequestHandler):
    """A local stand-in for the webhook: answers 429 with Retry-After first, then 200."""

    answers: list[tuple[int, dict]] = []
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server API
        length = int(self.headers["Content-Length"])
        SlackStub.bodies.append(json.loads(self.rfile.read(length)))
        status, headers = SlackStub.answers.pop(0) if SlackStub.answers else (200, {})
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"rate_limited")

    def log_message(self, *args):
        pass


@pytest.fixture
def slack_server():
    server = HTTPServer(("127.0.0.1", 0), SlackStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SlackStub.bodies.clear()
    yield f"http://127.0.0.1:{server.server_port}/services/T/B/C"
    server.shutdown()


def test_429_retry_after_is_honoured_against_a_real_http_server(slack_server):
    SlackStub.answers[:] = [(429, {"Retry-After": "2"}), (200, {})]
    clock = FakeClock()
    poster = SlackPoster(slack_server, send=urllib_sender, sleep=clock.sleep, clock=clock)
    poster.post(render(notification()))
    assert len(SlackStub.bodies) == 2 and 2.0 in clock.slept


def test_persistent_failure_raises_retryable_so_the_queue_dead_letters_it(slack_server):
    SlackStub.answers[:] = [(503, {})] * 4
    poster = SlackPoster(slack_server, send=urllib_sender, sleep=lambda _: None)
    with pytest.raises(RetryableError):
        poster.post({"text": "t"})
    SlackStub.answers[:] = [(400, {})]
    with pytest.raises(PermanentError, match="HTTP 400"):
        poster.post({"text": "t"})


def test_sqs_batch_from_sns_is_delivered(slack_server):
    SlackStub.answers[:] = []
    batch = {
        "Records": [
            {"body": json.dumps(notification())},
            {"body": json.dumps({"Type": "Notification", "Message": json.dumps(notification("FAILED"))})},
            {"body": "garbage"},
            {"body": json.dumps({"Type": "Notification", "Message": json.dumps(ALARM)})},
        ]
    }
    assert deliver_batch(batch, SlackPoster(slack_server, sleep=lambda _: None)) == 4
    assert [b["text"].split(":")[0] for b in SlackStub.bodies] == [
        "[HIGH] REMEDIATED",
        "[HIGH] FAILED",
        "[MEDIUM] UNREADABLE",
        "[HIGH] ALARM",
    ]


# A CloudWatch alarm state change as SNS delivers it (the alarm names follow stacks/observability.py).
ALARM = {
    "AlarmName": "snapback-dlq-rule-dlq",
    "AlarmDescription": "Events failed delivery. Run `snapback redrive --queue snapback-rule-dlq`.",
    "AWSAccountId": "222222222222",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [3.0 (23/11/26 15:00:00)] was greater than the threshold (0.0).",
    "StateChangeTime": "2026-11-23T15:05:00.000+0000",
    "Region": "US East (N. Virginia)",
    "OldStateValue": "OK",
    "Trigger": {
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Namespace": "AWS/SQS",
        "Dimensions": [{"value": "snapback-rule-dlq", "name": "QueueName"}],
    },
}


def test_a_cloudwatch_alarm_is_rendered_with_its_runbook_not_as_unreadable():
    from snapback.slack import from_alarm, messages_from_batch, readable

    (message,) = messages_from_batch({"Records": [{"body": json.dumps({"Type": "Notification", "Message": json.dumps(ALARM)})}]})
    assert message == from_alarm(ALARM)
    payload = render(message)
    check_limits(payload)
    text = "\n".join(readable(payload))
    assert "snapback-dlq-rule-dlq" in text and "snapback redrive --queue snapback-rule-dlq" in text
    assert "AWS/SQS/ApproximateNumberOfMessagesVisible (QueueName=snapback-rule-dlq)" in text
    assert "UNREADABLE" not in text
    ok = render(from_alarm({**ALARM, "NewStateValue": "OK"}))  # alarms keep their own state as the outcome
    assert ok["text"].startswith("[LOW] OK")


def test_readable_shows_a_message_as_people_read_it_in_the_channel():
    from snapback.slack import readable

    lines = readable(render(notification("REMEDIATED", undo="snapback undo 20261122T000000Z-abc")))
    assert lines[0].startswith("== ") and "Fixed, nothing to do" in lines[0]
    assert any("`snapback undo 20261122T000000Z-abc`" in line for line in lines[:3])
    assert any(line.startswith("audit ") for line in lines)


# -- issue 15: what on-call saw --------------------------------------------------------------------


def test_redaction_is_by_whole_key_name_so_block_public_policy_stays_visible():
    before = {
        "public_access_block": {"BlockPublicPolicy": False, "BlockPublicAcls": True},
        "Policy": '{"Statement": []}',
        "PolicyDocument": {"Statement": [{"Action": "*"}]},
        "AssumeRolePolicyDocument": {"Statement": []},
        "SecretAccessKey": "x",
        "session_token": "y",
        "db_password": "z",
        "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess",
    }
    out = redact(before)
    assert out["public_access_block"] == {"BlockPublicPolicy": False, "BlockPublicAcls": True}
    assert out["policy_arn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    for key in ("Policy", "PolicyDocument", "AssumeRolePolicyDocument", "SecretAccessKey", "session_token", "db_password"):
        assert out[key] == "[redacted]", key


def test_outcomes_are_coloured_by_outcome_not_severity_and_lead_with_what_to_do():
    colours = {}
    for outcome in ("REMEDIATED", "FAILED", "NOTIFIED", "DRY_RUN"):
        payload = render(notification(outcome, severity="HIGH"))
        colours[outcome] = payload["attachments"][0]["color"]
        header = blocks_of(payload)[0]["text"]["text"]
        assert ("Fixed, nothing to do" in header) == (outcome == "REMEDIATED")
        assert ("Action needed" in header) == (outcome in ("FAILED", "NOTIFIED"))
        assert ("Would do" in header) == (outcome == "DRY_RUN")
    assert colours["REMEDIATED"] != colours["FAILED"] and len(set(colours.values())) == 4
    assert colours["FAILED"] == VIEWS["FAILED"].colour


def test_a_breaker_notification_is_action_needed_with_the_real_scope():
    reason = "breaker open for account#210987654321 since 1 (reset: snapback breaker reset account#210987654321); approval needed"
    text = "\n".join(readable(render(notification("NOTIFIED", mode="notify (breaker)", reason=reason, severity="CRITICAL"))))
    assert "Action needed: breaker open" in text and "`snapback breaker reset account#210987654321`" in text
    assert "<scope>" not in text and "snapback approve 20261122T100001Z-abc" in text


def test_notified_lists_what_it_would_do_not_what_it_did_and_says_not_isolated():
    message = notification(
        "NOTIFIED",
        remediation="ec2_isolate_instance",
        summary="EC2 instance compromised (GuardDuty): isolated",
        actions=["ec2:ModifyNetworkInterfaceAttribute ..."],
        after=None,
    )
    lines = readable(render(message))
    assert "isolated" not in lines[0] and "Action needed" in lines[0]
    assert any(line.startswith("*Would do:*") for line in lines) and not any("What Snapback did" in line for line in lines)


def test_before_after_shows_only_what_changed_and_never_cuts_a_value():
    long_value = {"Statement": ["s" * 50 for _ in range(20)]}
    message = notification(
        before={"a": 1, "same": "x", "grants": {"Statement": ["s" * 50 for _ in range(19)]}},
        after={"a": 2, "same": "x", "grants": long_value},
    )
    text = "\n".join(readable(render(message)))
    assert "`a`: `1` → `2`" in text and "same" not in text
    assert "`snapback audit --json` shows it" in text and "truncated" not in text
    for line in text.splitlines():
        assert line.count("`") % 2 == 0, line  # no value cut in the middle of its quoting


def test_the_account_name_is_shown_beside_its_id():
    message = notification(
        where={"account": "210987654321", "account_name": "prod-payments", "region": "us-east-1", "resource": "r"}
    )
    assert "prod-payments (210987654321)" in "\n".join(readable(render(message)))
