"""Fault injection: throttling, AccessDenied in the member account, a process killed mid-remediation.

Must-fire fixture cases run through the remediation's own `test_fixture_case` (which asserts the
outcome and the AWS state), with faults hooked into every client Snapback creates and Lambda's
asynchronous retry emulated around the handler. Profile `ci` (default): every remediation, up to
two must-fire cases each (distinct trigger shapes first); `full` (SNAPBACK_RELIABILITY_PROFILE=full,
`make fuzz`): every must-fire case, and the AccessDenied / kill tests for every acting remediation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from snapback_ops.demo import runtime_for
from tests.reliability.support import (
    NAMES,
    PROFILE,
    Faults,
    case_views,
    cases_for,
    install,
    is_mutating,
    is_security_write,
    must_fire,
    report,
    run_case,
    views,
)

THROTTLE_RATE = 0.30
ACTING = [n for n in NAMES if any(c["expect"] == "REMEDIATED" for c in must_fire(n))]
# The CI profile denies writes for three remediations (one per AWS protocol family); `full`, all of them.
DENIED = ACTING if PROFILE == "full" else ["iam_admin_policy_revert", "kms_enable_key_rotation", "s3_block_public_access"]
# A kill after the only write of a remediation loses its record (see the test below): these fail today.
SINGLE_WRITE = {n for n in ACTING if n != "ec2_isolate_instance"}
# (ec2_isolate_instance, the one with many writes, has its own stricter test below.)
KILLED = ACTING if PROFILE == "full" else ["kms_enable_key_rotation"]


def first_remediated(name: str) -> dict[str, Any]:
    return next(c for c in must_fire(name) if c["expect"] == "REMEDIATED")


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


@pytest.mark.parametrize("name", NAMES)
def test_thirty_percent_throttling_every_must_fire_case_still_completes(org, monkeypatch, record_property, name):
    cases = cases_for(name, limit=2)  # two: some single cases make too few calls for a 30% rate to show
    faults = Faults(seed=sum(map(ord, name)), throttle_rate=THROTTLE_RATE)
    platform = install(monkeypatch, faults)
    for view, case in zip(case_views(org, name, cases, monkeypatch), cases, strict=True):
        run_case(name, view, case)  # asserts the outcome and the AWS state the case expects

    assert len(platform.results) >= len(cases)
    throttled = sum(faults.throttled.values())
    # Every HTTP attempt is throttled with probability 0.3: the observed share is within 3 sigma of it.
    assert faults.attempts > 0 and abs(throttled / faults.attempts - THROTTLE_RATE) <= 3 * (0.21 / faults.attempts) ** 0.5
    assert throttled > 0
    report(
        record_property,
        remediation=name,
        events_tried=len(cases),
        aws_attempts=faults.attempts,
        faults_injected=throttled,
        throttled_by_service=dict(faults.throttled),
        lambda_retries=platform.retries,
        backoff_seconds_skipped=round(platform.backoff_seconds, 1),
        events_lost=0,
    )


@pytest.mark.parametrize("name", DENIED)
def test_access_denied_in_the_member_is_failed_told_audited_dead_lettered_and_not_retried(
    org, monkeypatch, record_property, name
):
    """Every write in the member account (and to the remediation's own resources in the security
    account: the WAF IP sets) is denied: the handler returns FAILED (no exception, so Lambda does not
    retry it), on-call gets the notification, the audit has it, the DLQ holds it."""
    case = first_remediated(name)
    security = org.session(org.security)
    sqs = security.client("sqs")
    dlq = sqs.create_queue(QueueName="snapback-failures")["QueueUrl"]
    inbox = sqs.get_queue_url(QueueName="oncall-inbox")["QueueUrl"]
    drain(sqs, inbox)
    faults = Faults(
        deny=lambda service, operation, member: (member and is_mutating(operation))
        or is_security_write(service, operation, member)
    )
    platform = install(monkeypatch, faults)
    from snapback.runtime import Runtime

    wrapped = Runtime.process

    def with_dlq(self: Runtime, raw: Any, remediations: Any = None) -> Any:
        self.dead_letter_url = dlq
        return wrapped(self, raw, remediations)

    monkeypatch.setattr(Runtime, "process", with_dlq)
    (view,) = case_views(org, name, [case], monkeypatch)

    with pytest.raises(AssertionError, match="FAILED"):
        run_case(name, view, case)  # the case expects REMEDIATED; what happened instead is below

    result = platform.results[-1]  # some cases first show Snapback a baseline
    assert result.outcome.value == "FAILED" and "AccessDenied" in result.reason, result.reason
    assert platform.retries == 0 and platform.invocations == len(platform.results), "a permanent error is not retried"
    assert sum(faults.denied.values()) >= 1 and all(op for _, op, _ in faults.member_writes)
    assert len(faults.member_writes) == sum(faults.denied.values()), "every write was denied: nothing changed"
    (notification,) = [m for m in drain(sqs, inbox) if m.get("audit_id") == result.audit_id]
    assert notification["outcome"] == "FAILED" and notification["remediation"] == name
    audit = runtime_for(view, name).audit.get(result.audit_id)
    assert audit and audit["outcome"] == "FAILED" and audit["resource_arn"] == result.target.resource_arn
    (dead,) = drain(sqs, dlq)
    assert dead["remediation"] == name and dead["audit_id"] == result.audit_id and dead["event"]["id"] == result.event_id
    # The claim was given back: a redrive (after the permission is fixed) may try again.
    assert runtime_for(view, name).ledger.state(f"{name}#{result.target.idempotency_key}") is None
    report(record_property, remediation=name, events_tried=1, faults_injected=faults.injected, events_lost=0)


def expire_leases(runtime: Any) -> None:
    """The killed invocation's lease runs out (its deadline plus LEASE_SKEW): what the retry then finds."""
    dynamodb = runtime.clients.client("dynamodb")
    for item in dynamodb.scan(TableName=runtime.table)["Items"]:
        held = item.get("status", {}).get("S") in ("IN_PROGRESS", "RECORDED") or item["pk"]["S"].startswith("lock#")
        if item["pk"]["S"].startswith(("idem#", "lock#")) and held:
            dynamodb.update_item(
                TableName=runtime.table,
                Key={"pk": item["pk"]},
                UpdateExpression="SET lease_until = :past",
                ExpressionAttributeValues={":past": {"N": "0"}},
            )


