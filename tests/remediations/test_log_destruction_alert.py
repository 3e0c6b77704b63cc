"""log_destruction_alert under moto: a member's security log groups, state asserted; flow/query logs paged."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from snapback import pipeline, registry
from snapback.outcomes import Outcome, Severity
from snapback.patterns import matches
from snapback_ops.demo import runtime_for
from tests.remediations.helpers import case_event, fill, load_cases

NAME = "log_destruction_alert"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]


def make_group(org: Any, group: str) -> tuple[Any, str]:
    account = org.members["member-a"]
    logs = org.session(account).client("logs")
    logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=400)
    return logs, account


def sweep(runtime: Any, account: str) -> list[Any]:
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    return list(
        remediation.sweep(runtime.clients.member(account, "us-east-1", NAME), account, "us-east-1", regions=["us-east-1"])
    )


def tamper(logs: Any, setup: str, group: str) -> None:
    if setup.startswith("retention-"):
        logs.put_retention_policy(logGroupName=group, retentionInDays=int(setup.split("-")[1]))
    elif setup == "delete":
        logs.delete_log_group(logGroupName=group)


def observed(logs: Any, group: str) -> dict[str, Any]:
    found = [g for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] if g["logGroupName"] == group]
    return {"exists": bool(found), "retention": found[0].get("retentionInDays") if found else None}


def event_of(case: dict[str, Any], account: str) -> dict[str, Any]:
    return case_event(fill(case, group=case["group"]), account).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    logs, account = make_group(org, case["group"])
    runtime = runtime_for(org, NAME)
    if case["baseline"]:
        assert sweep(runtime, account) == []
    tamper(logs, case["setup"], case["group"])
    event = event_of(case, account)
    assert any(matches(p, event) for p in PATTERNS) == case["routed"]

    (result,) = runtime.process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    assert observed(logs, case["group"]) == case["after"]
    if case["expect"] == "NOTIFIED":
        assert result.severity is Severity.CRITICAL and result.notification_id and "aws " in result.reason
    if case["event"] == "DeleteFlowLogs":
        assert "fl-0123456789abcdef0" in result.reason and "aws ec2 create-flow-logs" in result.reason
    if case["event"] == "DeleteLogGroup" and case["expect"] == "REMEDIATED":
        assert result.severity is Severity.CRITICAL and "gone for good" in result.reason


def test_undo_restores_the_cut_retention_and_deletes_an_empty_recreated_group(org):
    from snapback.operations import undo

    group = "aws-cloudtrail-logs-acme"
    logs, account = make_group(org, group)
    runtime = runtime_for(org, NAME)
    sweep(runtime, account)
    tamper(logs, "retention-1", group)
    (result,) = runtime.process(event_of(BY_NAME["CloudTrail log group retention cut to one day"], account), remediations=[NAME])
    assert observed(logs, group)["retention"] == 400
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert observed(logs, group)["retention"] == 1
    # the operator's undo set the new baseline: the sweep no longer flags it
    assert sweep(runtime, account) == []

    logs.delete_log_group(logGroupName=group)
    (result,) = runtime.process(
        event_of(BY_NAME["security log group deleted: recreated with its last known good retention"], account),
        remediations=[NAME],
    )
    assert result.outcome is Outcome.REMEDIATED and observed(logs, group) == {"exists": True, "retention": 1}
    undo(runtime, result.audit_id)
    assert observed(logs, group)["exists"] is False


def test_sweep_flags_a_cut_against_the_baseline_only(org):
    group = "/aws/vpc/flowlogs"
    logs, account = make_group(org, group)
    make_group(org, "/app/web")
    runtime = runtime_for(org, NAME)
    assert sweep(runtime, account) == []
    tamper(logs, "retention-1", group)
    tamper(logs, "retention-1", "/app/web")
    (found,) = sweep(runtime, account)
    assert found.resource_id == group
    result = pipeline.reconcile(runtime, registry.get(NAME)(), found, period="2026-12-01", run_id="s")
    assert result.outcome is Outcome.REMEDIATED and observed(logs, group)["retention"] == 400


def test_security_log_groups_option(org):
    logs, account = make_group(org, "/app/web")
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(
        runtime.config, options={NAME: {"security_log_groups": ["/app/*"], "min_retention_days": 30}}
    )
    tamper(logs, "retention-1", "/app/web")
    (result,) = runtime.process(
        event_of(BY_NAME["application log group retention cut is not a security matter"], account), remediations=[NAME]
    )
    assert result.outcome is Outcome.REMEDIATED and observed(logs, "/app/web")["retention"] == 30


def test_declared_permissions_cover_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    group = "aws-cloudtrail-logs-acme"
    logs, account = make_group(org, group)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("logs")
    client.meta.events.register("before-call.cloudwatch-logs.*", lambda model, **_: calls.add(model.name))
    logs.delete_retention_policy(logGroupName=group)
    sweep(runtime, account)  # baseline: never expire
    tamper(logs, "retention-1", group)
    (result,) = runtime.process(event_of(BY_NAME["CloudTrail log group retention cut to one day"], account), remediations=[NAME])
    assert observed(logs, group)["retention"] is None
    undo(runtime, result.audit_id)
    logs.put_retention_policy(logGroupName=group, retentionInDays=400)
    sweep(runtime, account)
    tamper(logs, "delete", group)
    (result,) = runtime.process(
        event_of(BY_NAME["security log group deleted: recreated with its last known good retention"], account),
        remediations=[NAME],
    )
    undo(runtime, result.audit_id)
    assert {f"logs:{c}" for c in calls} == set(registry.get(NAME).permissions)
