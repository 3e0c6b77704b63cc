"""securityhub_tampering under moto: Security Hub re-enabled in a member; every other change paged with its command."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from snapback import registry
from snapback.outcomes import Outcome, Severity
from snapback.patterns import matches
from snapback.remediations.securityhub_tampering import standards_arn, suppressing
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases

NAME = "securityhub_tampering"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]


def hub_in(org: Any) -> tuple[Any, str]:
    account = org.members["member-a"]
    hub = org.session(account).client("securityhub")
    hub.enable_security_hub(EnableDefaultStandards=False)
    return hub, account


def enabled(hub: Any) -> bool:
    try:
        hub.describe_hub()
    except hub.exceptions.ClientError:
        return False
    return True


def event_of(case: dict[str, Any], account: str) -> dict[str, Any]:
    record = cloudtrail_record(
        account,
        "securityhub.amazonaws.com",
        case["event"],
        fill(case["request"], account=account) if case["request"] is not None else None,
        actor=case.get("actor", "developer"),
        response=fill(case.get("response"), account=account),
    )
    return envelope(record).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    hub, account = hub_in(org)
    if case["setup"] == "disabled":
        hub.disable_security_hub()
    event = event_of(case, account)
    assert any(matches(p, event) for p in PATTERNS) == case["routed"]

    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    assert enabled(hub) is case["after"]
    if case["expect"] == "NOTIFIED":
        assert result.notification_id and "aws securityhub --region us-east-1" in result.reason
    if case["event"] in ("DisableSecurityHub", "DisassociateFromAdministratorAccount") and case["expect"] != "SKIPPED":
        assert result.severity is Severity.CRITICAL
    if case["event"] == "BatchDisableStandards":
        expected = "StandardsArn=arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0"
        assert expected in result.reason
    if case["event"] == "CreateAutomationRule" and case["expect"] == "NOTIFIED":
        assert "batch-delete-automation-rules --automation-rules-arns arn:aws:securityhub:" in result.reason


def test_undo_disables_what_snapback_enabled_and_is_idempotent(org):
    from snapback.operations import undo

    hub, account = hub_in(org)
    hub.disable_security_hub()
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(event_of(BY_NAME["Security Hub disabled: re-enabled"], account), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and enabled(hub)
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE" and not enabled(hub)
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_leave_it_off(org, mode, outcome):
    hub, account = hub_in(org)
    hub.disable_security_hub()
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    (result,) = runtime.process(event_of(BY_NAME["Security Hub disabled: re-enabled"], account), remediations=[NAME])
    assert result.outcome is outcome and not enabled(hub)


def test_declared_permissions_are_exactly_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    hub, account = hub_in(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("securityhub")
    client.meta.events.register("before-call.securityhub.*", lambda model, **_: calls.add(model.name))
    hub.disable_security_hub()
    (result,) = runtime.process(event_of(BY_NAME["Security Hub disabled: re-enabled"], account), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert {f"securityhub:{c}" for c in calls} == set(registry.get(NAME).permissions)


def test_helpers():
    assert suppressing([{"findingFieldsUpdate": {"workflow": {"status": "suppressed"}}}])
    assert suppressing([{"FindingFieldsUpdate": {"Severity": {"Label": "INFORMATIONAL"}}}])
    assert not suppressing([{"findingFieldsUpdate": {"severity": {"label": "HIGH"}}}]) and not suppressing(None)
    cis = "arn:aws:securityhub:eu-west-1:111122223333:subscription/cis-aws-foundations-benchmark/v/1.2.0"
    assert standards_arn(cis) == "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0"
    pci = "arn:aws:securityhub:eu-west-1:111122223333:subscription/pci-dss/v/3.2.1"
    assert standards_arn(pci) == "arn:aws:securityhub:eu-west-1::standards/pci-dss/v/3.2.1"