@pytest.mark.parametrize("name", KILLED)
def test_a_process_killed_after_its_first_write_is_finished_by_the_retry_without_doing_anything_twice(
    org, monkeypatch, record_property, name
):
    case = first_remediated(name)
    writes: list[str] = []

    def crash_after(service: str, operation: str, member: bool) -> bool:
        # the remediation's writes: the member account's, or its own resources' in the security account
        if (member and is_mutating(operation)) or is_security_write(service, operation, member):
            writes.append(f"{service}:{operation}")
            return len(writes) == 1
        return False

    faults = Faults(crash_after=crash_after)
    platform = install(monkeypatch, faults)
    platform.on_crash = expire_leases
    (view,) = case_views(org, name, [case], monkeypatch)

    run_case(name, view, case)  # the retry ends in the case's outcome and AWS state

    assert platform.crashes == 1 and faults.crashes == 1
    final = platform.results[-1]
    assert final.outcome.value == "REMEDIATED", final.reason
    runtime = runtime_for(view, name)
    audits = [
        a
        for a in runtime.audit.scan(remediation=name)
        if a.get("resource_arn") == final.target.resource_arn and a.get("event_id") == final.event_id
    ]  # (some cases first show Snapback a baseline event of their own)
    assert [a["outcome"] for a in audits] == ["REMEDIATED"], "one audit record of the change, none of the killed run"
    if name in SINGLE_WRITE:
        # its one change was made by the killed run: the retry records it and changes nothing again
        # (the case's own checks may undo it afterwards: that write is Snapback's too)
        assert writes.count(writes[0]) == 1, writes
        assert "interrupted" in final.reason and final.before and final.undo, final.reason
        # the record is as good as an uninterrupted one: undo works from it (unless the case already did)
        from snapback.operations import undo

        assert undo(runtime, audits[0]["audit_id"])["outcome"] in ("UNDONE", "ALREADY_UNDONE")
    else:
        assert len(writes) > 1, "the retry did the rest of the work"
    report(record_property, remediation=name, events_tried=1, faults_injected=faults.injected, member_writes=writes)


def test_ec2_isolation_killed_after_its_first_write_leaves_one_of_everything(org, monkeypatch):
    """The isolation of an instance with a role, two ENIs and a data volume: after the retry there is
    one isolation group and one allow-all group in the VPC, one snapshot per volume, one deny policy."""
    from tests.remediations import test_ec2_isolate_instance as ec2_test

    writes: list[str] = []

    def crash_after(service: str, operation: str, member: bool) -> bool:
        if member and is_mutating(operation):
            writes.append(operation)
            return operation == "CreateSnapshots" and writes.count(operation) == 1
        return False

    faults = Faults(crash_after=crash_after)
    platform = install(monkeypatch, faults)
    platform.on_crash = expire_leases
    (view,) = views(org, 1)
    host = ec2_test.make_host(view, "web")
    event = ec2_test.finding_event(host, ec2_test.WEB)
    (result,) = runtime_for(view, ec2_test.NAME).process(event, remediations=[ec2_test.NAME])

    assert platform.crashes == 1 and result.outcome.value == "REMEDIATED", result.reason
    groups = host.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [host.vpc]}])["SecurityGroups"]
    assert sorted(g["GroupName"] for g in groups if g["GroupName"].startswith("snapback")) == [
        ec2_test.ISOLATION,
        ec2_test.ALLOW_ALL,
    ]
    tagged = [{"Name": "tag:snapback:instance", "Values": [host.instance]}]
    snapshots = host.ec2.describe_snapshots(OwnerIds=["self"], Filters=tagged)["Snapshots"]
    assert sorted(s["VolumeId"] for s in snapshots) == host.volumes(), "one snapshot per volume, not two"
    assert writes.count("CreateSnapshots") == 1
    assert host.iam.list_role_policies(RoleName=host.role)["PolicyNames"] == [f"snapback-isolate-{host.instance}"]
    ec2_test.assert_isolated(host, event["detail"]["id"])
