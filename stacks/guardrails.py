"""Optional SCP guardrails: what Snapback repairs should not be breakable in the first place.

One service control policy, attached to the configured OUs from the management-account stack:
- deny stopping or deleting AWS Config recorders and delivery channels, CloudTrail trails,
  GuardDuty detectors and Security Hub (and leaving their administrator accounts);
- deny changes to Snapback's own roles, rules (member forwarder, central bus, sweep), central bus
  and StackSet stack instances, and deny *creating* a role with a name the policy trusts;
- deny setting or removing `snapback:*` tags on EC2 and IAM (Snapback trusts no tag an SCP does not
  protect);
- deny every action by the root user of a member account (SCPs never apply to the management account).

Who is excepted, and why each exception cannot be borrowed (issue 12, items 3 and 5):
- *deployers* may change Snapback's roles and rules, and stop or reconfigure the security services:
  the StackSets execution role (`stacksets-exec-*`,
  created by the StackSets service-linked role, which SCPs do not restrict: "SCPs don't affect
  service-linked roles", https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html),
  the CDK CloudFormation execution role of the *security account only* (its ARN pins that account id,
  so a member admin cannot name a look-alike), AWS Control Tower's `AWSControlTowerExecution` (Control
  Tower manages Config and its own StackSets in enrolled accounts through it:
  https://docs.aws.amazon.com/controltower/latest/userguide/awscontroltowerexecution.html), and the
  configured break-glass patterns;
- *operators* = the deployers and Snapback's member role by its exact name (undo may stop a trail it
  started, and it tags isolated instances `snapback:*`).
- Every trusted role name is reserved: `iam:CreateRole` on it is denied to everyone but the deployers,
  so a member admin cannot create `snapback-remediator` or `stacksets-exec-x` and inherit the exception.

The SCP grammar and limits: Deny statements may use Condition and Resource; the document is at most
5,120 characters (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
`scp_document` is a pure function so the policy can be reviewed, evaluated (tests/deploy/scp_eval.py)
and size-gated without a synth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from snapback.config import MEMBER_ROLE_NAME

# The largest SCP document AWS Organizations accepts (characters, whitespace included).
# Source: AWS Organizations quotas, "Maximum size of a service control policy: 5,120 characters".
SCP_MAX_CHARS = 5120
CONTROL_TOWER_ROLE = "AWSControlTowerExecution"
# The member forwarding role's fixed name prefix (one per Region, IAM names are global).
FORWARDER_ROLE_PREFIX = "snapback-forwarder"
CENTRAL_BUS = "snapback"

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
# events:PutPermission/RemovePermission support no resource-level permissions (Service Authorization
# Reference, Amazon EventBridge), so a Deny scoped to the bus would never apply: only DeleteEventBus.
BUS_CHANGES = ("events:DeleteEventBus",)
STACK_CHANGES = ("cloudformation:DeleteStack", "cloudformation:UpdateStack")


def cdk_execution_role_pattern(security_account: str) -> str:
    """The CDK bootstrap's CloudFormation execution role of the security account, any qualifier and Region.

    Bootstrap names it `cdk-<qualifier>-cfn-exec-role-<account>-<region>`
    (https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html). Pinning the account id in the
    ARN is what makes it safe: a role in another account never matches.
    """
    return f"arn:*:iam::{security_account}:role/cdk-*-cfn-exec-role-{security_account}-*"


def deployers(security_account: str | None, extra: Sequence[str] = ()) -> list[str]:
    """Principals that may change Snapback's roles, rules, bus and stack instances."""
    # Control Tower deploys its own StackSets with AWSControlTowerExecution as the execution role, so it
    # must be able to update roles it owns; the name is reserved, so no member admin can borrow it.
    found = ["arn:*:iam::*:role/stacksets-exec-*", f"arn:*:iam::*:role/{CONTROL_TOWER_ROLE}"]
    if security_account:
        found.append(cdk_execution_role_pattern(security_account))
    return [*found, *extra]


def operators(security_account: str | None, extra: Sequence[str] = (), member_role: str = MEMBER_ROLE_NAME) -> list[str]:
    """Principals that may also stop or reconfigure the security services (Snapback's own undo, Control Tower)."""
    return [*deployers(security_account, extra), f"arn:*:iam::*:role/{member_role}"]


def trusted_principals(extra: Sequence[str] = (), security_account: str | None = None) -> list[str]:
    """Every principal some statement excepts (for review and the tests)."""
    return operators(security_account, extra)


def reserved_role_names(member_role: str = MEMBER_ROLE_NAME) -> list[str]:
    """Role ARNs nobody but a deployer may create: every name an exception trusts, and Snapback's."""
    return [
        "arn:*:iam::*:role/snapback-*",
        "arn:*:iam::*:role/stacksets-exec-*",
        f"arn:*:iam::*:role/{CONTROL_TOWER_ROLE}",
        f"arn:*:iam::*:role/{member_role}",
    ]


def scp_document(
    extra_principals: Sequence[str] = (),
    stack_set_name: str = "snapback-member",
    *,
    security_account: str | None = None,
    member_role: str = MEMBER_ROLE_NAME,
) -> dict[str, Any]:
    deploy = {"ArnNotLike": {"aws:PrincipalARN": deployers(security_account, extra_principals)}}
    operate = {"ArnNotLike": {"aws:PrincipalARN": operators(security_account, extra_principals, member_role)}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenySecurityServiceTampering",
                "Effect": "Deny",
                "Action": list(TAMPERING),
                "Resource": "*",
                "Condition": operate,
            },
            {
                # Reserved names: creating one is how an attacker would borrow an exception (issue 12 item 5).
                "Sid": "ReserveTrustedRoleNames",
                "Effect": "Deny",
                "Action": ["iam:CreateRole", *ROLE_CHANGES],
                "Resource": sorted(set(reserved_role_names(member_role))),
                "Condition": deploy,
            },
            {
                # Member forwarders (`rule/snapback-forward` on the default bus), the sweep schedule and
                # custom-action rules (`rule/snapback-*`), and the central bus's rules (`rule/snapback/*`).
                "Sid": "ProtectSnapbackRulesAndBus",
                "Effect": "Deny",
                "Action": [*RULE_CHANGES, *BUS_CHANGES],
                "Resource": [
                    "arn:*:events:*:*:rule/snapback-*",
                    f"arn:*:events:*:*:rule/{CENTRAL_BUS}/*",
                    f"arn:*:events:*:*:event-bus/{CENTRAL_BUS}",
                ],
                "Condition": deploy,
            },
            {
                "Sid": "ProtectSnapbackStackInstances",
                "Effect": "Deny",
                "Action": list(STACK_CHANGES),
                "Resource": [f"arn:*:cloudformation:*:*:stack/StackSet-{stack_set_name}-*"],
                "Condition": deploy,
            },
            {
                # Snapback reads `snapback:*` tags on EC2 (e.g. snapback:critical holds instance isolation
                # for approval); only Snapback may set or remove them, so a tag is never a bypass. Only
                # actions that support `aws:TagKeys` are listed: s3:PutBucketTagging does not (Service
                # Authorization Reference, Amazon S3), so a condition on it would never match.
                "Sid": "ProtectSnapbackTags",
                "Effect": "Deny",
                "Action": ["ec2:CreateTags", "ec2:DeleteTags", "iam:TagRole", "iam:UntagRole"],
                "Resource": "*",
                "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["snapback:*"]}, **operate},
            },
            {
                "Sid": "DenyRootUserInMembers",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringLike": {"aws:PrincipalArn": ["arn:*:iam::*:root"]}},
            },
        ],
    }


def minified(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))
