"""management_permission_boundary: roles under moto in the management account; users through botocore's
Stubber (moto implements neither PutUserPermissionsBoundary nor DeleteUserPermissionsBoundary)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from snapback import member_role, registry
from snapback.config import Exemption
from snapback.operations import undo
from snapback.outcomes import Outcome, Target
from snapback.patterns import matches
from snapback.remediations.management_permission_boundary import BOUNDARY_POLICY_NAME, boundary_policy
from snapback.sweep import Sweeper
from snapback_ops.demo import LocalOrg
from snapback_ops.demo import runtime_for as demo_runtime
from tests.remediations.helpers import fill, load_cases
from tests.remediations.iam_events import iam_call

NAME = "management_permission_boundary"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}


@pytest.fixture(scope="module")
def org() -> Iterator[LocalOrg]:
    """One org for the module (cases use fresh names); overrides the per-test `org` of conftest."""
    from moto import mock_aws

    from snapback_ops.demo import build_org

    with mock_aws():
        yield build_org(routing=False)  # no test here reads the member-bus routes


def install_management(org: LocalOrg) -> None:
    """What the management stack adds (idempotent): the member role and the boundary policy."""
    import boto3

    iam = boto3.client("iam", region_name="us-east-1")  # the management account's own credentials
    if org.config.member_role_name not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
        trust = member_role.trust_policy(member_role.remediator_role_arns(org.security))
        iam.create_role(RoleName=org.config.member_role_name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName=org.config.member_role_name,
            PolicyName="snapback-remediations",
            PolicyDocument=json.dumps(member_role.permissions_policy()),
        )
    local = {p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]}
    if BOUNDARY_POLICY_NAME not in local:
        boundary = f"arn:aws:iam::{org.management}:policy/{BOUNDARY_POLICY_NAME}"
        iam.create_policy(PolicyName=BOUNDARY_POLICY_NAME, PolicyDocument=json.dumps(boundary_policy(boundary)))
    if "loose-boundary" not in local:
        loose = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.create_policy(PolicyName="loose-boundary", PolicyDocument=json.dumps(loose))


def runtime_for(org: LocalOrg, options: dict[str, Any] | None = None, **changes: Any) -> Any:
    from tests.perf.workloads import OPEN_BREAKER

    runtime = demo_runtime(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, breaker=OPEN_BREAKER, options={NAME: options or {}}, **changes)
    return runtime


def names_for(org: LocalOrg) -> dict[str, str]:
    return {
        "name": f"ops-{uuid.uuid4().hex[:8]}",
        "boundary": f"arn:aws:iam::{org.management}:policy/{BOUNDARY_POLICY_NAME}",
        "other": f"arn:aws:iam::{org.management}:policy/loose-boundary",
    }


def boundary_of(iam: Any, role: str) -> str | None:
    return (iam.get_role(RoleName=role)["Role"].get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")


def prepare(org: LocalOrg, case: dict[str, Any]) -> tuple[Any, str, dict[str, str]]:
    import boto3

    install_management(org)
    names = names_for(org)
    account = org.members["member-a"] if case.get("account") == "member" else org.management
    iam = org.session(account).client("iam") if account != org.management else boto3.client("iam", region_name="us-east-1")
    if case["setup"] == "applied":
        request = fill(case["request"], **names)
        kwargs = {"PermissionsBoundary": names["boundary"]} if case["event"] != "CreateRole" or case.get("boundary") else {}
        iam.create_role(
            RoleName=names["name"], AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}), **kwargs
        )
        if case["event"] == "DeleteRolePermissionsBoundary":
            iam.delete_role_permissions_boundary(RoleName=names["name"])
        elif case["event"] == "PutRolePermissionsBoundary":
            iam.put_role_permissions_boundary(RoleName=names["name"], PermissionsBoundary=request["permissionsBoundary"])
    return iam, account, names


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    iam, account, names = prepare(org, case)
    present = case["setup"] == "applied"
    before = boundary_of(iam, names["name"]) if present else None
    who = f"role:{case.get('actor', 'developer')}"
    event = iam_call(account, case["event"], case["request"], who, error_code=case.get("error_code"), **names).as_dict()
    assert any(matches(t.pattern, event) for t in registry.get(NAME).triggers) == case["routed"]
    runtime = runtime_for(org, case.get("options"))
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    if present:
        after = boundary_of(iam, names["name"])
        if case["expect"] != "REMEDIATED":
            assert after == before
            return
        assert before != names["boundary"] and after == names["boundary"]
        assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
        assert boundary_of(iam, names["name"]) == before
        assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"


def test_break_glass_role_in_an_exemption_keeps_no_boundary(org):
    case = BY_NAME["role's boundary removed, attach_boundary on"]
    iam, account, names = prepare(org, case)
    exemption = Exemption(reason="break-glass (SEC-7)", resources=(f"arn:aws:iam::{account}:role/{names['name']}",))
    runtime = runtime_for(org, {"attach_boundary": True}, exemptions=(exemption,))
    event = iam_call(account, case["event"], case["request"], "role:developer", **names).as_dict()
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.EXEMPT and boundary_of(iam, names["name"]) is None


def test_sweep_of_the_management_account_finds_principals_without_the_boundary(org):
    case = BY_NAME["role's boundary removed, attach_boundary on"]
    iam, account, names = prepare(org, case)
    runtime = runtime_for(org, {"attach_boundary": True})
    summary = Sweeper(runtime, accounts=[account, org.members["member-a"]], remediations=[NAME], sleep=lambda _: None).run()
    found = {f["resource"] for f in summary.found}
    assert f"arn:aws:iam::{account}:role/{names['name']}" in found and not summary.errors
    assert all(f":{account}:" in r for r in found)  # the member account is never swept
    assert not [r for r in found if r.endswith(":role/snapback-remediator")]
    assert boundary_of(iam, names["name"]) == names["boundary"]


class StubSession:
    """A management-account session whose IAM client is one botocore Stubber answers."""

    account = "111111111111"
    clients = type("C", (), {"partition": "aws"})()

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str) -> Any:
        return self._client


def test_user_boundary_is_put_and_undone_through_the_user_calls():
    """moto lacks the user boundary calls: the exact calls and parameters are checked with Stubber."""
    import boto3

    from snapback.remediations.management_permission_boundary import ManagementPermissionBoundary

    remediation = ManagementPermissionBoundary()
    remediation.management_account = "111111111111"
    expected = f"arn:aws:iam::111111111111:policy/{BOUNDARY_POLICY_NAME}"
    client = boto3.client("iam", region_name="us-east-1")
    stub = Stubber(client)
    user = {
        "Path": "/",
        "UserName": "ops",
        "UserId": "AIDAEXAMPLEOPS000001",
        "Arn": "arn:aws:iam::111111111111:user/ops",
        "CreateDate": "2026-12-01T00:00:00Z",
    }
    stub.add_response("get_user", {"User": user}, {"UserName": "ops"})
    stub.add_response("put_user_permissions_boundary", {}, {"UserName": "ops", "PermissionsBoundary": expected})
    stub.add_response("delete_user_permissions_boundary", {}, {"UserName": "ops"})

    target = Target(
        "111111111111", "us-east-1", "AwsIamUser", "ops", "arn:aws:iam::111111111111:user/ops", "k", facts={"kind": "User"}
    )
    with stub:
        state = remediation.inspect(StubSession(client), target)
        assert state["boundary"] is None and not remediation.is_compliant(state)
        undo_data = remediation.apply(StubSession(client), target, state)
        assert remediation.undo(StubSession(client), target, undo_data) == [
            "iam:DeleteUserPermissionsBoundary on ops (it had none before)"
        ]
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("principal_exists", [True, False], ids=["boundary-policy-missing", "principal-gone"])
def test_a_missing_boundary_policy_fails_loudly_and_a_gone_principal_stays_gone(principal_exists):
    """IAM answers NoSuchEntity both for a principal that is gone and for a boundary policy that does
    not exist. The first is nothing to fix; the second must never read as 'already compliant'."""
    import boto3

    from snapback.errors import PermanentError
    from snapback.remediations.management_permission_boundary import ManagementPermissionBoundary

    remediation = ManagementPermissionBoundary()
    remediation.management_account = "111111111111"
    expected = f"arn:aws:iam::111111111111:policy/{BOUNDARY_POLICY_NAME}"
    client = boto3.client("iam", region_name="us-east-1")
    stub = Stubber(client)
    role = {
        "Path": "/",
        "RoleName": "ops",
        "RoleId": "AROAEXAMPLEOPS000001",
        "Arn": "arn:aws:iam::111111111111:role/ops",
        "CreateDate": "2026-12-01T00:00:00Z",
    }
    stub.add_client_error(
        "put_role_permissions_boundary", "NoSuchEntity", "not found", 404, {"RoleName": "ops", "PermissionsBoundary": expected}
    )
    if principal_exists:
        stub.add_response("get_role", {"Role": role}, {"RoleName": "ops"})
    else:
        stub.add_client_error("get_role", "NoSuchEntity", "The role with name ops cannot be found.", 404, {"RoleName": "ops"})

    target = Target(
        "111111111111", "us-east-1", "AwsIamRole", "ops", "arn:aws:iam::111111111111:role/ops", "k", facts={"kind": "Role"}
    )
    state = {"kind": "Role", "name": "ops", "boundary": None, "expected": expected}
    with stub:
        if principal_exists:
            with pytest.raises(PermanentError, match="does not exist in the management account"):
                remediation.apply(StubSession(client), target, state)
        else:
            from botocore.exceptions import ClientError

            with pytest.raises(ClientError) as raised:
                remediation.apply(StubSession(client), target, state)
            assert raised.value.response["Error"]["Code"] in remediation.gone_codes
    stub.assert_no_pending_responses()


def test_the_boundary_document_denies_escaping_it():
    doc = boundary_policy("arn:aws:iam::111111111111:policy/b")
    denies = {
        a
        for s in doc["Statement"]
        if s["Effect"] == "Deny"
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {
        "iam:DeleteRolePermissionsBoundary",
        "iam:DeleteUserPermissionsBoundary",
        "iam:CreatePolicyVersion",
        "iam:CreateRole",
        "iam:CreateUser",
    } <= denies
    new = next(s for s in doc["Statement"] if s["Sid"] == "NewPrincipalsGetTheBoundary")
    assert new["Condition"] == {"StringNotEquals": {"iam:PermissionsBoundary": "arn:aws:iam::111111111111:policy/b"}}
