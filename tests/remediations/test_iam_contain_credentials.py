"""iam_contain_credentials under moto: GuardDuty findings in, the member's IAM state asserted."""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapback import registry
from snapback.config import Exemption
from snapback.events import GUARDDUTY_FINDING, normalise
from snapback.operations import undo
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback.remediations.iam_contain_credentials import REVOKE_POLICY, revoke_document, revoked_before
from snapback_ops.demo import runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import FIXTURES, fill, inject_error, service_event

NAME = "iam_contain_credentials"
FIXTURE = json.loads((FIXTURES / f"{NAME}.json").read_text())
CASES = FIXTURE["cases"]
BY_NAME = {c["name"]: c for c in CASES}
USER, ROLE = "app-user", "app-instance-role"
OUT = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def finding_for(case: dict[str, Any], account: str, key: str, last_seen: datetime | None = None) -> dict[str, Any]:
    """The fixture case as GuardDuty puts it in `detail`."""
    last_seen = last_seen or datetime.now(UTC) - timedelta(minutes=5)
    finding = copy.deepcopy(FIXTURE["template"])
    finding["type"], finding["severity"] = case["type"], case["severity"]
    if case["accessKeyDetails"] is None:
        finding["resource"] = {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0a1b2c3d4e5f60718"}}
    else:
        finding["resource"]["accessKeyDetails"] = case["accessKeyDetails"]
    if case.get("sample"):
        finding["service"]["additionalInfo"] = {"sample": True}
    return fill(
        finding,
        account=account,
        key=key,
        finding_id=uuid.uuid4().hex,
        first_seen=stamp(last_seen - timedelta(minutes=20)),
        last_seen=stamp(last_seen),
    )


def event_for(case: dict[str, Any], account: str, key: str, via: str | None = None, **kwargs: Any) -> dict[str, Any]:
    finding = finding_for(case, account, key, **kwargs)
    return service_event("aws.guardduty", GUARDDUTY_FINDING, finding, via or account).as_dict()


def make_world(org: Any, member: str = "member-a") -> tuple[Any, str, list[str]]:
    """A user with two active keys and an instance role, in a member account."""
    account = org.members[member]
    iam = org.session(account).client("iam")
    iam.create_user(UserName=USER)
    keys = [iam.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    return iam, account, keys


def contain_by_hand(iam: Any, case: dict[str, Any], key: str, cut_off: datetime) -> None:
    document = json.dumps(revoke_document(stamp(cut_off)))
    if case["accessKeyDetails"]["userType"] == "IAMUser":
        iam.update_access_key(UserName=USER, AccessKeyId=key, Status="Inactive")
        iam.put_user_policy(UserName=USER, PolicyName=REVOKE_POLICY, PolicyDocument=document)
    else:
        iam.put_role_policy(RoleName=ROLE, PolicyName=REVOKE_POLICY, PolicyDocument=document)


def snapshot(iam: Any) -> dict[str, Any]:
    keys = iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]
    state: dict[str, Any] = {"keys": {k["AccessKeyId"]: k["Status"] for k in keys}}
    for kind, name in (("user", USER), ("role", ROLE), ("role", "snapback-remediator")):
        names = {f"{kind.capitalize()}Name": name}
        policies = getattr(iam, f"list_{kind}_policies")(**names)["PolicyNames"]
        state[name] = {p: getattr(iam, f"get_{kind}_policy")(PolicyName=p, **names)["PolicyDocument"] for p in policies}
    return state


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    iam, account, keys = make_world(org)
    now = datetime.now(UTC)
    if case["setup"] == "contained":
        contain_by_hand(iam, case, keys[0], now - timedelta(minutes=1))
    elif case["setup"] == "revoked_earlier":
        contain_by_hand(iam, case, keys[0], now - timedelta(hours=2))
    before = snapshot(iam)
    event = event_for(case, account, keys[0])
    assert any(matches(t.pattern, event) for t in registry.get(NAME).triggers) == case["routed"]

    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] != "REMEDIATED":
        assert snapshot(iam) == before  # nothing changed
        return
    after = snapshot(iam)
    details = case["accessKeyDetails"]
    holder = USER if details["userType"] == "IAMUser" else ROLE
    cut_off = revoked_before(after[holder][REVOKE_POLICY])
    assert cut_off and cut_off >= stamp(now) and after[holder][REVOKE_POLICY] == revoke_document(cut_off)
    if holder == USER and details["accessKeyId"] == "{key}":
        assert after["keys"] == {keys[0]: "Inactive", keys[1]: "Active"}  # only the named key
    else:
        assert after["keys"] == before["keys"]  # a session key is not an IAM key: the deny covers it
    assert after["snapback-remediator"] == before["snapback-remediator"]
    assert result.target.region == "us-east-1" and result.target.facts["finding_region"] == "eu-west-1"
    assert result.finding_id and result.notification_id and result.source_identity == "snapback@iam_contain_credentials"

    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert snapshot(iam) == before  # key active again, deny removed or the earlier one put back
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"
    assert snapshot(iam) == before


