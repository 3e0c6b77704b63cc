"""s3_block_public_access under moto: a real org, the member role assumed through STS, state asserted."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from snapback import registry
from snapback.config import Exemption
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback_ops.demo import runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import FIXTURES, case_event, fill, inject_error, load_cases, service_event, set_path

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

NAME = "s3_block_public_access"
CASES = load_cases(NAME)
TEMPLATES = json.loads((FIXTURES / f"{NAME}.json").read_text())["templates"]
FULL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
PARTIAL = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": True}


def block_of(s3: Any, bucket: str) -> dict[str, bool] | None:
    try:
        return s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        return None


def make_bucket(org: Any, setup: str = "none", member: str = "member-a") -> tuple[Any, str, str]:
    account = org.members[member]
    s3 = org.session(account).client("s3")
    bucket = f"bucket-{account}-{len(s3.list_buckets()['Buckets'])}"
    s3.create_bucket(Bucket=bucket)
    if setup != "none":
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=FULL if setup == "full" else PARTIAL)
    return s3, account, bucket


def fixture_event(org: Any, case: dict[str, Any], account: str, bucket: str) -> Any:
    """A fixture case as the envelope EventBridge would deliver (CloudTrail call or service event)."""
    if "template" not in case:
        return case_event(case, account, bucket=bucket)
    template = TEMPLATES[case["template"]]
    detail = json.loads(json.dumps(template["detail"]))
    for path, value in case.get("set", {}).items():
        set_path(detail, path, value)
    detail = fill(detail, bucket=bucket, account=account)
    delivered_in = org.security if case.get("from") == "security" else account
    return service_event(template["source"], template["detail_type"], detail, delivered_in)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    s3, account, bucket = make_bucket(org, case["setup"])
    before = block_of(s3, bucket)
    event = fixture_event(org, case, account, bucket)
    trigger_patterns = [t.pattern for t in registry.get(NAME).triggers]
    assert any(matches(p, event.as_dict()) for p in trigger_patterns) == case["routed"]

    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] == "REMEDIATED":
        assert block_of(s3, bucket) == FULL
        assert result.before == {"public_access_block": before} and result.after == {"public_access_block": FULL}
        assert result.finding_id and result.notification_id and result.audit_id
        assert result.source_identity == "snapback@s3_block_public_access"
    else:
        assert block_of(s3, bucket) == before  # nothing changed


def test_undo_restores_the_exact_previous_block_and_is_idempotent(org):
    from snapback.operations import undo

    s3, account, bucket = make_bucket(org, "partial")
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(CASES[0], account, bucket=bucket).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and block_of(s3, bucket) == FULL

    first = undo(runtime, result.audit_id)
    assert first["outcome"] == "UNDONE" and block_of(s3, bucket) == PARTIAL
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE" and block_of(s3, bucket) == PARTIAL

    _, _, bare = make_bucket(org, "none")
    (result,) = runtime.process(case_event(CASES[5], account, bucket=bare).as_dict(), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert block_of(s3, bare) is None  # it had none before


def test_duplicate_deliveries_act_once(org):
    s3, account, bucket = make_bucket(org)
    runtime = runtime_for(org, NAME)
    event = case_event(CASES[0], account, bucket=bucket).as_dict()
    outcomes = [r.outcome for _ in range(3) for r in runtime.process(event, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.SKIPPED]
    audits = [i for i in runtime.audit.scan() if i["outcome"] == "REMEDIATED"]
    assert len(audits) == 1


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing_but_say_what_they_would_do(org, mode, outcome):
    s3, account, bucket = make_bucket(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    (result,) = runtime.process(case_event(CASES[0], account, bucket=bucket).as_dict(), remediations=[NAME])
    assert result.outcome is outcome and result.mode == mode
    assert result.actions and "PutPublicAccessBlock" in result.actions[0]
    assert block_of(s3, bucket) is None


def test_exempt_bucket_is_left_alone_and_recorded(org):
    s3, account, bucket = make_bucket(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(
        runtime.config, exemptions=(Exemption(reason="public website", resources=(f"arn:aws:s3:::{bucket}",)),)
    )
    (result,) = runtime.process(case_event(CASES[0], account, bucket=bucket).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.EXEMPT and "public website" in result.reason
    assert block_of(s3, bucket) is None
    assert runtime.audit.get(result.audit_id)["outcome"] == "EXEMPT"


def test_event_from_an_account_outside_the_org_is_skipped(org):
    s3, account, bucket = make_bucket(org)
    event = case_event(CASES[0], "999988887777", bucket=bucket).as_dict()
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and "not in organization" in result.reason
    assert block_of(s3, bucket) is None


def test_custom_source_is_never_trusted(org):
    s3, account, bucket = make_bucket(org)
    event = case_event(CASES[0], account, bucket=bucket).as_dict()
    event["source"] = "attacker.s3"
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and "untrusted source" in result.reason


def test_access_denied_in_the_member_is_a_failed_outcome_told_to_on_call(org):
    s3, account, bucket = make_bucket(org)
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, "us-east-1", NAME).client("s3"), "PutPublicAccessBlock", "AccessDenied")
    (result,) = runtime.process(case_event(CASES[0], account, bucket=bucket).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "AccessDenied" in result.reason
    assert result.notification_id and result.finding_id
    assert block_of(s3, bucket) is None
    # the claim was released, so a redrive can try again once access is fixed
    (again,) = runtime_for(org, NAME).process(case_event(CASES[0], account, bucket=bucket).as_dict(), remediations=[NAME])
    assert again.outcome is Outcome.REMEDIATED


def test_throttling_raises_for_the_platform_to_retry_and_the_retry_finishes(org):
    from snapback.errors import RetryableError

    s3, account, bucket = make_bucket(org)
    event = case_event(CASES[0], account, bucket=bucket).as_dict()
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, "us-east-1", NAME).client("s3"), "PutPublicAccessBlock", "SlowDown", 503)
    with pytest.raises(RetryableError):
        runtime.process(event, remediations=[NAME])
    assert block_of(s3, bucket) is None
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and block_of(s3, bucket) == FULL


def test_a_bucket_deleted_meanwhile_is_nothing_to_fix(org):
    s3, account, bucket = make_bucket(org)
    s3.delete_bucket(Bucket=bucket)
    (result,) = runtime_for(org, NAME).process(case_event(CASES[0], account, bucket=bucket).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT and "NoSuchBucket" in result.reason


def test_declared_permissions_are_exactly_the_calls_made(org):
    """Record every member-account call of apply, verify and undo; map to IAM actions."""
    from snapback.operations import undo

    calls: set[str] = set()
    s3, account, bucket = make_bucket(org, "partial")
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("s3")
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(case_event(CASES[0], account, bucket=bucket).as_dict(), remediations=[NAME])
    undo(runtime, result.audit_id)
    _, _, bare = make_bucket(org, "none")
    (result,) = runtime.process(case_event(CASES[5], account, bucket=bare).as_dict(), remediations=[NAME])
    undo(runtime, result.audit_id)
    # S3's bucket-level public access block APIs are authorised by these IAM actions.
    iam_action = {
        "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
        "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    }
    assert {iam_action[c] for c in calls} == set(registry.get(NAME).permissions)


def test_notification_says_what_happened_what_was_done_and_how_to_undo(org):
    s3, account, bucket = make_bucket(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(CASES[0], account, bucket=bucket).as_dict(), remediations=[NAME])
    from snapback_ops.demo import oncall_messages

    (message,) = [m for m in oncall_messages(org) if m["audit_id"] == result.audit_id]
    assert message["outcome"] == "REMEDIATED" and message["where"]["account"] == account
    assert message["what_happened"]["actor"].endswith("developer-session") and message["what_happened"]["source_ip"]
    assert message["undo"] == f"snapback undo {result.audit_id}"
    findings = org.session(org.security).client("securityhub").get_findings()["Findings"]
    (finding,) = [f for f in findings if f["Id"] == result.finding_id]
    assert finding["Resources"][0]["Id"] == f"arn:aws:s3:::{bucket}"
    assert finding["ProductFields"]["snapback/audit_id"] == result.audit_id
    assert json.loads(json.dumps(finding["Workflow"])) == {"Status": "RESOLVED"}


def test_real_shared_events_route_only_where_they_belong():
    """Public samples: successful bucket calls reach the CloudTrail rule (failed ones and the sparse record
    without an actor ARN do not); the Config, GuardDuty and Security Hub rules stay quiet on all of them."""
    from snapback.events import normalise

    triggers = {t.id: t.pattern for t in registry.get(NAME).triggers}
    hits: dict[str, set[str]] = {}
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - malformed samples are the corpus test's business
            continue
        for envelope in envelopes:
            event = json.loads(json.dumps(envelope.as_dict()))
            for trigger_id, pattern in triggers.items():
                if matches(pattern, event):
                    hits.setdefault(path.relative_to(SHARED_EVENTS).as_posix(), set()).add(trigger_id)
    assert hits == {
        "c_s3/deletebucketpublicaccessblock-panther.json": {"cloudtrail"},
        "c_s3/putbucketacl-panther.json": {"cloudtrail"},
        "c_s3/putbucketpolicy-null-requestparameters-panther.json": {"cloudtrail"},
        "c_s3/putbucketpolicy-public-panther.json": {"cloudtrail"},
        "c_s3/putbucketpublicaccessblock-panther.json": {"cloudtrail"},
    }


def case_named(name: str) -> dict[str, Any]:
    return next(c for c in CASES if c["name"] == name)


def test_a_guardduty_finding_seen_in_member_and_administrator_accounts_acts_once_and_a_new_occurrence_again(org):
    s3, account, bucket = make_bucket(org)
    case = case_named("GuardDuty: bucket block public access disabled")
    runtime = runtime_for(org, NAME)
    in_member = fixture_event(org, case, account, bucket).as_dict()
    in_admin = fixture_event(org, {**case, "from": "security"}, account, bucket).as_dict()
    outcomes = [r.outcome for e in (in_member, in_admin) for r in runtime.process(e, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED] and block_of(s3, bucket) == FULL

    s3.delete_public_access_block(Bucket=bucket)  # the attacker again; GuardDuty updates the same finding
    again = fixture_event(org, {**case, "set": {"updatedAt": "2026-11-22T13:02:41.007Z", "service.count": 2}}, account, bucket)
    (result,) = runtime.process(again.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and block_of(s3, bucket) == FULL


def test_a_security_hub_control_remediation_names_its_source_finding_and_undoes_exactly(org):
    from snapback.operations import undo

    s3, account, bucket = make_bucket(org, "partial")
    runtime = runtime_for(org, NAME)
    case = case_named("Security Hub: S3.8 FAILED, aggregated in the security account")
    (result,) = runtime.process(fixture_event(org, case, account, bucket).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and block_of(s3, bucket) == FULL
    assert result.target.account == account and result.target.resource_arn == f"arn:aws:s3:::{bucket}"
    assert result.target.facts["source_finding"]["Id"].endswith(
        "security-control/S3.8/finding/3f1c2a9e-7b4d-4e0a-9c61-2f5d8e1b7a40"
    )
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE" and block_of(s3, bucket) == PARTIAL


def test_a_config_result_for_a_bucket_in_another_account_is_not_trusted(org):
    s3, account, bucket = make_bucket(org)
    other = org.members["member-b"]
    case = case_named("Config: Security Hub's read-prohibited rule NON_COMPLIANT")
    event = fixture_event(org, case, account, bucket).as_dict()
    event["account"] = other  # delivered from member-b, naming member-a's bucket
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and f"names a resource in {account}" in result.reason
    assert block_of(s3, bucket) is None
