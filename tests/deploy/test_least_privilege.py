"""Least privilege, proven under moto's IAM enforcement (see tests/deploy/enforce.py).

For every registered remediation that acts in member accounts, its first REMEDIATED fixture case and
its first undo test (tests/remediations/test_<name>.py, the project's convention) run with:
- the member role's policy exactly as synthesized (read from the SnapbackMember template), and
- the session policy the runtime passes on AssumeRole (snapback.member_role.session_policy),
so a missing permission fails the flow. Declared permissions no flow used are reported as a warning
(some are only used by the sweep, by error paths, or by `iam:PassRole`, which moto does not check).
The registry is iterated, so a remediation added later is held to this without an edit here.
"""

from __future__ import annotations

import importlib
import inspect
import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from snapback import member_role, registry
from snapback.clients import source_identity
from tests.deploy.enforce import member_enforcement
from tests.infra.test_stacks import CONFIG, out, resources, template  # noqa: F401 - the session synth fixture

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

USED: dict[str, set[str]] = {}
# The last test reads what every flow used: the module runs on one xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("least_privilege")


def session_name(remediation: str) -> str:
    return source_identity(remediation).replace("@", "-")  # as Clients.member_credentials names it


def flows() -> list[Any]:
    found = []
    for remediation in registry.acting():
        try:
            module = importlib.import_module(f"tests.remediations.test_{remediation.name}")
        except ModuleNotFoundError:
            found.append(pytest.param(remediation.name, None, None, id=f"{remediation.name}-no-tests"))
            continue
        # a module whose calls moto lacks answers them with botocore's Stubber: no request reaches moto's
        # authorizer, so nothing can be enforced there (tests/deploy/test_iam_model.py still checks each
        # declared action exists and applies to its resources)
        lacks = getattr(module, "MOTO_LACKS", None)
        if lacks:
            found.append(
                pytest.param(remediation.name, None, None, id=f"{remediation.name}-stubbed", marks=pytest.mark.skip(lacks))
            )
            continue
        cases = [c for c in getattr(module, "CASES", []) if c.get("expect") == "REMEDIATED"]
        special = getattr(module, "needs_aws_policies", None)  # cases needing a module-local fixture
        cases = [c for c in cases if special is None or not special(c)]
        if cases and hasattr(module, "test_fixture_case"):
            found.append(pytest.param(remediation.name, module.test_fixture_case, cases[0], id=f"{remediation.name}-remediate"))
        undo = [f for n, f in sorted(vars(module).items()) if n.startswith("test_undo") and callable(f)]
        undo = [f for f in undo if list(inspect.signature(f).parameters) == ["org"]]
        if undo:
            found.append(pytest.param(remediation.name, undo[0], None, id=f"{remediation.name}-undo"))
    return found


def synthesized_member_policy(out_dir: Any) -> dict[str, Any]:
    roles = resources(template(out_dir, "SnapbackMember"), "AWS::IAM::Role")
    (role,) = [r for r in roles.values() if r["Properties"].get("RoleName") == CONFIG.member_role_name]
    (policy,) = role["Properties"]["Policies"]
    return policy["PolicyDocument"]


def install(org: Any, policy: dict[str, Any]) -> None:
    """Replace every member role's policy with `policy` (the demo installs the same function's output)."""
    for account in org.members.values():
        iam = org.session(account).client("iam")
        for name in iam.list_role_policies(RoleName=org.config.member_role_name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=org.config.member_role_name, PolicyName=name)
        iam.put_role_policy(RoleName=org.config.member_role_name, PolicyName="synthesized", PolicyDocument=json.dumps(policy))


def run(flow: Callable[..., Any], case: Any, org: Any, request: pytest.FixtureRequest) -> None:
    names = list(inspect.signature(flow).parameters)
    given = {"org": org, "request": request, "case": case}
    flow(**{n: given[n] for n in names})


@pytest.mark.parametrize(("name", "flow", "case"), flows())
def test_each_flow_runs_with_the_synthesized_role_and_its_session_policy_only(out, org, request, name, flow, case):  # noqa: F811
    assert flow is not None, f"{name}: no tests/remediations/test_{name}.py to run under IAM enforcement"
    install(org, synthesized_member_policy(out))
    with member_enforcement(org.config.member_role_name) as state:
        try:
            run(flow, case, org, request)
        except Exception as err:
            raise AssertionError(f"{name}: the flow failed under enforcement; denied: {state.denied}") from err
    assert not state.denied, f"{name}: denied {state.denied}; declare the permission in the remediation module"
    for session, actions in state.used.items():
        USED.setdefault(session, set()).update(actions)
    assert state.used, f"{name}: no member-role call was seen; is the flow really acting in a member account?"
    # a session only ever acted for its own remediation
    assert set(state.used) <= {session_name(name)}, state.used


def test_unused_declared_permissions_are_reported():
    unused = {}
    for remediation in registry.acting():
        used = USED.get(session_name(remediation.name), set())
        left = sorted(set(registry.permissions_of(remediation.name)) - used)
        if left:
            unused[remediation.name] = left
    if unused:
        warnings.warn(f"declared but unused in the enforced flows (sweep/error paths/PassRole?): {unused}", stacklevel=1)


def test_a_missing_permission_fails_the_flow(out, org, request, monkeypatch):  # noqa: F811
    """The gate catches the defect it guards: drop one action from a session policy, the flow fails."""
    name = "kms_enable_key_rotation"
    module = importlib.import_module(f"tests.remediations.test_{name}")
    (case,) = [c for c in module.CASES if c["expect"] == "REMEDIATED"][:1]
    real = member_role.session_policy_json

    def without_enable(remediation: str) -> str | None:
        document = json.loads(real(remediation) or "null")
        if document and remediation == name:
            for statement in document["Statement"]:
                statement["Action"] = [a for a in statement["Action"] if a != "kms:EnableKeyRotation"]
        return None if document is None else json.dumps(document)

    monkeypatch.setattr(member_role, "session_policy_json", without_enable)
    install(org, synthesized_member_policy(out))
    with member_enforcement(org.config.member_role_name) as state, pytest.raises(AssertionError):
        run(module.test_fixture_case, case, org, request)
    assert any(action == "kms:EnableKeyRotation" for _, action, _ in state.denied), state.denied
