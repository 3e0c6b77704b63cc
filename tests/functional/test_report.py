"""Reporting after the audit record: the Security Hub import and the SNS publish run at the same time,
and neither one failing keeps the other from happening or changes how the failure is handled."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from snapback.errors import RetryableError
from snapback.outcomes import Outcome
from snapback.runtime import Runtime
from snapback.securityhub import finding_id
from snapback_ops.demo import REGION, cloudtrail_record, oncall_messages, runtime_for
from tests.remediations.helpers import eventbridge_event

NAME = "s3_block_public_access"


def open_bucket_event(org: Any) -> tuple[dict[str, Any], str]:
    account = org.members["member-a"]
    bucket = f"report-{uuid.uuid4().hex[:8]}"
    org.session(account).client("s3").create_bucket(Bucket=bucket)
    record = cloudtrail_record(account, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", {"bucketName": bucket})
    event = eventbridge_event(record)
    return event, bucket


def findings_for(org: Any, bucket: str) -> list[dict[str, Any]]:
    wanted = finding_id(NAME, org.members["member-a"], REGION, bucket)
    hub = org.session(org.security).client("securityhub")
    return [f for f in hub.get_findings()["Findings"] if f["Id"] == wanted]


def messages_for(org: Any, audit_id: str | None) -> list[dict[str, Any]]:
    return [m for m in oncall_messages(org) if m.get("audit_id") == audit_id]


def fail(runtime: Runtime, service: str, operation: str, code: str) -> None:
    """`operation` of the runtime's own `service` client fails with `code` (never reaches AWS)."""
    client = runtime.findings.client() if service == "securityhub" else runtime.notifier.sns()

    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation
        )

    client.meta.events.register(f"before-call.{service}.{operation}", refuse)


def test_the_finding_and_the_notification_are_sent_at_the_same_time(org):
    """Each call waits at a barrier of two before it is sent: run one after the other, the first would
    wait for the second forever (the barrier's timeout turns that into a failure)."""
    event, bucket = open_bucket_event(org)
    runtime = runtime_for(org, NAME)
    barrier = threading.Barrier(2, timeout=30)
    met: list[str] = []

    def meet(model: Any, **_: Any) -> None:
        barrier.wait()
        met.append(model.name)

    runtime.findings.client().meta.events.register("before-call.securityhub.BatchImportFindings", meet)
    runtime.notifier.sns().meta.events.register("before-call.sns.Publish", meet)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and sorted(met) == ["BatchImportFindings", "Publish"]
    assert findings_for(org, bucket) and messages_for(org, result.audit_id)
    record = runtime.audit.get(result.audit_id)
    assert record["finding_id"] == result.finding_id == findings_for(org, bucket)[0]["Id"]
    assert record["notification_id"] == result.notification_id
    assert runtime.ledger.state(f"{NAME}#{result.target.idempotency_key}")["status"] == "COMPLETED"


def test_a_security_hub_refusal_still_notifies_and_is_noted_on_the_record(org):
    event, bucket = open_bucket_event(org)
    runtime = runtime_for(org, NAME)
    fail(runtime, "securityhub", "BatchImportFindings", "AccessDeniedException")
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED  # the fix stands
    assert "not reported: AccessDeniedException" in result.reason and result.finding_id is None
    assert not findings_for(org, bucket)
    (message,) = messages_for(org, result.audit_id)  # on-call still hears of it
    assert message["outcome"] == "REMEDIATED" and result.notification_id
    record = runtime.audit.get(result.audit_id)
    assert "AccessDeniedException" in record["report_error"] and "finding_id" not in record
    assert record["notification_id"] == result.notification_id
    assert runtime.ledger.state(f"{NAME}#{result.target.idempotency_key}")["status"] == "COMPLETED"


def test_a_missing_topic_still_imports_the_finding_and_is_noted_on_the_record(org):
    event, bucket = open_bucket_event(org)
    runtime = runtime_for(org, NAME)
    runtime.notifier.topic_arn = f"arn:aws:sns:{REGION}:{org.security}:snapback-gone"
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and "not reported" in result.reason
    assert result.notification_id is None and not messages_for(org, result.audit_id)
    (finding,) = findings_for(org, bucket)
    record = runtime.audit.get(result.audit_id)
    assert record["finding_id"] == finding["Id"] == result.finding_id and record["report_error"]
    assert "notification_id" not in record


def test_both_refused_both_are_noted(org):
    event, bucket = open_bucket_event(org)
    runtime = runtime_for(org, NAME)
    fail(runtime, "securityhub", "BatchImportFindings", "AccessDeniedException")
    runtime.notifier.topic_arn = f"arn:aws:sns:{REGION}:{org.security}:snapback-gone"
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and result.finding_id is None and result.notification_id is None
    record = runtime.audit.get(result.audit_id)
    assert "AccessDeniedException" in record["report_error"] and "NotFound" in record["report_error"]
    assert record["reason"].count("not reported") == 2


def test_a_throttled_security_hub_raises_for_the_retry_which_reports_it(org, monkeypatch):
    """Unchanged: a retryable report failure raises (Lambda retries), the claim stays RECORDED, and the
    retry only reports. What changed: on-call was notified by the first try already."""
    monkeypatch.setattr("snapback.securityhub.time.sleep", lambda _: None)  # the import's own backoff
    event, bucket = open_bucket_event(org)
    runtime = runtime_for(org, NAME)
    fail(runtime, "securityhub", "BatchImportFindings", "ThrottlingException")
    with pytest.raises(RetryableError):
        runtime.process(event, remediations=[NAME])
    assert not findings_for(org, bucket)
    (first,) = [m for m in oncall_messages(org) if m["where"]["resource"] == f"arn:aws:s3:::{bucket}"]
    retry = runtime_for(org, NAME)  # a new execution environment: Security Hub answers again
    (result,) = retry.process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and result.audit_id == first["audit_id"]  # recorded once
    assert findings_for(org, bucket) and messages_for(org, result.audit_id)
    assert retry.ledger.state(f"{NAME}#{result.target.idempotency_key}")["status"] == "COMPLETED"
