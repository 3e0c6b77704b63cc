"""The `snapback-remediator` role in every member account, and each function's share of it.

Trust names the exact function roles of the security account that act in members (one per
remediation that declares member permissions, the reconciliation sweep's, the Security Hub custom
actions') and requires a SourceIdentity that starts with `snapback@`. An alert-only remediation (the
root alert) declares nothing, so its function role is not trusted at all.

The role's policy is the union of what the registered remediations declare; each function narrows
it on every AssumeRole to its own remediation's actions with a session policy from the registry
(`session_policy`), so a function can only exercise its own permissions in a member account: "the
resulting session's permissions are the intersection of the role's identity-based policy and the
session policies" (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).
`iam:PassRole` is only ever granted with `iam:PassedToService` (id_roles_use_passrole.html).
The CDK member stack, the demo and the tests all build it from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from snapback import registry

# AssumeRole's `Policy` parameter: "The plaintext that you use for both inline and managed session
# policies can't exceed 2,048 characters" (STS API reference, AssumeRole, Policy). AWS then packs it;
# PackedPolicySize in the response reports the packed share, which cannot be computed offline, so the
# gate keeps a margin below the plaintext limit.
SESSION_POLICY_MAX_CHARS = 2048
PASS_ROLE = "iam:PassRole"


# The security-account roles of the remediation functions. Member roles and the organization reader
# trust these exact ARNs, and a role's trust policy holds at most 2,048 characters (IAM quotas, "Role
# trust policy length"): one ARN per remediation stopped fitting at 26 remediations. So the functions
# share a role: one for those that act in member accounts, one for alerts that never enter a member
# (the root alert's function cannot assume the member role at all). What a remediation may do in a
# member account is its AssumeRole session policy (session_policy_json), the same as before; the
# function roles only ever differed in their own log group. A remediation with grants on
# security-account resources of its own (`security_permissions`, e.g. the WAF IP sets) keeps a role of
# its own so those grants stay its alone.
ACTING_FUNCTIONS_ROLE = "snapback-fn-remediator"
ALERT_FUNCTIONS_ROLE = "snapback-fn-alert"


def remediator_role_name(remediation: str) -> str:
    """The security-account role of one remediation's function (a fixed name, so trust can pin it)."""
    cls = registry.get(remediation)
    if getattr(cls, "security_permissions", ()):
        return f"snapback-fn-{remediation.replace('_', '-')}"[:64]
    return ACTING_FUNCTIONS_ROLE if registry.permissions_of(remediation) else ALERT_FUNCTIONS_ROLE


SWEEP_ROLE = "snapback-fn-sweep"
CUSTOM_ACTIONS_ROLE = "snapback-fn-custom-actions"


def function_role_arns(security_account: str, partition: str = "aws") -> list[str]:
    """The function roles (shared, see above) and the sweep's, each once: they may read the organization."""
    names = dict.fromkeys([remediator_role_name(r.name) for r in registry.all_remediations()] + [SWEEP_ROLE])
    return [f"arn:{partition}:iam::{security_account}:role/{name}" for name in names]


def remediator_role_arns(security_account: str, partition: str = "aws") -> list[str]:
    """The function roles that act in members (shared by the acting remediations, see above) and the sweep's."""
    names = dict.fromkeys([remediator_role_name(r.name) for r in registry.acting()] + [SWEEP_ROLE])
    return [f"arn:{partition}:iam::{security_account}:role/{name}" for name in names]


def member_caller_arns(security_account: str, partition: str = "aws") -> list[str]:
    """Every role the member role trusts: the acting remediators, the sweep and the custom actions (approve, undo)."""
    return [
        *remediator_role_arns(security_account, partition),
        f"arn:{partition}:iam::{security_account}:role/{CUSTOM_ACTIONS_ROLE}",
    ]


def trust_policy(principal_arns: Sequence[str]) -> dict[str, Any]:
    """One statement for both actions: the principal list is the bulk of the policy, and a role's trust
    policy is limited to 2,048 characters (tests/deploy/test_quotas.py keeps it under that)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SnapbackRemediatorsOnly",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(principal_arns)},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                "Condition": {"StringLike": {"sts:SourceIdentity": "snapback@*"}},
            },
        ],
    }


def statements(actions: Iterable[str], passed_to: Iterable[str], sid: str = "Declared") -> list[dict[str, Any]]:
    """Allow `actions` on `*`; `iam:PassRole` apart, only to the services in `passed_to`."""
    plain = sorted({a for a in actions if a != PASS_ROLE})
    wanted = PASS_ROLE in set(actions)
    services = sorted(set(passed_to))
    if wanted and not services:
        raise ValueError(
            f"{sid}: iam:PassRole is declared without the services it passes roles to; fix: declare `pass_role_to` on the "
            "remediation (or add it to snapback.registry._PASS_ROLE_TO)"
        )
    found: list[dict[str, Any]] = []
    if plain:
        found.append({"Sid": sid, "Effect": "Allow", "Action": plain, "Resource": "*"})
    if wanted:
        found.append(
            {
                "Sid": f"{sid}PassRole",
                "Effect": "Allow",
                "Action": PASS_ROLE,
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": services}},
            }
        )
    return found


def permissions_policy() -> dict[str, Any]:
    """The member role's policy: the union of what every remediation declares."""
    services = sorted({s for r in registry.all_remediations() for s in registry.passed_to_services(r.name)})
    return {"Version": "2012-10-17", "Statement": statements(registry.member_permissions(), services, "DeclaredByRemediations")}


def session_policy(remediation: str) -> dict[str, Any] | None:
    """One remediation's session policy (None when it declares nothing: it never enters a member)."""
    actions = registry.permissions_of(remediation)
    if not actions:
        return None
    return {"Version": "2012-10-17", "Statement": statements(actions, registry.passed_to_services(remediation), "Only")}


def session_policy_json(remediation: str) -> str | None:
    """The minified session policy as AssumeRole's `Policy` parameter (None: no policy to pass)."""
    document = session_policy(remediation)
    return None if document is None else json.dumps(document, separators=(",", ":"))