# -- the real public samples --------------------------------------------------------------------


def test_no_real_sample_routes_here():
    """The corpus holds no GuardDuty finding naming an access key; nothing else may route."""
    patterns = [t.pattern for t in registry.get(NAME).triggers]
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - rejected inputs route nowhere
            continue
        assert not any(matches(p, e.as_dict()) for e in envelopes for p in patterns), path


@pytest.mark.parametrize(
    "file, reason",
    [
        ("e_guardduty/privesc-iamuser-adminperms-sample-panther.json", "GuardDuty sample finding"),
        ("e_guardduty/attacksequence-iam-compromisedcredentials-panther.json", "not in the finding_types option"),
    ],
)
def test_real_guardduty_samples_never_act(org, file, reason):
    iam, account, _ = make_world(org)
    before = snapshot(iam)
    detail = json.loads((SHARED_EVENTS / file).read_text())
    detail["accountId"] = account
    event = service_event("aws.guardduty", GUARDDUTY_FINDING, detail, account).as_dict()
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and reason in result.reason
    assert snapshot(iam) == before


# -- routing across the organization, duplicates, exemptions, options ----------------------------


def test_the_same_finding_from_the_member_and_the_guardduty_administrator_acts_once(org):
    iam, account, keys = make_world(org)
    finding = finding_for(BY_NAME["user's long-term key used from a malicious IP"], account, keys[0])
    runtime = runtime_for(org, NAME)
    from_member = service_event("aws.guardduty", GUARDDUTY_FINDING, finding, account).as_dict()
    from_admin = service_event("aws.guardduty", GUARDDUTY_FINDING, finding, org.security).as_dict()
    outcomes = [r.outcome for e in (from_member, from_admin, from_member) for r in runtime.process(e, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.SKIPPED]
    assert snapshot(iam)["keys"] == {keys[0]: "Inactive", keys[1]: "Active"}


def test_a_member_cannot_name_another_members_credentials(org):
    iam, account, keys = make_world(org)
    event = event_for(BY_NAME["user's long-term key used from a malicious IP"], account, keys[0], via=org.members["member-b"])
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and "names a resource in" in result.reason
    assert snapshot(iam)["keys"] == {keys[0]: "Active", keys[1]: "Active"}


def test_break_glass_role_is_exempt(org):
    iam, account, keys = make_world(org)
    case = BY_NAME["instance credentials used outside AWS (role session)"]
    before = snapshot(iam)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(
        runtime.config, exemptions=(Exemption(reason="exported on purpose (SEC-7)", principals=(f"arn:aws:iam::*:role/{ROLE}",)),)
    )
    (result,) = runtime.process(event_for(case, account, keys[0]), remediations=[NAME])
    assert result.outcome is Outcome.EXEMPT and "SEC-7" in result.reason
    assert snapshot(iam) == before


def test_finding_types_and_min_severity_are_options(org):
    iam, account, keys = make_world(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"finding_types": [OUT]}})
    (result,) = runtime.process(
        event_for(BY_NAME["user's long-term key used from a malicious IP"], account, keys[0]), remediations=[NAME]
    )
    assert result.outcome is Outcome.SKIPPED and "finding_types" in result.reason

    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"min_severity": 0}})
    (result,) = runtime.process(
        event_for(BY_NAME["low severity finding (below min_severity)"], account, keys[0]), remediations=[NAME]
    )
    assert result.outcome is Outcome.REMEDIATED
    assert snapshot(iam)["keys"][keys[0]] == "Inactive"


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing_but_say_what_they_would_do(org, mode, outcome):
    iam, account, keys = make_world(org)
    before = snapshot(iam)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    (result,) = runtime.process(
        event_for(BY_NAME["user's long-term key used from a malicious IP"], account, keys[0]), remediations=[NAME]
    )
    assert result.outcome is outcome
    assert result.actions[0] == f"iam:UpdateAccessKey {keys[0]} of user {USER} -> Inactive (only this key)"
    assert "AWSRevokeOlderSessions" in result.actions[1]
    assert snapshot(iam) == before


