"""Duplicates: at-least-once delivery gives exactly-once effects.

Every must-fire fixture case's event is delivered three times, interleaved across the cases
(a, b, c, a, b, c, a, b, c); each case's own `test_fixture_case` then asserts the outcome and the
AWS state after all three copies. Per event: one action (AWS state, audit), one notification (SNS
messages on the on-call queue), one Security Hub finding.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from typing import Any

import pytest

from snapback.events import GUARDDUTY_FINDING, SECURITYHUB_IMPORTED
from snapback.outcomes import REPORTED
from snapback_ops.demo import runtime_for
from tests.reliability.support import NAMES, Interleaver, case_views, cases_for, report, run_case, views
from tests.remediations.helpers import service_event


def inbox(org: Any) -> list[dict[str, Any]]:
    sqs = org.session(org.security).client("sqs")
    url = sqs.get_queue_url(QueueName="oncall-inbox")["QueueUrl"]
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def snapback_findings(org: Any) -> list[dict[str, Any]]:
    securityhub = org.session(org.security).client("securityhub")
    findings: list[dict[str, Any]] = []
    for page in securityhub.get_paginator("get_findings").paginate():
        findings.extend(f for f in page["Findings"] if "snapback" in f.get("ProductArn", "") + f.get("GeneratorId", ""))
    return findings


@pytest.mark.parametrize("name", NAMES)
def test_every_must_fire_case_delivered_three_times_interleaved_acts_once(org, monkeypatch, record_property, name):
    cases = cases_for(name)
    inbox(org)
    earlier = {f["Id"] for f in snapback_findings(org)}  # the module's other tests share the org
    interleaver = Interleaver(monkeypatch, copies=3)
    jobs = [
        partial(run_case, name, view, case) for view, case in zip(case_views(org, name, cases, monkeypatch), cases, strict=True)
    ]

    interleaver.run(jobs)  # each case's assertions ran after its three deliveries

    deliveries = interleaver.deliveries
    assert len(deliveries) >= len(cases)
    firsts = []
    for delivery in deliveries:
        assert len(delivery.results) == 3
        first, *again = delivery.results
        assert not isinstance(first, BaseException), first
        firsts.extend(first)
        for copy in again:
            assert not isinstance(copy, BaseException), copy
            assert [r.outcome.value for r in copy] == ["SKIPPED"] * len(first)
            assert all("duplicate" in r.reason for r in copy), [r.reason for r in copy]
    reported = [r for r in firsts if r.outcome in REPORTED and r.target is not None]
    assert len(reported) >= len(cases)
    # (an undo a case's own checks make is an action too, notified with its own record)
    messages = [m for m in inbox(org) if not str(m.get("mode") or "").startswith("undo")]
    assert Counter(m["audit_id"] for m in messages) == Counter(r.audit_id for r in reported), "one notification per event"
    finding_ids = [f["Id"] for f in snapback_findings(org) if f["Id"] not in earlier]
    assert len(finding_ids) == len(set(finding_ids)), "no finding twice"
    assert set(finding_ids) == {r.finding_id for r in reported}, "one Security Hub finding per event (per resource)"
    runtime = runtime_for(org, name)
    audited = Counter((a["event_id"], a["outcome"]) for a in runtime.audit.scan(remediation=name) if a["mode"] != "undo")
    for result in firsts:
        if result.outcome.value == "REMEDIATED":
            assert audited[(result.event_id, "REMEDIATED")] == 1, "one action per event"
    report(
        record_property,
        remediation=name,
        events_tried=len(deliveries),
        duplicates_sent=2 * len(deliveries),
        notifications=len(messages),
        findings=len(finding_ids),
        events_lost=0,
    )


def test_one_finding_as_member_copy_admin_copy_and_security_hub_copy_acts_and_notifies_once(org, record_property):
    """A GuardDuty EC2 finding arrives in the member account, in the GuardDuty administrator
    (security) account and as Security Hub's ASFF copy: one isolation, one notification."""
    from tests.remediations import test_ec2_isolate_instance as ec2_test

    inbox(org)
    earlier = {f["Id"] for f in snapback_findings(org)}
    (org,) = views(org, 1)
    host = ec2_test.make_host(org, "web")
    detail = ec2_test.finding_event(host, ec2_test.WEB)["detail"]
    member_copy = service_event("aws.guardduty", GUARDDUTY_FINDING, detail, host.account).as_dict()
    admin_copy = service_event("aws.guardduty", GUARDDUTY_FINDING, detail, org.security).as_dict()
    asff = {
        "SchemaVersion": "2018-10-08",
        "Id": detail["arn"],
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "GeneratorId": detail["type"],
        "AwsAccountId": host.account,
        "Region": "us-east-1",
        "Types": [f"TTPs/Command and Control/{detail['type']}"],
        "Title": detail["title"],
        "Severity": {"Label": "HIGH", "Normalized": 80},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [{"Type": "AwsEc2Instance", "Id": host.arn, "Region": "us-east-1"}],
    }
    hub_copy = service_event("aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [asff]}, org.security).as_dict()

    results = []
    for event in (member_copy, admin_copy, hub_copy):
        # Every function whose rule matches is invoked, as EventBridge would (routing by pattern).
        runtime = runtime_for(org, ec2_test.NAME)
        results.extend(runtime.process(event))

    acted = [r for r in results if r.outcome.value not in ("SKIPPED",)]
    assert [(r.remediation, r.outcome.value) for r in acted] == [(ec2_test.NAME, "REMEDIATED")], [
        (r.remediation, r.outcome.value, r.reason) for r in results
    ]
    ec2_test.assert_isolated(host, detail["id"])
    messages = inbox(org)
    assert [m["audit_id"] for m in messages] == [acted[0].audit_id]
    assert len([f for f in snapback_findings(org) if f["Id"] not in earlier]) == 1
    report(record_property, events_tried=3, duplicates_sent=2, notifications=len(messages), events_lost=0)
