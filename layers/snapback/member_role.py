"""The `snapback-remediator` role in every member account, derived from the registry.

Trust names the exact remediator function roles of the security account and requires a
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


def remediator_role_arns(security_account: str, partition: str = "aws") -> list[str]:
    return [f"arn:{partition}:iam::{security_account}:role/{remediator_role_name(r.name)}" for r in registry.all_remediations()]


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
