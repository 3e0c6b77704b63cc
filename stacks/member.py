"""What every member account gets: forwarding rules to the central bus and the remediator role.

Both come from the registry: the forwarding patterns are the union of the sources and detail types
that the remediations' triggers select, and the `snapback-remediator` role's trust and policy are
`snapback.member_role`'s (the same documents the demo installs in its moto organization).

`MemberResources` is one construct used twice: in `MemberStack`, whose template the security
account deploys through a service-managed StackSet to every account of the target OUs and Regions,
and in `ManagementAccountStack` (StackSets never deploy to the management account).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from snapback import registry
from snapback.config import Config
from snapback.member_role import member_caller_arns, permissions_policy, trust_policy
from stacks.nag import acknowledge

CENTRAL_BUS_NAME = "snapback"


def central_bus_arn(config: Config, partition: str = "aws") -> str:
    return f"arn:{partition}:events:{config.home_region}:{config.security_account}:event-bus/{CENTRAL_BUS_NAME}"


def forwarded_selectors() -> dict[str, list[str]]:
    """The sources and detail types the registered remediations listen to (one forwarding rule)."""
    sources: set[str] = set()
    detail_types: set[str] = set()
    for remediation in registry.all_remediations():
        for trigger in remediation.triggers:
            pattern: Mapping[str, Any] = trigger.pattern
            sources.update(str(s) for s in pattern.get("source", []) if isinstance(s, str))
            detail_types.update(str(d) for d in pattern.get("detail-type", []) if isinstance(d, str))
    return {"source": sorted(sources), "detail-type": sorted(detail_types)}


class MemberResources(Construct):
    """Forwarders (every Region) and the remediator role (home Region only: IAM is global)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        bus_arn = central_bus_arn(config, stack.partition)

        forward_role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Lets EventBridge put this account's security events on Snapback's central bus",
            inline_policies={
                "PutOnCentralBus": iam.PolicyDocument(
                    statements=[iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus_arn])]
                )
            },
        )
        # Events the central bus refused after a day of retries land here, in the member account.
        dlq = sqs.Queue(
            self,
            "ForwardDLQ",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        rule = events.CfnRule(
            self,
            "Forward",
            name="snapback-forward",  # fixed: the SCP guardrails protect rules named snapback-*
            description="Snapback: forward the events the registered remediations listen to",
            event_bus_name="default",
            state="ENABLED",
            event_pattern=forwarded_selectors(),
            targets=[
                events.CfnRule.TargetProperty(
                    id="snapback-central-bus",
                    arn=bus_arn,
                    role_arn=forward_role.role_arn,
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=86400, maximum_retry_attempts=185
                    ),
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dlq.queue_arn),
                )
            ],
        )
        dlq.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=[dlq.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.attr_arn}},
            )
        )
        acknowledge(
            dlq,
            "SQS3",
            "This queue is itself the dead-letter queue of the forwarding rule; a DLQ of a DLQ would only move the problem",
        )

        home = cdk.CfnCondition(self, "IsHomeRegion", expression=cdk.Fn.condition_equals(cdk.Aws.REGION, config.home_region))
        trust = trust_policy(member_caller_arns(config.security_account, stack.partition))
        role = iam.CfnRole(
            self,
            "RemediatorRole",
            role_name=config.member_role_name,
            description="Snapback remediator: assumed only by Snapback's function roles, with a SourceIdentity",
            assume_role_policy_document=trust,
            max_session_duration=3600,
            policies=[iam.CfnRole.PolicyProperty(policy_name="declared-by-remediations", policy_document=permissions_policy())],
        )
        role.cfn_options.condition = home
        self.remediator_role = role
        acknowledge(
            role,
            "IAM5",
            "The remediator acts on resources that appear at run time in any account of the organization "
            "(buckets, instances, keys, roles named by the event); each action is exactly one a registered "
            "remediation declares, and only Snapback's own function roles with a SourceIdentity can assume it",
            finding="Resource::*",
        )
        for action in sorted({a for a in registry.member_permissions() if "*" in a}):
            acknowledge(role, "IAM5", "A remediation declares this action family explicitly in its module", f"Action::{action}")


class MemberStack(cdk.Stack):
    """The StackSet template: synthesized without bootstrap resources or assets."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
            analytics_reporting=False,
            description="Snapback member account: forwarders to the central bus and the remediator role",
            **kwargs,
        )
        MemberResources(self, "Member", config=config)
