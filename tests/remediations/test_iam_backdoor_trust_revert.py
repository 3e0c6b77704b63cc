"""iam_backdoor_trust_revert under moto: a real org, the member role assumed through STS, role trust asserted."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from snapback import registry
from snapback.config import Exemption
from snapback.iam_trust import untrusted_principals, without_untrusted
from snapback.operations import undo
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback.sweep import Sweeper
from snapback_ops.demo import LocalOrg
from snapback_ops.demo import runtime_for as demo_runtime
from tests.remediations.helpers import fill, load_cases
from tests.remediations.iam_events import iam_call

NAME = "iam_backdoor_trust_revert"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
OUTSIDE = "999999999999"


def runtime_for(org: LocalOrg, name: str) -> Any:
    """The remediation's runtime; the org is shared by the module, so the breaker counts but never holds."""
    from tests.perf.workloads import OPEN_BREAKER

    runtime = demo_runtime(org, name)
    runtime.config = dataclasses.replace(runtime.config, breaker=OPEN_BREAKER)
    return runtime


@pytest.fixture(scope="module")
def org() -> Iterator[LocalOrg]:
    from moto import mock_aws

    from snapback_ops.demo import build_org

    with mock_aws():
        yield build_org(routing=False)  # no test here reads the member-bus routes


def own_trust(account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
    }


def names_for(org: LocalOrg) -> dict[str, str]:
    return {
        "account": org.members["member-a"],
        "sibling": org.members["member-b"],
        "outside": OUTSIDE,
        "role": f"app-{uuid.uuid4().hex[:8]}",
    }


def document_of(case: dict[str, Any], names: dict[str, str]) -> str:
    request = fill(case["request"], **names)
    return request.get("policyDocument") or request.get("assumeRolePolicyDocument")


def trust(iam: Any, role: str) -> dict[str, Any]:
    return iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]


def prepare(org: LocalOrg, case: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    names = names_for(org)
    iam = org.session(names["account"]).client("iam")
    role = names["role"]
    if case["event"] == "CreateRole" and case["setup"] != "none":
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=document_of(case, names))
        return iam, names
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(own_trust(names["account"])))
    if case["setup"] in ("applied", "undone"):
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=document_of(case, names))
    if case["setup"] == "undone":
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(own_trust(names["account"])))
    return iam, names


def event_for(case: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    who = f"role:{case.get('actor', 'developer')}"
    return iam_call(names["account"], case["event"], case["request"], who, error_code=case.get("error_code"), **names).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    iam, names = prepare(org, case)
    role = names["role"]
    before = trust(iam, role)
    event = event_for(case, names)
    assert any(matches(t.pattern, event) for t in registry.get(NAME).triggers) == case["routed"]

    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] != "REMEDIATED":
        assert trust(iam, role) == before  # nothing changed
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
        return

    after = trust(iam, role)
    in_org = lambda a: a in (names["account"], names["sibling"])  # noqa: E731
    assert untrusted_principals(before, in_org=in_org) and not untrusted_principals(after, in_org=in_org)
    # every principal the organization trusts is still there
    kept = json.dumps(after)
    assert all(names["sibling"] in kept for _ in [1] if names["sibling"] in json.dumps(before))
    assert result.undo["trust"] == before and result.finding_id and result.notification_id

    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert trust(iam, role) == before  # the attacker's document, exactly
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"


def test_new_role_is_quarantined_when_the_team_opts_in_and_undo_lifts_it(org):
    case = BY_NAME["new role trusting an outside account: paged, not changed (quarantine_new_roles off)"]
    iam, names = prepare(org, case)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"quarantine_new_roles": True}})
    (result,) = runtime.process(event_for(case, names), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    role = names["role"]
    document = iam.get_role_policy(RoleName=role, PolicyName="SnapbackQuarantineDenyAll")["PolicyDocument"]
    assert document["Statement"][0] == {"Sid": "SnapbackQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}
    assert OUTSIDE in json.dumps(trust(iam, role))  # the role and its trust stay for the investigation
    undo(runtime, result.audit_id)
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []


def test_a_partner_trust_in_an_exemption_is_left_alone(org):
    case = BY_NAME["trust changed to an outside account's root (Stratus backdoor-iam-role shape)"]
    iam, names = prepare(org, case)
    before = trust(iam, names["role"])
    runtime = runtime_for(org, NAME)
    exemption = Exemption(reason="vendor integration, TICKET-9", resources=(f"arn:aws:iam::*:role/{names['role']}",))
    runtime.config = dataclasses.replace(runtime.config, exemptions=(exemption,))
    (result,) = runtime.process(event_for(case, names), remediations=[NAME])
    assert result.outcome is Outcome.EXEMPT and trust(iam, names["role"]) == before


def test_the_live_trust_decides_not_the_event(org):
    """A benign-looking event about a role whose live trust lets outsiders in is still acted on... only
    when the event itself names an outsider: a benign event is SKIPPED before any read (NotApplicable)."""
    case = BY_NAME["trust to everyone (AWS *)"]
    iam, names = prepare(org, case)
    iam.update_assume_role_policy(RoleName=names["role"], PolicyDocument=json.dumps(own_trust(names["account"])))
    (result,) = runtime_for(org, NAME).process(event_for(case, names), remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT


def test_sweep_finds_an_outside_trust_no_event_reported_and_reverts_it(org):
    case = BY_NAME["outside account added beside an org account: only the outsider goes"]
    iam, names = prepare(org, case)
    runtime = runtime_for(org, NAME)
    summary = Sweeper(runtime, accounts=[names["account"]], remediations=[NAME], sleep=lambda _: None).run()
    found = [f for f in summary.found if f["resource"].endswith(f":role/{names['role']}")]
    assert found and found[0]["outcome"] == "REMEDIATED", summary.as_dict()
    after = trust(iam, names["role"])
    assert OUTSIDE not in json.dumps(after) and names["sibling"] in json.dumps(after)
    # the member role and the org access role trust accounts of the organization: never found
    assert not [f for f in summary.found if "snapback-remediator" in f["resource"]]
    assert not summary.errors


@pytest.mark.parametrize(
    "document, outsiders",
    [
        ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]}, ["everyone (AWS: *)"]),
        (
            {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "sts:*"}]},
            ["111111111111 (account 111111111111 is outside the organization)"],
        ),
        (
            {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "111111111111"}, "Action": "sts:AssumeRole"}]},
            ["everyone but a NotPrincipal list (Allow with NotPrincipal)"],
        ),
        ({"Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}, []),
        ({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "AROAEXAMPLEDELETEDROLE"}, "Action": "sts:AssumeRole"}]}, []),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-attacker"}},
                    }
                ]
            },
            ["everyone (AWS: *)"],
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": "accounts.google.com"},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                    }
                ]
            },
            ["identity provider accounts.google.com (not in allowed_identity_providers)"],
        ),
        (
            {
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "s3:GetObject"}
                ]
            },
            [],
        ),
    ],
)
def test_trust_reading(document, outsiders):
    assert untrusted_principals(document, in_org=lambda a: a == "222222222222") == outsiders


