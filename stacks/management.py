"""The management account: StackSets never deploy there, so it gets the member resources as plain
stacks - `ManagementAccountStack` in the home Region (forwarder, remediator role, the read-only org
reader role, the SCP, the permission boundary) and one `ManagementForwarderStack` per other configured
Region (issue 12 item 8: service events land on the default bus of the Region they happen in, so a
forwarder is needed in each).

SCPs never apply to the management account, so its IAM principals are capped by a permission boundary
instead (issue 14 item 8): the home stack creates `snapback-management-boundary` from
`management_permission_boundary.boundary_policy`, at the ARN that remediation expects by default, and
gives it to the stack's own roles except the remediator (whose undo removes boundaries)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_organizations as organizations
from constructs import Construct

from snapback.config import Config
from snapback.member_role import function_role_arns
from snapback.remediations.management_permission_boundary import (
    BOUNDARY_POLICY_NAME,
    ManagementPermissionBoundary,
    boundary_policy,
    default_boundary_arn,
)
from stacks.guardrails import scp_document
from stacks.member import MemberResources
from stacks.nag import acknowledge
from stacks.security import CUSTOM_ACTIONS_ROLE, ORG_READER_ROLE


def offered_boundary_arn(config: Config, partition: str) -> str | None:
    """The ARN of the boundary the management stack creates, or None when snapback.yaml points the
    remediation at another policy (`boundary_policy_arn`): an unused allow-all boundary is not offered."""
    configured = config.options_for(ManagementPermissionBoundary.name).get("boundary_policy_arn")
    ours = default_boundary_arn(config.management_account)
    if configured and str(configured).split(":", 2)[2:] != ours.split(":", 2)[2:]:  # any partition
        return None
    return default_boundary_arn(config.management_account, partition)


class ManagementAccountStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Snapback: management account forwarders, remediator, org reader and permission boundary",
            **kwargs,
        )
        boundary_arn = offered_boundary_arn(config, self.partition)
        boundary = None
        if boundary_arn:
            boundary = iam.ManagedPolicy(
                self,
                "ManagementBoundary",
                managed_policy_name=BOUNDARY_POLICY_NAME,
                description="Snapback: permission boundary of the management account's IAM users and roles (SCPs never apply there)",
                document=iam.PolicyDocument.from_json(boundary_policy(boundary_arn, self.partition)),
            )
            acknowledge(
                boundary,
                "IAM5",
                "A permission boundary only caps: it grants nothing by itself, identity policies still decide, and its "
                "allow-all ceiling is what lets the deny statements alone take effect",
                "Action::*",
            )
            acknowledge(
                boundary,
                "IAM5",
                "A permission boundary only caps: its allow-all ceiling applies to every resource, and the denies that "
                "name an action with resource-level permissions name the boundary's own ARN",
                "Resource::*",
            )
        MemberResources(self, "Member", config=config, permissions_boundary=boundary.managed_policy_arn if boundary else None)
        callers = [
            *function_role_arns(config.security_account, self.partition),
            f"arn:{self.partition}:iam::{config.security_account}:role/{CUSTOM_ACTIONS_ROLE}",
        ]
        reader = iam.CfnRole(
            self,
            "OrgReader",
            role_name=ORG_READER_ROLE,
            permissions_boundary=boundary.managed_policy_arn if boundary else None,
            description="Snapback: read the organization's accounts (is an event's account a member?)",
            assume_role_policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": sorted(callers)},
                        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                    }
                ],
            },
            policies=[
                iam.CfnRole.PolicyProperty(
                    policy_name="read-organization",
                    policy_document={
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "organizations:ListAccounts",
                                    "organizations:DescribeAccount",
                                    "organizations:ListParents",
                                ],
                                "Resource": "*",
                            }
                        ],
                    },
                )
            ],
        )
        acknowledge(
            reader,
            "IAM5",
            "organizations:ListAccounts supports no resource-level permissions; the role is read-only and trusted only by "
            "Snapback's function roles",
            "Resource::*",
        )
        if config.guardrails.enabled:
            organizations.CfnPolicy(
                self,
                "Guardrails",
                name="snapback-guardrails",
                description="Snapback: keep Config, CloudTrail, GuardDuty, Security Hub and Snapback itself from being switched off",
                type="SERVICE_CONTROL_POLICY",
                content=scp_document(
                    config.guardrails.exempt_principals,
                    security_account=config.security_account,
                    member_role=config.member_role_name,
                ),
                target_ids=list(config.guardrails.target_ous or config.target_ous),
            )


class ManagementForwarderStack(cdk.Stack):
    """The management account's forwarder in one non-home Region (the remediator role is global, home only;
    the forwarder role carries the boundary the home stack creates, so that stack deploys first)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Snapback: management account forwarder (one Region)", **kwargs)
        MemberResources(self, "Member", config=config, permissions_boundary=offered_boundary_arn(config, self.partition))
