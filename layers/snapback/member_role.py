"""The `snapback-remediator` role in every member account, derived from the registry.

Trust names the exact function roles of the security account that act in members (one per
remediation, the reconciliation sweep's, the Security Hub custom actions') and requires a
SourceIdentity that starts with `snapback@`; the permissions are exactly the union of what the
registered remediations declare. The CDK member stack and the demo both build it from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from snapback import registry


def remediator_role_name(remediation: str) -> str:
    """The security-account role of one remediation's function (a fixed name, so trust can pin it)."""
    return f"snapback-fn-{remediation.replace('_', '-')}"[:64]


SWEEP_ROLE = "snapback-fn-sweep"
CUSTOM_ACTIONS_ROLE = "snapback-fn-custom-actions"


def remediator_role_arns(security_account: str, partition: str = "aws") -> list[str]:
    """The function roles that remediate: one per remediation, and the reconciliation sweep's."""
    names = [remediator_role_name(r.name) for r in registry.all_remediations()] + [SWEEP_ROLE]
    return [f"arn:{partition}:iam::{security_account}:role/{name}" for name in names]


def member_caller_arns(security_account: str, partition: str = "aws") -> list[str]:
    """Every role the member role trusts: the remediators and the custom actions (approve, undo)."""
    return [
        *remediator_role_arns(security_account, partition),
        f"arn:{partition}:iam::{security_account}:role/{CUSTOM_ACTIONS_ROLE}",
    ]


def trust_policy(principal_arns: Sequence[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SnapbackRemediatorsOnly",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(principal_arns)},
                "Action": "sts:AssumeRole",
                "Condition": {"StringLike": {"sts:SourceIdentity": "snapback@*"}},
            },
            {
                "Sid": "SnapbackSetSourceIdentity",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(principal_arns)},
                "Action": "sts:SetSourceIdentity",
                "Condition": {"StringLike": {"sts:SourceIdentity": "snapback@*"}},
            },
        ],
    }


def permissions_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DeclaredByRemediations", "Effect": "Allow", "Action": registry.member_permissions(), "Resource": "*"}
        ],
    }
