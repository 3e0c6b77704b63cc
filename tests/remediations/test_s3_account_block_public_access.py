"""s3_account_block_public_access under moto: a real org, the member role assumed through STS, state asserted."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from snapback import registry
from snapback.config import Exemption
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import FIXTURES, envelope, fill, inject_error, load_cases, service_event, set_path

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

NAME = "s3_account_block_public_access"
CASES = load_cases(NAME)
TEMPLATES = json.loads((FIXTURES / f"{NAME}.json").read_text())["templates"]
FULL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
OFF = dict.fromkeys(FULL, False)
PARTIAL = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": True}
SETUPS = {"none": None, "off": OFF, "partial": PARTIAL, "full": FULL}


def account_block(s3control: Any, account: str) -> dict[str, bool] | None:
    try:
        return s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    except s3control.exceptions.ClientError:
        return None


def member(org: Any, setup: str = "none", name: str = "member-a") -> tuple[Any, str]:
    account = org.members[name]
    s3control = org.session(account).client("s3control")
    if SETUPS[setup] is not None:
        s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=SETUPS[setup])
    return s3control, account


def fixture_event(org: Any, case: dict[str, Any], account: str) -> Any:
    """A fixture case as the envelope EventBridge would deliver (CloudTrail call or service event)."""
    if "template" not in case:
        record = cloudtrail_record(
            account,
            "s3.amazonaws.com",
            case["event"],
            fill(case["request"], account=account),
            actor=case.get("actor", "developer"),
            error_code=case.get("error_code"),
        )
        return envelope(record)
    template = TEMPLATES[case["template"]]
    detail = json.loads(json.dumps(template["detail"]))
    for path, value in case.get("set", {}).items():
        set_path(detail, path, value)
    delivered_in = org.security if case.get("from") == "security" else account
    return service_event(template["source"], template["detail_type"], fill(detail, account=account), delivered_in)


def case_named(name: str) -> dict[str, Any]:
    return next(c for c in CASES if c["name"] == name)


DELETED = case_named("account block deleted")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    s3control, account = member(org, case["setup"])
    before = account_block(s3control, account)
    event = fixture_event(org, case, account)
    trigger_patterns = [t.pattern for t in registry.get(NAME).triggers]
    assert any(matches(p, event.as_dict()) for p in trigger_patterns) == case["routed"]

    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] == "REMEDIATED":
        assert account_block(s3control, account) == FULL
        assert result.before == {"account_public_access_block": before}
        assert result.after == {"account_public_access_block": FULL}
        assert result.target.resource_type == "AwsAccount" and result.target.resource_id == account
        assert result.finding_id and result.notification_id and result.audit_id
        assert result.source_identity == "snapback@s3_account_block_public_access"
    else:
        assert account_block(s3control, account) == before  # nothing changed
    other, other_account = member(org, "none", "member-b")
    assert account_block(other, other_account) is None  # never another account's block


def test_undo_restores_the_exact_previous_block_and_is_idempotent(org):
    from snapback.operations import undo

    s3control, account = member(org, "partial")
    runtime = runtime_for(org, NAME)
    weakened = case_named("account block weakened (only BlockPublicAcls left on)")
    (result,) = runtime.process(fixture_event(org, weakened, account).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and account_block(s3control, account) == FULL

    first = undo(runtime, result.audit_id)
    assert first["outcome"] == "UNDONE" and account_block(s3control, account) == PARTIAL
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE" and account_block(s3control, account) == PARTIAL

    s3control.delete_public_access_block(AccountId=account)
    (result,) = runtime.process(fixture_event(org, DELETED, account).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and account_block(s3control, account) == FULL
    undo(runtime, result.audit_id)
    assert account_block(s3control, account) is None  # it had none before


def test_duplicate_deliveries_act_once(org):
    s3control, account = member(org)
    runtime = runtime_for(org, NAME)
    event = fixture_event(org, DELETED, account).as_dict()
    outcomes = [r.outcome for _ in range(3) for r in runtime.process(event, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.SKIPPED]
    assert len([i for i in runtime.audit.scan() if i["outcome"] == "REMEDIATED"]) == 1


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing_but_say_what_they_would_do(org, mode, outcome):
    s3control, account = member(org, "off")
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    (result,) = runtime.process(fixture_event(org, DELETED, account).as_dict(), remediations=[NAME])
    assert result.outcome is outcome and result.mode == mode
    assert result.actions == [
        f"s3control:PutPublicAccessBlock on account {account}: turn on "
        "BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets"
    ]
    assert account_block(s3control, account) == OFF


def test_exempt_account_is_left_alone_and_recorded(org):
    s3control, account = member(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(
        runtime.config, exemptions=(Exemption(reason="public website account", accounts=(account,), remediations=(NAME,)),)
    )
    (result,) = runtime.process(fixture_event(org, DELETED, account).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.EXEMPT and "public website account" in result.reason
    assert account_block(s3control, account) is None
    assert runtime.audit.get(result.audit_id)["outcome"] == "EXEMPT"


def test_event_from_an_account_outside_the_org_is_skipped(org):
    event = fixture_event(org, DELETED, "999988887777").as_dict()
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and "not in organization" in result.reason


def test_a_finding_in_a_member_account_naming_another_account_is_not_trusted(org):
    s3control, account = member(org)
    event = fixture_event(org, case_named("GuardDuty: account block public access disabled"), account).as_dict()
    event["account"] = org.members["member-b"]  # member-b's bus delivering a finding about member-a
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and f"names a resource in {account}" in result.reason
    assert account_block(s3control, account) is None


def test_access_denied_by_an_organization_s3_policy_is_a_failed_outcome_told_to_on_call(org):
    s3control, account = member(org)
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, "us-east-1", NAME).client("s3control"), "PutPublicAccessBlock", "AccessDenied")
    (result,) = runtime.process(fixture_event(org, DELETED, account).as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "AccessDenied" in result.reason
    assert result.notification_id and result.finding_id
    assert account_block(s3control, account) is None
    # the claim was released, so a redrive can try again once access is fixed
    (again,) = runtime_for(org, NAME).process(fixture_event(org, DELETED, account).as_dict(), remediations=[NAME])
    assert again.outcome is Outcome.REMEDIATED and account_block(s3control, account) == FULL


def test_throttling_raises_for_the_platform_to_retry_and_the_retry_finishes(org):
    from snapback.errors import RetryableError

    s3control, account = member(org)
    event = fixture_event(org, DELETED, account).as_dict()
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, "us-east-1", NAME).client("s3control"), "GetPublicAccessBlock", "SlowDown", 503)
    with pytest.raises(RetryableError):
        runtime.process(event, remediations=[NAME])
    assert account_block(s3control, account) is None
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and account_block(s3control, account) == FULL


def test_a_block_restored_meanwhile_is_nothing_to_fix(org):
    """The account cannot vanish like a bucket; what can change meanwhile is the block itself."""
    s3control, account = member(org)
    event = fixture_event(org, DELETED, account).as_dict()
    s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=FULL)  # an admin was quicker
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT and not result.notification_id


def test_declared_permissions_are_exactly_the_calls_made(org):
    """Record every member-account call of apply, verify and undo; map to IAM actions."""
    from snapback.operations import undo

    calls: set[str] = set()
    s3control, account = member(org, "partial")
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("s3control")
    client.meta.events.register("before-call.s3-control.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(fixture_event(org, DELETED, account).as_dict(), remediations=[NAME])
    undo(runtime, result.audit_id)
    s3control.delete_public_access_block(AccountId=account)
    (result,) = runtime.process(
        fixture_event(org, case_named("GuardDuty: account block public access disabled"), account).as_dict(), remediations=[NAME]
    )
    undo(runtime, result.audit_id)
    assert calls == {"GetPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"}
    # s3control's account-level APIs are authorised by these IAM actions (no s3:DeleteAccountPublicAccessBlock exists).
    iam_action = {
        "GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
        "PutPublicAccessBlock": "s3:PutAccountPublicAccessBlock",
        "DeletePublicAccessBlock": "s3:PutAccountPublicAccessBlock",
    }
    assert {iam_action[c] for c in calls} == set(registry.get(NAME).permissions)


def test_notification_and_finding_name_the_account(org):
    from snapback_ops.demo import oncall_messages

    s3control, account = member(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(fixture_event(org, DELETED, account).as_dict(), remediations=[NAME])
    (message,) = [m for m in oncall_messages(org) if m["audit_id"] == result.audit_id]
    assert message["outcome"] == "REMEDIATED" and message["where"]["account"] == account
    assert "DeleteAccountPublicAccessBlock" in message["what_happened"]["summary"]
    assert message["undo"] == f"snapback undo {result.audit_id}"
    findings = org.session(org.security).client("securityhub").get_findings()["Findings"]
    (finding,) = [f for f in findings if f["Id"] == result.finding_id]
    assert finding["Resources"][0] == {**finding["Resources"][0], "Type": "AwsAccount", "Id": f"AWS::::Account:{account}"}


def test_real_events_route_here_only_for_account_level_changes():
    """The public corpus has no account-level sample: nothing in it may reach these rules; the real
    record shapes (StreamAlert's DeleteAccountPublicAccessBlock / PutAccountPublicAccessBlock tests,
    airbnb/streamalert#1016) are the fixture's CloudTrail cases, which do."""
    from snapback.events import normalise

    patterns = [t.pattern for t in registry.get(NAME).triggers]
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - malformed samples are the corpus test's business
            continue
        for one in envelopes:
            event = json.loads(json.dumps(one.as_dict()))
            assert not any(matches(p, event) for p in patterns), path.name
    routed_names = {c["event"] for c in CASES if "event" in c and c["routed"]}
    assert routed_names == {"DeleteAccountPublicAccessBlock", "PutAccountPublicAccessBlock"}


def test_s3control_reaches_a_local_endpoint_without_the_account_host_prefix(monkeypatch):
    """Server mode (the demo): s3control prefixes the account to the host; Clients strips it locally."""
    import boto3
    from moto.server import ThreadedMotoServer

    from snapback.clients import Clients
    from snapback_ops.demo import _free_port

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        clients = Clients(region="us-east-1", session=boto3.session.Session(region_name="us-east-1"))
        account = clients.client("sts").get_caller_identity()["Account"]
        s3control = clients.client("s3control")
        s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=PARTIAL)
        assert s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"] == PARTIAL
    finally:
        server.stop()
