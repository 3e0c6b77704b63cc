"""organization_departure_alert: done and attempted departures page, critical; neighbours stay silent."""

from __future__ import annotations

from typing import Any

import pytest

from snapback import registry
from snapback.outcomes import Outcome, Severity
from snapback.patterns import matches
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases

NAME = "organization_departure_alert"
CASES = load_cases(NAME)
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]


def event_of(case: dict[str, Any], org: Any) -> dict[str, Any]:
    member = org.members["member-a"]
    caller = member if case["caller"] == "member" else org.management
    request = fill(case["request"], member=member) if case["request"] is not None else None
    record = cloudtrail_record(
        caller,
        "organizations.amazonaws.com",
        case["event"],
        request,
        actor=case.get("actor", "developer"),
        error_code=case.get("error_code"),
    )
    if case.get("error_code") == "ConstraintViolationException":
        record["errorMessage"] = (
            "The member account is missing one or more of the prerequisites required to operate as a standalone account."
        )
    event = envelope(record).as_dict()
    if case.get("service_event"):
        record.update(
            eventType="AwsServiceEvent",
            userIdentity={"accountId": caller, "invokedBy": "organizations.amazonaws.com"},
            serviceEventDetails={"accountId": member, "departedMethod": "Left"},
            requestParameters=None,
        )
        event["detail-type"] = "AWS Service Event via CloudTrail"
    return event


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    event = event_of(case, org)
    assert any(matches(p, event) for p in PATTERNS) == case["routed"]
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] == "NOTIFIED":
        member = org.members["member-a"]
        assert result.severity is Severity.CRITICAL and result.notification_id and result.finding_id
        assert result.target.resource_id == member and result.target.facts["done"] is not bool(case.get("error_code"))
        assert f"Id={member},Type=ACCOUNT" in result.target.facts["restore"]
        if case.get("error_code"):
            assert "tried to leave" in result.target.facts["summary"] and case["error_code"] in result.target.facts["summary"]


def test_only_the_attempts_trigger_matches_failed_calls():
    by_id = {t.id: t.pattern for t in registry.get(NAME).triggers}
    assert by_id["attempts"]["detail"]["errorCode"] == [{"exists": True}]
    assert by_id["cloudtrail"]["detail"]["errorCode"] == [{"exists": False}]
    assert "snapback-remediator" in str(by_id["attempts"])  # the loop guard stays in the pattern


def test_a_removal_event_may_not_name_an_account_outside_the_caller_binding(org):
    """The target is the calling account (what EventBridge vouches for); the departed one is a fact."""
    case = next(c for c in CASES if c["event"] == "RemoveAccountFromOrganization")
    (result,) = runtime_for(org, NAME).process(event_of(case, org), remediations=[NAME])
    assert result.target.account == org.management and result.target.facts["departed_account"] == org.members["member-a"]


def test_a_malformed_removal_is_rejected(org):
    record = cloudtrail_record(org.management, "organizations.amazonaws.com", "RemoveAccountFromOrganization", {"accountId": "x"})
    (result,) = runtime_for(org, NAME).process(envelope(record).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REJECTED


def test_dry_run_records_and_pages_nobody(org):
    import dataclasses

    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: "dry-run"})
    (result,) = runtime.process(event_of(CASES[0], org), remediations=[NAME])
    assert result.outcome is Outcome.DRY_RUN
