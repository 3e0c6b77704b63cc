"""The management account: StackSets never deploy there, so it gets the member resources as plain
stacks - `ManagementAccountStack` in the home Region (forwarder, remediator role, the read-only org
reader role, the SCP) and one `ManagementForwarderStack` per other configured Region (issue 12 item 8:
service events land on the default bus of the Region they happen in, so a forwarder is needed in each)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_organizations as organizations
from constructs import Construct

from snapback.config import Config
from snapback.member_role import function_role_arns
from stacks.guardrails import scp_document
from stacks.member import MemberResources
from stacks.nag import acknowledge
from stacks.security import CUSTOM_ACTIONS_ROLE, ORG_READER_ROLE


class ManagementAccountStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(
            scope, construct_id, description="Snapback: management account forwarders, remediator and org reader", **kwargs
        )
        MemberResources(self, "Member", config=config)
        callers = [
            *function_role_arns(config.security_account, self.partition),
            f"arn:{self.partition}:iam::{config.security_account}:role/{CUSTOM_ACTIONS_ROLE}",
        ]
        reader = iam.CfnRole(
            self,
            "OrgReader",
            role_name=ORG_READER_ROLE,
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
    """The management account's forwarder in one non-home Region (the remediator role is global, home only)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Snapback: management account forwarder (one Region)", **kwargs)
        MemberResources(self, "Member", config=config)
