"""The SNS notification: outcome first, redacted, the real audit id, and always under the SNS limit
(issue 11 item 6: a 1 MB userAgent made the publish fail after the bucket was changed)."""

from __future__ import annotations

import json

from snapback.notify import SNS_MESSAGE_LIMIT, build_message, fit, subject
from snapback.outcomes import Outcome, Result, Severity, Target
from snapback.registry import get

S3 = get("s3_block_public_access")
ISOLATE = get("ec2_isolate_instance")


def result(outcome: Outcome = Outcome.REMEDIATED, **facts) -> Result:
    target = Target("210987654321", "us-east-1", "AwsS3Bucket", "exports", "arn:aws:s3:::exports", "k", facts=dict(facts))
    return Result(
        outcome,
        "remediated and verified",
        remediation=S3.name,
        target=target,
        mode="enforce",
        actions=["s3:PutPublicAccessBlock on exports"],
        before={"public_access_block": {"BlockPublicPolicy": False, "BlockPublicAcls": False}, "Policy": "{...}"},
        after={"public_access_block": {"BlockPublicPolicy": True, "BlockPublicAcls": False}, "Policy": "{...}"},
        undo={"x": 1},
        audit_id="20261122T100001Z-abc",
        severity=Severity.HIGH,
    )


def size(message: dict) -> int:
    return len(json.dumps(message, default=str, sort_keys=True).encode())


def test_a_megabyte_user_agent_is_cut_to_fit_sns_with_a_note():
    message = build_message(result(user_agent="x" * 1_000_000, summary="PutBucketPolicy"), S3)
    assert size(message) <= SNS_MESSAGE_LIMIT
    assert "cut" in message["what_happened"]["user_agent"] and message["what_happened"]["summary"] == "PutBucketPolicy"


def test_huge_states_are_dropped_before_anything_else_and_the_note_says_where_they_are():
    big = {f"k{i}": "v" * 1000 for i in range(400)}
    r = result()
    r.before, r.after = big, {**big, "k0": "changed"}
    message = build_message(r, S3)
    assert size(message) <= SNS_MESSAGE_LIMIT
    assert message["before"] is None and message["changes"] == [{"path": "k0", "before": "v" * 1000, "after": "changed"}]
    assert "snapback audit --json" in message["truncated"] and "20261122T100001Z-abc" in message["truncated"]
    many = {"actions": ["a" * 100_000] * 10, "changes": [], "what_happened": {"summary": "s" * 300_000}, "audit_id": "x"}
    assert size(fit(many)) <= SNS_MESSAGE_LIMIT


def test_only_what_changed_and_redacted_by_whole_key():
    message = build_message(result(), S3)
    assert message["changes"] == [{"path": "public_access_block.BlockPublicPolicy", "before": False, "after": True}]
    assert message["before"]["Policy"] == "[redacted]" and message["before"]["public_access_block"]["BlockPublicPolicy"] is False


def test_the_account_name_and_the_real_audit_id_are_in_the_message():
    r = result(Outcome.NOTIFIED)
    r.reason = "critical instance: isolation needs approval (snapback approve <audit id>)"
    r.after = None
    message = build_message(r, ISOLATE, {"210987654321": "prod-payments"})
    assert message["where"]["account_name"] == "prod-payments"
    assert "<audit id>" not in json.dumps(message) and "snapback approve 20261122T100001Z-abc" in message["reason"]
    assert message["headline"].startswith("Action needed") and message["action_needed"] is True
    assert any("snapback approve 20261122T100001Z-abc" in step for step in message["next_steps"])
    assert message["changes"] == []  # nothing changed: no before->after


def test_the_subject_leads_with_the_outcome_and_stays_under_100_ascii():
    assert subject(result(), S3).startswith("[HIGH] Fixed")
    failed = subject(result(Outcome.FAILED), S3)
    assert failed.startswith("[HIGH] Action needed") and len(failed) < 100 and failed.isascii()