def test_stripping_keeps_everything_trusted_and_never_leaves_an_empty_policy():
    in_org = lambda a: a == "222222222222"  # noqa: E731
    mixed = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Svc", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["222222222222", "111111111111"]},
                "Action": "sts:AssumeRole",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            },
        ],
    }
    kept = without_untrusted(mixed, in_org=in_org)
    assert kept["Statement"][0] == mixed["Statement"][0]
    assert kept["Statement"][1]["Principal"] == {"AWS": "222222222222"} and kept["Statement"][1]["Condition"]
    only_outside = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "sts:AssumeRole"}]}
    assert without_untrusted(only_outside, in_org=in_org)["Statement"] == [
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    ]


def access_analyzer_finding(account: str, role: str, principal: dict[str, Any]) -> dict[str, Any]:
    """An `Access Analyzer Finding` event of an analyzer in the role's own account."""
    from tests.remediations.helpers import service_event

    detail = {
        "version": "1.0",
        "id": str(uuid.uuid4()),
        "status": "ACTIVE",
        "resourceType": "AWS::IAM::Role",
        "resource": f"arn:aws:iam::{account}:role/{role}",
        "createdAt": "2026-12-01T21:00:00Z",
        "analyzedAt": "2026-12-01T21:00:00Z",
        "updatedAt": "2026-12-01T21:00:00Z",
        "accountId": account,
        "region": "us-east-1",
        "principal": principal,
        "action": ["sts:AssumeRole"],
        "condition": {},
        "isDeleted": False,
        "isPublic": False,
    }
    return service_event("aws.access-analyzer", "Access Analyzer Finding", detail, account).as_dict()


@pytest.mark.parametrize(
    "case_name, principal_key, expect",
    [
        ("trust changed to an outside account's root (Stratus backdoor-iam-role shape)", "outside", Outcome.REMEDIATED),
        ("trust to another account of the organization", "sibling", Outcome.ALREADY_COMPLIANT),
    ],
)
def test_access_analyzer_findings_route_here_and_the_live_trust_decides(org, case_name, principal_key, expect):
    iam, names = prepare(org, BY_NAME[case_name])
    event = access_analyzer_finding(names["account"], names["role"], {"AWS": names[principal_key]})
    assert any(matches(t.pattern, event) for t in registry.get(NAME).triggers)
    before = trust(iam, names["role"])
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is expect, result.reason
    assert (trust(iam, names["role"]) == before) == (expect is not Outcome.REMEDIATED)
    assert OUTSIDE not in json.dumps(trust(iam, names["role"]))


def test_declared_permissions_are_exactly_the_calls_made(org):
    """Every member-account call of inspect, apply, verify and undo, over a changed trust and a quarantined new role."""
    calls: set[str] = set()
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"quarantine_new_roles": True}})
    client = runtime.clients.member(org.members["member-a"], "us-east-1", NAME).client("iam")
    client.meta.events.register("before-call.iam.*", lambda model, **_: calls.add(model.name))
    for name in (
        "trust changed to an outside account's root (Stratus backdoor-iam-role shape)",
        "new role trusting an outside account: paged, not changed (quarantine_new_roles off)",
    ):
        _, names = prepare(org, BY_NAME[name])
        (result,) = runtime.process(event_for(BY_NAME[name], names), remediations=[NAME])
        assert result.outcome is Outcome.REMEDIATED, result.reason
        undo(runtime, result.audit_id)
    assert {f"iam:{c}" for c in calls} == set(registry.get(NAME).permissions)
