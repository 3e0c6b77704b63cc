"""cloudtrail_restart_logging under moto: trails in a member account, state asserted with GetTrailStatus."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest

from snapback import registry
from snapback.events import SECURITYHUB_IMPORTED, normalise
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback.remediations.cloudtrail_restart_logging import management_gaps
from snapback_ops.demo import oncall_messages, runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import case_event, inject_error, load_cases, service_event

NAME = "cloudtrail_restart_logging"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]
REGION = "us-east-1"


def make_trail(org: Any, setup: str, member: str = "member-a") -> tuple[Any, str, str, str]:
    """A trail in the member account as `setup` describes it; (client, account, name, arn)."""
    account = org.members[member]
    session = org.session(account)
    ct = session.client("cloudtrail")
    name = f"trail-{uuid.uuid4().hex[:8]}"
    arn = f"arn:aws:cloudtrail:{REGION}:{account}:trail/{name}"
    if setup == "none":
        return ct, account, name, arn
    bucket = f"logs-{name}"
    session.client("s3").create_bucket(Bucket=bucket)
    ct.create_trail(Name=name, S3BucketName=bucket, IsMultiRegionTrail=not setup.startswith("single"))
    if setup == "no-management":
        ct.put_event_selectors(TrailName=name, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False}])
    elif setup == "advanced-readonly":
        selector = {
            "Name": "mgmt",
            "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["true"]}],
        }
        ct.put_event_selectors(TrailName=name, AdvancedEventSelectors=[selector])
    elif setup == "with-data":
        selector = {
            "ReadWriteType": "All",
            "IncludeManagementEvents": True,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
        }
        ct.put_event_selectors(TrailName=name, EventSelectors=[selector])
    if setup not in ("stopped", "single-stopped"):
        ct.start_logging(Name=name)
    return ct, account, name, arn


def is_logging(ct: Any, name: str) -> bool | None:
    try:
        return bool(ct.get_trail_status(Name=name)["IsLogging"])
    except ct.exceptions.TrailNotFoundException:
        return None


def event_for(case: dict[str, Any], account: str, name: str, arn: str) -> dict[str, Any]:
    return case_event(case, account, trail=name, arn=arn).as_dict()


def control_finding(account: str, control: str = "CloudTrail.1", resource: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:{REGION}:{account}:security-control/{control}/finding/{uuid.uuid4()}",
        "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/securityhub",
        "GeneratorId": f"security-control/{control}",
        "AwsAccountId": account,
        "Region": REGION,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "Title": "CloudTrail should be enabled and configured with at least one multi-Region trail",
        "Severity": {"Label": "HIGH"},
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [
            resource or {"Type": "AwsAccount", "Id": f"AWS::::Account:{account}", "Partition": "aws", "Region": REGION}
        ],
    }


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    ct, account, name, arn = make_trail(org, case["setup"])
    event = event_for(case, account, name, arn)
    assert any(matches(p, event) for p in PATTERNS) == case["routed"]

    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    assert is_logging(ct, name) is case["after"]
    if case["expect"] == "REMEDIATED":
        assert result.before["logging"] is False and result.after["logging"] is True
        assert result.undo == {"started": [{"trail": name, "region": REGION}]}
        assert result.source_identity == "snapback@cloudtrail_restart_logging"
    if case["expect"] in ("REMEDIATED", "NOTIFIED", "FAILED"):
        assert result.finding_id and result.notification_id and result.audit_id  # alert always
    if case["setup"] in ("single", "single-stopped"):
        assert "single-Region trail" in result.reason and result.before["scope_gaps"]
    if case["expect"] == "FAILED":
        assert "no longer exists" in result.reason and "cannot restart a deleted trail" in result.reason


def test_no_shared_sample_is_cloudtrail_tampering():
    """The shared corpus holds no CloudTrail-service events: none may route here."""
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - shapes the runtime rejects are covered by the corpus test
            continue
        for envelope in envelopes:
            assert not any(matches(p, json.loads(json.dumps(envelope.as_dict()))) for p in PATTERNS), path


def test_management_gaps_read_basic_and_advanced_selectors():
    assert management_gaps([], []) == []
    assert management_gaps([{"ReadWriteType": "All", "IncludeManagementEvents": True}], []) == []
    assert management_gaps([{"ReadWriteType": "ReadOnly"}, {"ReadWriteType": "WriteOnly"}], []) == []
    assert management_gaps([{"ReadWriteType": "WriteOnly"}], []) == ["management events narrowed to WriteOnly"]
    assert management_gaps([{"IncludeManagementEvents": False}], []) == [
        "management events excluded (IncludeManagementEvents false)"
    ]
    assert management_gaps([{"ExcludeManagementEventSources": ["kms.amazonaws.com"]}], []) == [
        "management events from kms.amazonaws.com excluded"
    ]
    mgmt = {"Field": "eventCategory", "Equals": ["Management"]}
    assert management_gaps([], [{"FieldSelectors": [mgmt]}]) == []
    assert management_gaps([], [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}])[0].startswith(
        "management events not selected"
    )
    both = [
        {"FieldSelectors": [mgmt, {"Field": "readOnly", "Equals": ["true"]}]},
        {"FieldSelectors": [mgmt, {"Field": "readOnly", "Equals": ["false"]}]},
    ]
    assert management_gaps([], both) == []
    excluded = [{"FieldSelectors": [mgmt, {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}]}]
    assert management_gaps([], excluded) == ["management events from kms.amazonaws.com excluded"]


def test_undo_stops_only_what_snapback_started_and_is_idempotent(org):
    from snapback.operations import undo

    ct, account, name, arn = make_trail(org, "stopped")
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(event_for(BY_NAME["StopLogging by name"], account, name, arn), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and is_logging(ct, name) is True

    first = undo(runtime, result.audit_id)
    assert first["outcome"] == "UNDONE" and is_logging(ct, name) is False
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE" and is_logging(ct, name) is False


def test_undo_after_the_trail_was_deleted_is_refused_as_drift_and_forced_changes_nothing(org):
    from snapback.operations import undo

    ct, account, name, arn = make_trail(org, "stopped")
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(event_for(BY_NAME["StopLogging by name"], account, name, arn), remediations=[NAME])
    ct.delete_trail(Name=name)
    refused = undo(runtime, result.audit_id)  # the trail is not what Snapback left: drift
    assert refused["outcome"] == "REFUSED" and refused.get("drift")
    moved = undo(runtime, result.audit_id, force=True)
    assert moved["outcome"] == "UNDONE" and "no longer exists" in moved["actions"][0]


def test_a_trail_deleted_meanwhile_is_a_failed_alert_not_a_crash(org):
    ct, account, name, arn = make_trail(org, "stopped")
    ct.delete_trail(Name=name)
    (result,) = runtime_for(org, NAME).process(event_for(BY_NAME["StopLogging by name"], account, name, arn), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "no longer exists" in result.reason
    assert result.notification_id and result.finding_id


def test_duplicate_deliveries_act_once(org):
    ct, account, name, arn = make_trail(org, "stopped")
    runtime = runtime_for(org, NAME)
    event = event_for(BY_NAME["StopLogging by name"], account, name, arn)
    outcomes = [r.outcome for _ in range(3) for r in runtime.process(event, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.SKIPPED]


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing_but_say_what_they_would_do(org, mode, outcome):
    ct, account, name, arn = make_trail(org, "stopped")
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    (result,) = runtime.process(event_for(BY_NAME["StopLogging by name"], account, name, arn), remediations=[NAME])
    assert result.outcome is outcome and result.actions == [f"cloudtrail:StartLogging on {name}"]
    assert is_logging(ct, name) is False


def test_dry_run_of_a_deleted_trail_says_it_cannot_be_restarted(org):
    ct, account, name, arn = make_trail(org, "none")
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: "dry-run"})
    (result,) = runtime.process(
        event_for(BY_NAME["DeleteTrail: cannot restart, FAILED with the reason"], account, name, arn), remediations=[NAME]
    )
    assert result.outcome is Outcome.DRY_RUN and "cannot restart a deleted trail" in result.actions[0]


def test_access_denied_is_failed_and_a_redrive_can_finish(org):
    ct, account, name, arn = make_trail(org, "stopped")
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, REGION, NAME).client("cloudtrail"), "StartLogging", "AccessDeniedException")
    event = event_for(BY_NAME["StopLogging by name"], account, name, arn)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "AccessDenied" in result.reason and is_logging(ct, name) is False
    (again,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert again.outcome is Outcome.REMEDIATED and is_logging(ct, name) is True


def test_throttling_raises_for_the_platform_to_retry(org):
    from snapback.errors import RetryableError

    ct, account, name, arn = make_trail(org, "stopped")
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, REGION, NAME).client("cloudtrail"), "GetTrailStatus", "ThrottlingException", 400)
    with pytest.raises(RetryableError):
        runtime.process(event_for(BY_NAME["StopLogging by name"], account, name, arn), remediations=[NAME])
    assert is_logging(ct, name) is False


def test_the_alert_names_the_trail_the_actor_and_the_gap(org):
    ct, account, name, arn = make_trail(org, "logging")
    runtime = runtime_for(org, NAME)
    case = BY_NAME["stale StopLogging, trail already logging again: still alerted"]
    (result,) = runtime.process(event_for(case, account, name, arn), remediations=[NAME])
    (message,) = [m for m in oncall_messages(org) if m["audit_id"] == result.audit_id]
    assert message["outcome"] == "NOTIFIED" and message["where"]["resource"] == arn
    assert message["what_happened"]["summary"] == f"CloudTrail logging stopped on trail {name}"
    assert message["what_happened"]["actor"].endswith("developer-session") and "Event history" in message["reason"]


# -- Security Hub controls -------------------------------------------------------------------------


def test_cloudtrail_1_finding_restarts_the_accounts_stopped_multi_region_trail(org):
    ct, account, name, _ = make_trail(org, "stopped", member="member-b")
    _, _, narrow, _ = make_trail(org, "single-stopped", member="member-b")
    event = service_event("aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [control_finding(account)]}, org.security)
    assert any(matches(p, event.as_dict()) for p in PATTERNS)
    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert is_logging(ct, name) is True and is_logging(ct, narrow) is False  # a narrowed trail is not the fix
    assert result.undo == {"started": [{"trail": name, "region": REGION}]}


def test_the_control_trigger_matches_a_failed_cloudtrail_1_finding():
    event = service_event(
        "aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [control_finding("111122223333")]}, "111122223333"
    )
    assert any(matches(p, event.as_dict()) for p in PATTERNS)


def test_cloudtrail_3_finding_without_a_restartable_trail_fails_with_the_reason(org):
    ct, account, narrow, _ = make_trail(org, "single-stopped", member="member-b")
    event = service_event(
        "aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [control_finding(account, "CloudTrail.3")]}, account
    )
    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "no stopped multi-Region trail" in result.reason
    assert is_logging(ct, narrow) is False


def test_finding_on_a_trail_resource_restarts_that_trail(org):
    ct, account, name, arn = make_trail(org, "stopped", member="member-b")
    resource = {"Type": "AwsCloudTrailTrail", "Id": arn, "Region": REGION}
    event = service_event(
        "aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [control_finding(account, resource=resource)]}, account
    )
    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and is_logging(ct, name) is True


def test_compliant_account_finding_is_already_compliant_not_alerted(org):
    ct, account, name, _ = make_trail(org, "logging", member="member-b")
    event = service_event("aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [control_finding(account)]}, account)
    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT


def test_declared_permissions_are_exactly_the_calls_made(org):
    """Record every member-account call of inspect, apply, verify and undo; map to IAM actions."""
    from snapback.operations import undo

    calls: set[str] = set()
    runtime = runtime_for(org, NAME)
    ct, account, name, arn = make_trail(org, "stopped")
    client = runtime.clients.member(account, REGION, NAME).client("cloudtrail")
    client.meta.events.register("before-call.cloudtrail.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(event_for(BY_NAME["StopLogging by name"], account, name, arn), remediations=[NAME])
    undo(runtime, result.audit_id)
    ct.stop_logging(Name=name)
    event = service_event("aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [control_finding(account)]}, account)
    (result,) = runtime.process(event.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    # CloudTrail's IAM actions carry the operation names.
    assert {f"cloudtrail:{c}" for c in calls} == set(registry.get(NAME).permissions)


def test_a_notify_mode_outcome_can_be_approved(org):
    from snapback.operations import approve

    ct, account, name, arn = make_trail(org, "stopped")
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: "notify"})
    (result,) = runtime.process(event_for(BY_NAME["StopLogging by name"], account, name, arn), remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED and is_logging(ct, name) is False
    approved = approve(runtime, result.audit_id, "oncall@example.com")
    assert approved.outcome is Outcome.REMEDIATED and is_logging(ct, name) is True
