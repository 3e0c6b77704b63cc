"""End to end: the registry's patterns as moto EventBridge rules -> SQS -> handler -> AWS state."""

from __future__ import annotations

import io
import json

from snapback.outcomes import Outcome
from snapback_ops.demo import Timeline, cloudtrail_record, deliver, discover_scenarios, emit, run_demo
from snapback_ops.scenarios.s3_public_bucket import public_policy

NEEDS_ROUTING = True  # the member buses route events to the per-remediation queues (tests/conftest.py)


def test_events_are_routed_by_moto_eventbridge_with_the_registry_patterns(org):
    account = org.members["member-b"]
    member = org.session(account)
    s3 = member.client("s3")
    s3.create_bucket(Bucket="routed")
    emit(
        member,
        cloudtrail_record(
            account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": "routed", "bucketPolicy": public_policy("routed")}
        ),
    )
    emit(
        member,
        cloudtrail_record(account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": "routed"}, error_code="AccessDenied"),
    )
    emit(
        member,
        cloudtrail_record(
            account, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", {"bucketName": "routed"}, actor="snapback-remediator"
        ),
    )
    emit(member, cloudtrail_record(account, "s3.amazonaws.com", "PutBucketTagging", {"bucketName": "routed"}))
    results = deliver(org, account, Timeline(out=io.StringIO()), expect=1)
    by = {r.remediation: r.outcome for r in results}
    assert len(by) == len(results)  # one delivery per matching rule: the failed call, the loop and the tagging never routed
    assert by.pop("s3_block_public_access") is Outcome.REMEDIATED
    # other rules that watch bucket policies (trail buckets, grants outside the organization) saw nothing to do
    assert set(by.values()) <= {Outcome.ALREADY_COMPLIANT}, by
    assert all(s3.get_public_access_block(Bucket="routed")["PublicAccessBlockConfiguration"].values())


def test_lambda_handler_adapter(org, monkeypatch):
    """The function entry point: environment in, results out, exactly as deployed."""
    import functions.remediate.handler as entry
    import snapback.runtime as runtime_module
    from snapback_ops.demo import runtime_for

    account = org.members["member-a"]
    org.session(account).client("s3").create_bucket(Bucket="via-lambda")
    runtime = runtime_for(org, "s3_block_public_access")
    monkeypatch.setattr(runtime_module, "_LAMBDA_RUNTIME", runtime)
    monkeypatch.setenv("SNAPBACK_REMEDIATION", "s3_block_public_access")
    record = cloudtrail_record(
        account, "s3.amazonaws.com", "PutBucketAcl", {"bucketName": "via-lambda", "x-amz-acl": ["public-read-write"]}
    )
    event = {
        "version": "0",
        "id": "abc",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": account,
        "time": record["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }
    (result,) = entry.handler(event, None)
    assert result["outcome"] == "REMEDIATED" and result["resource"] == "arn:aws:s3:::via-lambda"
    (rejected,) = entry.handler({"detail-type": "x", "source": "aws.s3", "detail": {}}, None)
    assert rejected["outcome"] == "REJECTED" and "account" in rejected["reason"] and rejected["audit_id"]


def test_demo_runs_against_a_moto_server_and_reports(tmp_path):
    out = io.StringIO()
    report_path = tmp_path / "report.json"
    assert run_demo(report_path=str(report_path), out=out) == 0, out.getvalue()
    report = json.loads(report_path.read_text())
    assert report["passed"] and report["notifications"] and report["findings"]
    assert "REMEDIATED" in out.getvalue() and "PASS" in out.getvalue()
    every = len(discover_scenarios())
    assert len(report["scenarios"]) == every and f"PASS: {every}/{every} scenarios" in out.getvalue()
    # The refused undo after drift is on the timeline, with its diff, and the owner's change survived it.
    (drift,) = [s for s in report["scenarios"] if "REFUSED" in s["outcomes"]]
    assert drift["owner_change_intact"] and drift["drift"]
    assert [e["text"] for e in report["timeline"] if e["kind"] == "drift"] == drift["drift"]
