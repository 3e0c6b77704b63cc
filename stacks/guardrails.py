"""Optional SCP guardrails: what Snapback repairs should not be breakable in the first place.

One service control policy, attached to the configured OUs from the management-account stack:
- deny stopping or deleting AWS Config recorders and delivery channels, CloudTrail trails,
  GuardDuty detectors and Security Hub (and leaving their administrator accounts);
- deny changes to Snapback's own roles, forwarding rules and StackSet stack instances;
- deny setting or removing `snapback:*` tags (Snapback trusts no tag an SCP does not protect);
- deny every action by the root user of a member account (SCPs never apply to the management account).

Every statement excepts Snapback's own roles (`snapback-*`), the StackSets execution role that
deploys the member stack, and the break-glass patterns from `guardrails.exempt_principals`.
`scp_document` is a pure function so the policy can be reviewed and tested without a synth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# The largest SCP document AWS Organizations accepts (characters, whitespace included).
SCP_MAX_CHARS = 5120

TAMPERING = (
    "config:DeleteConfigurationRecorder",
    "config:DeleteDeliveryChannel",
    "config:StopConfigurationRecorder",
    "cloudtrail:DeleteTrail",
    "cloudtrail:StopLogging",
    "guardduty:DeleteDetector",
    "guardduty:DisassociateFromAdministratorAccount",
    "guardduty:DisassociateFromMasterAccount",
    "guardduty:UpdateDetector",
    "securityhub:DisableSecurityHub",
    "securityhub:DisassociateFromAdministratorAccount",
    "securityhub:DisassociateFromMasterAccount",
)
ROLE_CHANGES = (
    "iam:AttachRolePolicy",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
)
RULE_CHANGES = ("events:DeleteRule", "events:DisableRule", "events:PutRule", "events:PutTargets", "events:RemoveTargets")
STACK_CHANGES = ("cloudformation:DeleteStack", "cloudformation:UpdateStack")


def trusted_principals(extra: Sequence[str] = ()) -> list[str]:
    return [
        "arn:*:iam::*:role/snapback-*",
        # The service-managed StackSets execution role that deploys and updates the member stack.
        "arn:*:iam::*:role/stacksets-exec-*",
        *extra,
    ]


def scp_document(extra_principals: Sequence[str] = (), stack_set_name: str = "snapback-member") -> dict[str, Any]:
    condition = {"ArnNotLike": {"aws:PrincipalARN": trusted_principals(extra_principals)}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenySecurityServiceTampering",
                "Effect": "Deny",
                "Action": list(TAMPERING),
                "Resource": "*",
                "Condition": condition,
            },
            {
                "Sid": "ProtectSnapbackRoles",
                "Effect": "Deny",
                "Action": list(ROLE_CHANGES),
                "Resource": ["arn:*:iam::*:role/snapback-*"],
                "Condition": condition,
            },
            {
                "Sid": "ProtectSnapbackRules",
                "Effect": "Deny",
                "Action": list(RULE_CHANGES),
                "Resource": ["arn:*:events:*:*:rule/snapback-*"],
                "Condition": condition,
            },
            {
                "Sid": "ProtectSnapbackStackInstances",
                "Effect": "Deny",
                "Action": list(STACK_CHANGES),
                "Resource": [f"arn:*:cloudformation:*:*:stack/StackSet-{stack_set_name}-*"],
                "Condition": condition,
            },
            {
                # Snapback reads `snapback:*` tags (e.g. snapback:critical holds instance isolation for
                # approval); only Snapback may set or remove them, so a tag is never a bypass.
                "Sid": "ProtectSnapbackTags",
                "Effect": "Deny",
                "Action": ["ec2:CreateTags", "ec2:DeleteTags", "iam:TagRole", "iam:UntagRole", "s3:PutBucketTagging"],
                "Resource": "*",
                "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["snapback:*"]}, **condition},
            },
            {
                "Sid": "DenyRootUserInMembers",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                # A root user is never a role; the exception is kept so that every statement has it.
                "Condition": {"StringLike": {"aws:PrincipalArn": ["arn:*:iam::*:root"]}, **condition},
            },
        ],
    }


def minified(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))
