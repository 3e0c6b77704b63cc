"""root_activity_alert under moto: alert-only, CRITICAL, facts from the event, nothing touched in the member."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from snapback import registry
from snapback.config import Exemption
from snapback.errors import SnapbackError
from snapback.events import CONSOLE_SIGNIN, Envelope, normalise
from snapback.outcomes import Outcome, Severity
from snapback.patterns import matches
from snapback_ops.demo import cloudtrail_record, oncall_messages, runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import fill, load_cases

NAME = "root_activity_alert"
CASES = load_cases(NAME)
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]

# The real samples that are root activity: every one must route here, and nothing else may.
ROOT_SAMPLES = {
    "a_console_signin/root-failure-ct-doc.json": {"MFAUsed": "No", "ConsoleLogin": "Failure"},
    "a_console_signin/root-failure-panther.json": {"MFAUsed": "No", "ConsoleLogin": "Failure"},
    "a_console_signin/root-success-cwe-doc.json": {"MFAUsed": "No", "ConsoleLogin": "Success"},
    "a_console_signin/root-success-mfa-ct-doc.json": {"MFAUsed": "Yes", "ConsoleLogin": "Success"},
    "a_console_signin/root-success-panther.json": {"MFAUsed": "No", "ConsoleLogin": "Success"},
    "b_iam/createaccesskey-root-panther.json": {"MFAUsed": "Yes", "for_user": "root", "access_key_id": "1111"},
}


def root_identity(account: str) -> dict[str, Any]:
    return {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": "",
    }


def case_event(case: dict[str, Any], account: str) -> Envelope:
    source = case["event_source"]
    record = cloudtrail_record(
        account,
        source,
        case["event"],
        fill(case.get("request"), account=account),
        actor=case.get("actor", "developer"),
        response=fill(case.get("response"), account=account),
        error_code=case.get("error_code"),
    )
    if case["identity"] == "Root":
        record["userIdentity"] = root_identity(account)
        if "invoked_by" in case:
            record["userIdentity"]["invokedBy"] = case["invoked_by"]
        if "mfa_authenticated" in case:
            record["userIdentity"]["sessionContext"] = {"attributes": {"mfaAuthenticated": case["mfa_authenticated"]}}
    if "additional" in case:
        record["additionalEventData"] = fill(case["additional"], account=account)
    if "error_message" in case:
        record["errorMessage"] = case["error_message"]
    if "region" in case:
        record["awsRegion"] = case["region"]
    signin = source == "signin.amazonaws.com"
    if signin:
        record["eventType"] = "AwsConsoleSignIn"
    return Envelope(
        id=record["eventID"],
        source=f"aws.{source.split('.')[0]}",
        detail_type=case.get("detail_type", CONSOLE_SIGNIN[0] if signin else "AWS API Call via CloudTrail"),
        account=account,
        region=record["awsRegion"],
        time=record["eventTime"],
        resources=(),
        detail=record,
    )


def routed(event: dict[str, Any]) -> bool:
    return any(matches(p, event) for p in PATTERNS)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    account = org.members["member-a"]
    event = case_event(case, account)
    assert routed(event.as_dict()) == case["routed"]

    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] == "NOTIFIED":
        facts = result.target.facts
        assert facts.items() >= fill(case["facts"], account=account).items(), facts
        assert facts["source_ip"] == "198.51.100.23" and facts["user_agent"].startswith("aws-cli")
        assert facts["summary"] and facts["event_id"] == event.id
        assert result.severity is Severity.CRITICAL and result.target.resource_arn == f"arn:aws:iam::{account}:root"
        assert result.finding_id and result.notification_id and result.audit_id
        assert result.undo is None and result.before is None and result.actions == []


def test_patterns_route_exactly_the_real_root_samples():
    matched = set()
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - shapes the runtime rejects are covered by the corpus test
            continue
        if any(routed(json.loads(json.dumps(e.as_dict()))) for e in envelopes):
            matched.add(path.relative_to(SHARED_EVENTS).as_posix())
    assert matched == set(ROOT_SAMPLES)


def test_moto_eventbridge_agrees_on_both_detail_type_spellings():
    from moto.events.models import EventPattern

    record = json.loads((SHARED_EVENTS / "a_console_signin/root-success-cwe-doc.json").read_text())
    for spelling in CONSOLE_SIGNIN:
        event = {**record, "detail-type": spelling}
        assert routed(event)
        assert any(EventPattern.load(json.dumps(p)).matches_event(event) for p in PATTERNS)


def _as_member(path: str, account: str) -> dict[str, Any]:
    """A real sample, re-addressed to a member account of the moto org (the sample's own is foreign)."""
    text = (SHARED_EVENTS / path).read_text()
    (envelope,) = normalise(text)
    for foreign in {envelope.account, envelope.detail.get("recipientAccountId"), "111122223333", "123456789012"} - {None}:
        text = text.replace(str(foreign), account)
    event = normalise(text)[0].as_dict()
    event["detail"] = {**event["detail"], "eventID": f"{path}#{account}"}  # the Panther samples share eventID "1"
    return event


@pytest.mark.parametrize("path", sorted(ROOT_SAMPLES), ids=sorted(ROOT_SAMPLES))
def test_real_samples_alert_with_their_facts(org, path):
    account = org.members["member-b"]
    event = _as_member(path, account)
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED, result.reason
    facts = result.target.facts
    assert facts.items() >= ROOT_SAMPLES[path].items()
    assert facts["source_ip"] == event["detail"]["sourceIPAddress"]
    assert facts["user_agent"] == event["detail"]["userAgent"]


def test_real_samples_from_accounts_outside_the_org_are_skipped(org):
    runtime = runtime_for(org, NAME)
    for path in ROOT_SAMPLES:
        (result,) = runtime.process(_as_member(path, "999988887777"), remediations=[NAME])
        assert result.outcome is Outcome.SKIPPED and "not in organization" in result.reason


def test_the_alert_reaches_on_call_and_security_hub_as_critical(org):
    account = org.members["member-a"]
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(CASES[0], account).as_dict(), remediations=[NAME])
    (message,) = [m for m in oncall_messages(org) if m["audit_id"] == result.audit_id]
    assert message["severity"] == "CRITICAL" and message["outcome"] == "NOTIFIED" and message["undo"] is None
    happened = message["what_happened"]
    assert happened["MFAUsed"] == "No" and happened["ConsoleLogin"] == "Success" and happened["source_ip"] == "198.51.100.23"
    findings = org.session(org.security).client("securityhub").get_findings()["Findings"]
    (finding,) = [f for f in findings if f["Id"] == result.finding_id]
    assert finding["Severity"]["Label"] == "CRITICAL"
    assert finding["Types"] == ["Unusual Behaviors/User/Root user activity"]
    assert finding["Resources"][0]["Id"] == f"arn:aws:iam::{account}:root"
    assert "Root console sign-in Success (MFA No)" in finding["Description"]


