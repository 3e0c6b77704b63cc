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
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from snapback import membership, registry
from snapback.config import Config
from snapback.member_role import member_caller_arns, permissions_policy, trust_policy
from stacks.guardrails import CENTRAL_BUS, FORWARDER_ROLE_PREFIX
from stacks.nag import acknowledge

CENTRAL_BUS_NAME = CENTRAL_BUS
FORWARD_RULE_NAME = "snapback-forward"
FORWARD_DLQ_PREFIX = "snapback-forward-dlq"
# Member alarm names start with this; the central bus's member-alarms rule matches it.
MEMBER_ALARM_PREFIX = "snapback-member"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"


def central_bus_arn(config: Config, partition: str = "aws") -> str:
    return f"arn:{partition}:events:{config.home_region}:{config.security_account}:event-bus/{CENTRAL_BUS_NAME}"


def forwarded_selectors() -> dict[str, list[str]]:
    """The sources and detail types the registered remediations and the membership rule listen to
    (one forwarding rule)."""
    sources: set[str] = set()
    detail_types: set[str] = set()
    # The membership rule's events too (snapback.membership; the management account's forwarder).
    patterns: list[Mapping[str, Any]] = [membership.rule_pattern()]
    patterns += [trigger.pattern for remediation in registry.all_remediations() for trigger in remediation.triggers]
    for pattern in patterns:
        sources.update(str(s) for s in pattern.get("source", []) if isinstance(s, str))
        detail_types.update(str(d) for d in pattern.get("detail-type", []) if isinstance(d, str))
    return {"source": sorted(sources), "detail-type": sorted(detail_types)}


def member_alarm_pattern() -> dict[str, Any]:
    """Snapback's own member alarms going into ALARM (forwarded so the security account pages)."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": [ALARM_DETAIL_TYPE],
        "detail": {"alarmName": [{"prefix": MEMBER_ALARM_PREFIX}], "state": {"value": ["ALARM"]}},
    }


def forwarded_pattern() -> dict[str, Any]:
    """The forwarding rule's pattern: the triggers' selectors, or Snapback's own member alarms."""
    return {"$or": [forwarded_selectors(), member_alarm_pattern()]}


class MemberResources(Construct):
    """Forwarders (every Region) and the remediator role (home Region only: IAM is global)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, permissions_boundary: str | None = None) -> None:
        """`permissions_boundary`: the ARN of the forwarder role's boundary (the management account's
        stacks: SCPs never apply there, so its principals carry `snapback-management-boundary`)."""
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        bus_arn = central_bus_arn(config, stack.partition)

        # A fixed name, so the SCP guardrails protect it (`role/snapback-*`, issue 12 item 7); one per
        # Region because IAM names are global and the StackSet deploys this template in every Region.
        forward_role = iam.Role(
            self,
            "ForwardRole",
            role_name=cdk.Fn.join("-", [FORWARDER_ROLE_PREFIX, cdk.Aws.REGION]),
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Lets EventBridge put this account's security events on Snapback's central bus",
            permissions_boundary=(
                iam.ManagedPolicy.from_managed_policy_arn(self, "Boundary", permissions_boundary)
                if permissions_boundary
                else None
            ),
            inline_policies={
                "PutOnCentralBus": iam.PolicyDocument(
                    statements=[iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus_arn])]
                )
            },
        )
        # Events the central bus refused after a day of retries land here, in the member account.
        # SSE-SQS, not a customer managed key: EventBridge delivers to an SSE-SQS DLQ with nothing more
        # than the queue policy below, while a KMS-encrypted DLQ needs a key policy grant for
        # events.amazonaws.com (EventBridge User Guide, "Using dead-letter queues", eb-rule-dlq.html;
        # SQS SSE: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-server-side-encryption.html).
        dlq = sqs.Queue(
            self,
            "ForwardDLQ",
            queue_name=cdk.Fn.join("-", [FORWARD_DLQ_PREFIX, cdk.Aws.REGION]),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        rule = events.CfnRule(
            self,
            "Forward",
            name=FORWARD_RULE_NAME,  # fixed: the SCP guardrails protect rules named snapback-*
            description="Snapback: forward the events the registered remediations listen to",
            event_bus_name="default",
            state="ENABLED",
            event_pattern=forwarded_pattern(),
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
        # Member-side alarms (issue 12 item 7): their state changes are AWS events on this account's
        # default bus, which the forwarding rule above sends to the central bus, where a rule pages the
        # alerts topic. If the forwarder itself is broken they cannot arrive: `snapback doctor` checks
        # every account's forwarder, and the SCP guardrails keep member admins from breaking it.
        rule_dims = {"RuleName": FORWARD_RULE_NAME}
        for cid, metric, dims, stat in (
            ("ForwardDLQDepth", "ApproximateNumberOfMessagesVisible", None, "Maximum"),
            ("ForwardFailed", "FailedInvocations", rule_dims, "Sum"),
            ("ForwardDLQFailed", "InvocationsFailedToBeSentToDlq", rule_dims, "Sum"),
        ):
            namespace = "AWS/SQS" if dims is None else "AWS/Events"
            cloudwatch.Alarm(
                self,
                cid,
                alarm_name=cdk.Fn.join("-", [MEMBER_ALARM_PREFIX, cid, cdk.Aws.REGION]),
                alarm_description=f"Snapback member forwarder: {metric} > 0; run `snapback doctor` and read the forward DLQ",
                metric=cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=metric,
                    dimensions_map=dims or {"QueueName": dlq.queue_name},
                    statistic=stat,
                    period=cdk.Duration.minutes(5),
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
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