def test_a_previous_console_revocation_is_replaced_and_restored_by_undo(org):
    iam, account, keys = make_world(org)
    case = BY_NAME["older revocation does not cover the latest activity"]
    earlier = datetime.now(UTC) - timedelta(hours=2)
    contain_by_hand(iam, case, keys[0], earlier)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(event_for(case, account, keys[0]), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    assert result.before["sessions_denied_before"] == stamp(earlier) < result.after["sessions_denied_before"]
    undo(runtime, result.audit_id)
    assert revoked_before(snapshot(iam)[ROLE][REVOKE_POLICY]) == stamp(earlier)


# -- error paths --------------------------------------------------------------------------------


def test_access_denied_in_the_member_is_a_failed_outcome_told_to_on_call(org):
    iam, account, keys = make_world(org)
    before = snapshot(iam)
    event = event_for(BY_NAME["user's long-term key used from a malicious IP"], account, keys[0])
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, "us-east-1", NAME).client("iam"), "UpdateAccessKey", "AccessDenied")
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "AccessDenied" in result.reason
    assert result.notification_id and result.finding_id
    assert snapshot(iam) == before
    (again,) = runtime_for(org, NAME).process(event, remediations=[NAME])  # the claim was released
    assert again.outcome is Outcome.REMEDIATED


def test_throttling_raises_for_the_platform_to_retry(org):
    from snapback.errors import RetryableError

    iam, account, keys = make_world(org)
    event = event_for(BY_NAME["instance credentials used outside AWS (role session)"], account, keys[0])
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, "us-east-1", NAME).client("iam"), "PutRolePolicy", "Throttling", 400)
    with pytest.raises(RetryableError):
        runtime.process(event, remediations=[NAME])
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED


@pytest.mark.parametrize(
    "case_name", ["user's long-term key used from a malicious IP", "instance credentials used outside AWS (role session)"]
)
def test_a_user_or_role_deleted_meanwhile_is_nothing_to_fix(org, case_name):
    iam, account, keys = make_world(org)
    event = event_for(BY_NAME[case_name], account, keys[0])
    if "role" in case_name:
        iam.delete_role(RoleName=ROLE)
    else:
        for key in keys:
            iam.delete_access_key(UserName=USER, AccessKeyId=key)
        iam.delete_user(UserName=USER)
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT and "NoSuchEntity" in result.reason


def test_service_linked_roles_are_refused(org):
    iam, account, keys = make_world(org)
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]["RoleName"]
    case = {**BY_NAME["instance credentials used outside AWS (role session)"]}
    case["accessKeyDetails"] = {**case["accessKeyDetails"], "userName": role}
    (result,) = runtime_for(org, NAME).process(event_for(case, account, keys[0]), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "service-linked" in result.reason
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []


def test_declared_permissions_are_exactly_the_calls_made(org):
    """Record every member-account call of inspect, apply, verify and undo, for users and roles."""
    calls: set[str] = set()
    iam, account, keys = make_world(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("iam")
    client.meta.events.register("before-call.iam.*", lambda model, **_: calls.add(model.name))
    contain_by_hand(
        iam, BY_NAME["older revocation does not cover the latest activity"], keys[0], datetime.now(UTC) - timedelta(hours=2)
    )
    for name in (
        "user's long-term key used from a malicious IP",
        "instance credentials used outside AWS (role session)",  # replaces an earlier revocation
        "instance credentials used from another AWS account (role session)",
    ):
        (result,) = runtime.process(event_for(BY_NAME[name], account, keys[0]), remediations=[NAME])
        assert result.outcome is Outcome.REMEDIATED, (name, result.reason)
        undo(runtime, result.audit_id)
    iam.delete_role_policy(RoleName=ROLE, PolicyName=REVOKE_POLICY)
    (result,) = runtime.process(
        event_for(BY_NAME["instance credentials used outside AWS (role session)"], account, keys[0]), remediations=[NAME]
    )
    undo(runtime, result.audit_id)  # nothing before: the deny is deleted
    # IAM's API operations are authorised by IAM actions of the same name.
    assert {f"iam:{c}" for c in calls} == set(registry.get(NAME).permissions)
