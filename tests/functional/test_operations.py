"""Human approval and undo: the CLI operations and the Security Hub custom actions, under moto."""

from __future__ import annotations

import dataclasses

import pytest

from snapback.errors import SnapbackError
from snapback.operations import approve, custom_action, undo
from snapback.outcomes import Outcome
from snapback_ops.demo import cloudtrail_record, runtime_for
from snapback_ops.scenarios.s3_public_bucket import public_policy

NAME = "s3_block_public_access"


def notified_bucket(org, bucket: str):
    account = org.members["member-a"]
    s3 = org.session(account).client("s3")
    s3.create_bucket(Bucket=bucket)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: "notify"})
    record = cloudtrail_record(
        account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": bucket, "bucketPolicy": public_policy(bucket)}
    )
    event = {
        "id": "1",
        "source": "aws.s3",
        "detail-type": "AWS API Call via CloudTrail",
        "account": account,
        "region": "us-east-1",
        "time": record["eventTime"],
        "resources": [],
        "detail": record,
    }
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED
    return runtime, s3, result


def has_block(s3, bucket: str) -> bool:
    try:
        return all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    except s3.exceptions.ClientError:
        return False


def test_cli_approve_enforces_a_notify_mode_outcome_once(org):
    runtime, s3, notified = notified_bucket(org, "approve-me")
    assert not has_block(s3, "approve-me")
    approved = approve(runtime, notified.audit_id, "alice")
    assert approved.outcome is Outcome.REMEDIATED and "approved by alice" in approved.reason and has_block(s3, "approve-me")
    assert runtime.audit.get(notified.audit_id)["approved_by"].startswith("alice -> ")
    again = approve(runtime, notified.audit_id, "bob")
    assert again.outcome is Outcome.SKIPPED and "duplicate" in again.reason
    with pytest.raises(SnapbackError, match="only NOTIFIED or DRY_RUN"):
        approve(runtime, approved.audit_id, "alice")


def custom_action_event(org, action: str, findings: list[dict]) -> dict:
    return {
        "version": "0",
        "id": "ca-1",
        "detail-type": "Security Hub Findings - Custom Action",
        "source": "aws.securityhub",
        "account": org.security,
        "region": "us-east-1",
        "time": "2026-11-22T12:00:00Z",
        "resources": [f"arn:aws:securityhub:us-east-1:{org.security}:action/custom/Snapback{action}"],
        "detail": {"actionName": f"Snapback {action}", "actionDescription": "", "findings": findings},
    }


def snapback_finding(org, finding_id: str) -> dict:
    findings = org.session(org.security).client("securityhub").get_findings()["Findings"]
    return next(f for f in findings if f["Id"] == finding_id)


def test_custom_action_remediate_on_a_notify_finding_then_undo(org):
    runtime, s3, notified = notified_bucket(org, "click-to-fix")
    finding = snapback_finding(org, notified.finding_id)
    (out,) = custom_action(runtime, custom_action_event(org, "remediate", [finding]))
    assert out["outcome"] == "REMEDIATED" and has_block(s3, "click-to-fix")

    fixed = snapback_finding(org, notified.finding_id)  # the same finding, now updated by the fix
    assert fixed["ProductFields"]["snapback/outcome"] == "REMEDIATED"
    (out,) = custom_action(runtime, custom_action_event(org, "undo", [fixed]))
    assert out["outcome"] == "UNDONE" and not has_block(s3, "click-to-fix")
    assert undo(runtime, fixed["ProductFields"]["snapback/audit_id"])["outcome"] == "ALREADY_UNDONE"


def test_custom_action_never_trusts_other_products(org):
    runtime, s3, notified = notified_bucket(org, "forged")
    forged = dict(snapback_finding(org, notified.finding_id))
    forged["ProductArn"] = f"arn:aws:securityhub:us-east-1:{org.members['member-b']}:product/{org.members['member-b']}/default"
    forged["AwsAccountId"] = org.members["member-b"]
    (out,) = custom_action(runtime, custom_action_event(org, "remediate", [forged]))
    assert out["outcome"] == "SKIPPED" and not has_block(s3, "forged")


def test_a_failed_verification_after_a_partial_apply_can_still_be_undone(org):
    from snapback.outcomes import Result, Target

    account = org.members["member-a"]
    s3 = org.session(account).client("s3")
    s3.create_bucket(Bucket="half-done")
    s3.put_public_access_block(
        Bucket="half-done",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    runtime = runtime_for(org, NAME)
    target = Target(account, "us-east-1", "AwsS3Bucket", "half-done", "arn:aws:s3:::half-done", "k")
    failed = Result(
        Outcome.FAILED, "verification failed", remediation=NAME, target=target, undo={"previous_block": None}, mode="enforce"
    )
    runtime.audit.write(failed, "20261122T000000Z-failed0001")
    assert undo(runtime, "20261122T000000Z-failed0001")["outcome"] == "UNDONE"
    assert not has_block(s3, "half-done")