def test_nothing_is_called_in_the_member_account_and_nothing_is_declared(org, monkeypatch):
    """The permissions contract for an alert: no member session is ever opened, none is declared."""
    account = org.members["member-a"]
    runtime = runtime_for(org, NAME)
    opened: list[tuple[str, str]] = []
    monkeypatch.setattr(runtime.clients, "member", lambda acct, region, name: opened.append((acct, region)))
    for case in CASES:
        runtime.process(case_event(case, account).as_dict(), remediations=[NAME])
    assert opened == [] and registry.get(NAME).permissions == ()


def test_there_is_nothing_to_undo(org):
    from snapback.operations import undo

    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(CASES[4], org.members["member-a"]).as_dict(), remediations=[NAME])
    with pytest.raises(SnapbackError, match="nothing to undo"):
        undo(runtime, result.audit_id)


def test_duplicate_deliveries_alert_once(org):
    runtime = runtime_for(org, NAME)
    event = case_event(CASES[0], org.members["member-a"]).as_dict()
    outcomes = [r.outcome for _ in range(3) for r in runtime.process(event, remediations=[NAME])]
    assert outcomes == [Outcome.NOTIFIED, Outcome.SKIPPED, Outcome.SKIPPED]


def test_dry_run_records_without_paging(org):
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: "dry-run"})
    (result,) = runtime.process(case_event(CASES[0], org.members["member-a"]).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.DRY_RUN and "nobody paged" in result.reason


def test_trusted_cidrs_flag_sign_ins_from_elsewhere(org):
    account = org.members["member-a"]
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"trusted_cidrs": ["203.0.113.0/24"]}})
    (outside,) = runtime.process(case_event(CASES[1], account).as_dict(), remediations=[NAME])
    assert outside.target.facts["risk"] == ["source IP 198.51.100.23 is not in trusted_cidrs"]
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"trusted_cidrs": ["198.51.100.0/24", "not-a-cidr"]}})
    (inside,) = runtime.process(case_event(CASES[1], account).as_dict(), remediations=[NAME])
    assert inside.target.facts["risk"] == []


def test_anonymised_ip_is_never_trusted():
    from snapback.remediations.root_activity_alert import outside

    assert outside("075.050.255.67", ["0.0.0.0/0"]) and outside(None, ["0.0.0.0/0"]) and outside("AWS Internal", [])
    assert not outside("192.0.2.7", ["192.0.2.0/24"])


def test_break_glass_account_can_be_exempted_centrally(org):
    account = org.members["member-b"]
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(
        runtime.config,
        exemptions=(Exemption(reason="break-glass drill", remediations=(NAME,), resources=(f"arn:aws:iam::{account}:root",)),),
    )
    (result,) = runtime.process(case_event(CASES[0], account).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.EXEMPT and "break-glass drill" in result.reason


def test_malformed_and_unrelated_inputs_never_crash(org):
    runtime = runtime_for(org, NAME)
    (rejected,) = runtime.process({"source": "aws.signin", "detail-type": CONSOLE_SIGNIN[0], "account": "1", "detail": {}})
    assert rejected.outcome in (Outcome.REJECTED, Outcome.SKIPPED)
    account = org.members["member-a"]
    finding = {
        "source": "aws.guardduty",
        "detail-type": "GuardDuty Finding",
        "account": account,
        "detail": {"type": "x", "accountId": account},
    }
    (result,) = runtime.process(finding, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and "not a CloudTrail record" in result.reason
    # a finding that names no account of its own is malformed, never acted on
    del finding["detail"]["accountId"]
    (result,) = runtime.process(finding, remediations=[NAME])
    assert result.outcome is Outcome.REJECTED and "accountId" in result.reason
