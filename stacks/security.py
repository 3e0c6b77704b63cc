"""The security account (delegated administrator), home Region: everything that decides and acts.

Generated from the registry: one function and one role per remediation (fixed role names, so the
member role's trust can pin them), one rule per trigger with the trigger's pattern verbatim.
Delivery never loses an event: every rule target has a retry policy and an SQS DLQ; every function's
asynchronous invocations have retries, a maximum age and an on-failure destination (throttled
invocations never reach the EventBridge DLQ); FAILED outcomes go to the same failure queue, and
`snapback redrive` replays them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudformation as cfn
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from snapback import membership, registry
from snapback.audit import AUDIT_INDEX_SORT_KEY, AUDIT_INDEXES
from snapback.config import Config
from snapback.member_role import CUSTOM_ACTIONS_ROLE, SWEEP_ROLE, remediator_role_name
from stacks import service_models
from stacks.layers import ARCHITECTURE, RUNTIME, RUNTIME_REASON, powertools_layer, runtime_library_layer
from stacks.member import CENTRAL_BUS_NAME, member_alarm_pattern
from stacks.nag import acknowledge
from stacks.observability import observe
from stacks.waf import attacker_blocklist

ROOT = Path(__file__).resolve().parents[1]
TABLE_NAME = "snapback"
TOPIC_NAME = "snapback-alerts"
ORG_READER_ROLE = "snapback-org-reader"
# Remediations that walk many resources (instance isolation: snapshots, ENIs, ASG) get more time.
SLOW = {"ec2_isolate_instance": 300}
# Lambda: "The total size of all environment variables doesn't exceed 4 KB"
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Tokens (ARNs, names) are
# counted at this generous length, so a config that fits here fits when deployed.
LAMBDA_ENV_MAX_BYTES = 4096
TOKEN_ESTIMATE = 160
# Lambda keeps 100 of the account's concurrency unreserved: "Lambda requires at least 100 units of
# unreserved concurrency" and new accounts may have a quota as low as 10
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html and gettingstarted-limits.html).
# So Snapback reserves nothing unless the operator states the account's quota (CDK context
# `snapback:concurrency_quota`) and a per-function reservation (`snapback:reserved_concurrency`).
UNRESERVED_MINIMUM = 100
CUSTOM_ACTIONS_RULE = "snapback-custom-actions"
SWEEP_RULE = "snapback-sweep"
MEMBERSHIP_RULE = "snapback-membership"
MEMBER_ALARMS_RULE = "snapback-member-alarms"
CUSTOM_ACTIONS = (
    ("SnapbackRemediate", "Snapback: remediate", "Run Snapback's remediation now (approval of a notify-mode finding)"),
    ("SnapbackUndo", "Snapback: undo", "Undo what Snapback did for this finding, from its audit record"),
)


def org_reader_role_arn(config: Config, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{config.management_account}:role/{ORG_READER_ROLE}"


def reserved_concurrency(context: Any, functions: int) -> int | None:
    """The per-function reservation from CDK context, validated against the stated account quota.

    Default (no context): None, no reservation, so a new account with a quota of 10 can deploy.
    With `snapback:reserved_concurrency` N, `snapback:concurrency_quota` Q must be given and
    N * functions <= Q - 100, or synth stops naming the fix.
    """
    raw = context("snapback:reserved_concurrency")
    if raw in (None, "", 0, "0"):
        return None
    quota_raw = context("snapback:concurrency_quota")
    try:
        each, quota = int(raw), int(quota_raw)
    except (TypeError, ValueError):
        raise ValueError(
            "context snapback:reserved_concurrency needs snapback:concurrency_quota (the account's Lambda concurrent "
            "executions quota, Service Quotas L-B99A9384); fix: pass both as integers or neither"
        ) from None
    total = each * functions
    if each < 1 or total > quota - UNRESERVED_MINIMUM:
        raise ValueError(
            f"reserved concurrency {each} x {functions} functions = {total} leaves less than {UNRESERVED_MINIMUM} of the "
            f"quota {quota} unreserved; fix: lower snapback:reserved_concurrency or raise the quota first"
        )
    return each


def environment_size(environment: dict[str, Any], resolve: Any = None) -> int:
    """Bytes of a function's environment as Lambda counts them (keys and values), tokens at TOKEN_ESTIMATE."""
    total = 0
    for key, value in environment.items():
        text = str(value)
        total += len(key.encode()) + (TOKEN_ESTIMATE if cdk.Token.is_unresolved(text) else len(text.encode()))
    return total


class SecurityAccountStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config, member_template: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Snapback: event-driven auto-remediation (security account)", **kwargs)
        self.config = config
        self._roles: dict[str, iam.Role] = {}  # function roles by name (shared: see snapback.member_role)
        self.key = self._key()
        self.bus = self._bus()
        self.table = self._table()
        self.topic = self._topic()
        self.chat_topic = self._chatbot()
        self.rule_dlq = self._rule_dlq()
        self.failures = self._queue("Failures", "Failed invocations and FAILED outcomes; `snapback redrive` replays them")
        self.layers = [
            runtime_library_layer(self, "RuntimeLibrary", ROOT / "layers"),
            powertools_layer(self, "Powertools"),
        ]
        self.concurrency = reserved_concurrency(
            self.node.try_get_context,
            len(registry.all_remediations()) + 2,  # + custom actions and the sweep
        )
        self.functions = {r.name: self._remediation(r) for r in registry.all_remediations()}
        self._custom_actions()
        self.sweep = self._sweep()
        # The attacker blocklist the WAF remediation writes (stacks/waf.py; other Regions: stacks/app.py).
        self.waf = attacker_blocklist(self, config)
        if config.notifications.slack_webhook_secret:
            self._slack_notifier(config.notifications.slack_webhook_secret)
        self._member_alarms()
        self._stack_set(member_template)
        # Keep this last: it alarms on every function, queue and rule it finds in the stack.
        self.dashboard = observe(self, self.topic)

    # -- shared resources ------------------------------------------------------------------------
    def _key(self) -> kms.Key:
        key = kms.Key(
            self,
            "Key",
            alias="alias/snapback",
            description="Snapback: SNS topic, SQS queues, audit table and Slack secret",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # Services that write to the encrypted topic and queues on Snapback's behalf: EventBridge (the
        # member-alarms rule targets the topic), CloudWatch (alarm actions), SNS (the Slack queue's
        # subscription). `aws:SourceAccount` against the confused deputy, as the SNS developer guide
        # documents for AWS service publishers (sns-key-management.html). The EventBridge DLQs use SSE-SQS
        # and need no key grant at all (issue 12 item 9).
        for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com", "sns.amazonaws.com"):
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{service.split('.')[0].title()}",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": self.account}},
                )
            )
        return key

    def _bus(self) -> events.EventBus:
        bus = events.EventBus(self, "CentralBus", event_bus_name=CENTRAL_BUS_NAME)
        bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationMembersOnly",
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[bus.event_bus_arn],
                conditions={"StringEquals": {"aws:PrincipalOrgID": self.config.organization_id}},
            )
        )
        return bus

    def _table(self) -> dynamodb.TableV2:
        return dynamodb.TableV2(
            self,
            "Table",
            table_name=TABLE_NAME,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True, recovery_period_in_days=35
            ),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(self.key),
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            # `snapback audit` queries these (newest first, paginated) instead of scanning the table.
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index,
                    partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name=AUDIT_INDEX_SORT_KEY, type=dynamodb.AttributeType.STRING),
                )
                for index, key in AUDIT_INDEXES.items()
            ],
        )

    def _topic(self) -> sns.Topic:
        topic = sns.Topic(self, "Topic", topic_name=TOPIC_NAME, display_name="Snapback", master_key=self.key, enforce_ssl=True)
        for address in self.config.notifications.email:
            topic.add_subscription(subscriptions.EmailSubscription(address))
        return topic

    def _chatbot(self) -> sns.Topic | None:
        """Amazon Q Developer in chat applications, when a workspace and channel are configured."""
        settings = self.config.notifications
        if not (settings.chatbot_slack_workspace_id and settings.chatbot_slack_channel_id):
            return None
        topic = sns.Topic(
            self,
            "ChatTopic",
            topic_name=f"{TOPIC_NAME}-chat",
            display_name="Snapback chat",
            master_key=self.key,
            enforce_ssl=True,
        )
        role = iam.Role(
            self,
            "ChatbotRole",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description="Amazon Q Developer in chat applications: delivers Snapback notifications, nothing else",
        )
        chatbot.SlackChannelConfiguration(
            self,
            "ChatbotSlack",
            slack_channel_configuration_name="snapback",
            slack_workspace_id=settings.chatbot_slack_workspace_id,
            slack_channel_id=settings.chatbot_slack_channel_id,
            notification_topics=[topic],
            role=role,
            # Channel members can read notifications but run nothing through the bot.
            guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AWSDenyAll")],
            logging_level=chatbot.LoggingLevel.ERROR,
        )
        return topic

    def _rule_dlq(self) -> sqs.Queue:
        """The dead-letter queue of every EventBridge rule target in this stack.

        SSE-SQS: EventBridge's DLQ delivery needs only the queue policy (no KMS key policy grant,
        whose conditions for target DLQs AWS does not document; eb-rule-dlq.html). One statement admits
        every Snapback rule of this account and Region by ARN pattern: an SQS policy holds at most 20
        statements (SQS quotas, "Policy ... Statements: 20",
        https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-policies.html),
        and one statement per rule overflowed at 25 rules (issue 12 item 1).
        """
        queue = sqs.Queue(
            self,
            "RuleDLQ",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        rules = f"arn:{self.partition}:events:{self.region}:{self.account}:rule"
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SnapbackRulesOnly",
                actions=["sqs:SendMessage"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=[queue.queue_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": [f"{rules}/{CENTRAL_BUS_NAME}/snapback-*", f"{rules}/snapback-*"]},
                    "StringEquals": {"aws:SourceAccount": self.account},
                },
            )
        )
        acknowledge(queue, "SQS3", "This queue is the rules' dead-letter queue itself; it is redriven, not re-dead-lettered")
        return queue

    def _rule(
        self,
        construct_id: str,
        name: str,
        function: lambda_.IFunction,
        *,
        description: str,
        bus: str | None = None,
        pattern: dict[str, Any] | None = None,
        schedule: str | None = None,
        enabled: bool = True,
    ) -> events.CfnRule:
        """A named rule (the SCP protects `rule/snapback-*` and `rule/snapback/*`) with retries and the DLQ."""
        rule = events.CfnRule(
            self,
            construct_id,
            name=name,
            description=description[:512],
            event_bus_name=bus,
            state="ENABLED" if enabled else "DISABLED",
            event_pattern=pattern,
            schedule_expression=schedule,
            targets=[
                events.CfnRule.TargetProperty(
                    id=name[:64],
                    arn=function.function_arn,
                    retry_policy=events.CfnRule.RetryPolicyProperty(maximum_event_age_in_seconds=21600, maximum_retry_attempts=8),
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.rule_dlq.queue_arn),
                )
            ],
        )
        function.add_permission(
            f"{construct_id}Invoke", principal=iam.ServicePrincipal("events.amazonaws.com"), source_arn=rule.attr_arn
        )
        return rule

    def _queue(self, construct_id: str, purpose: str) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(queue, "SQS3", f"This queue is a dead-letter queue itself ({purpose}); it is redriven, not re-dead-lettered")
        return queue

    # -- one function per remediation ------------------------------------------------------------
    def _function_role(
        self, construct_id: str, role_name: str, log_group: logs.LogGroup, *, enters_members: bool = True
    ) -> iam.Role:
        """The role `role_name`, made on first use; functions sharing it add their own log group."""
        if role_name in self._roles:
            role = self._roles[role_name]
            role.add_to_policy(
                iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn])
            )
            return role
        role = self._roles[role_name] = iam.Role(
            self,
            construct_id,
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Snapback function role; member roles trust this exact ARN",
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn])
        )
        self.table.grant_read_write_data(role)
        table_id = self.get_logical_id(self.table.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            role,
            "IAM5",
            "CDK's grant on Snapback's own table includes that table's audit indexes (by account, remediation, time)",
            f"Resource::<{table_id}.Arn>/index/*",
        )
        self.topic.grant_publish(role)
        if self.chat_topic is not None:
            self.chat_topic.grant_publish(role)
        self.failures.grant_send_messages(role)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOrganization",
                actions=["sts:AssumeRole"],
                resources=[org_reader_role_arn(self.config, self.partition)],
            )
        )
        if enters_members:
            # Only functions whose remediation declares member permissions (issue 12 item 6): the root
            # alert's role cannot enter a member account at all.
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="AssumeMemberRole",
                    actions=["sts:AssumeRole", "sts:SetSourceIdentity"],
                    resources=[f"arn:{self.partition}:iam::*:role/{self.config.member_role_name}"],
                )
            )
            acknowledge(
                role,
                "IAM5",
                "Member accounts join the organization at any time; the member role's trust pins this exact role ARN and "
                "requires a SourceIdentity, so the wildcard is the account id only",
                f"Resource::arn:<AWS::Partition>:iam::*:role/{self.config.member_role_name}",
            )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SecurityHubFindings",
                # BatchImportFindings is authorized on the product resource only (statement below).
                actions=["securityhub:BatchUpdateFindings"],
                resources=[f"arn:{self.partition}:securityhub:{self.region}:{self.account}:hub/default"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SecurityHubOwnProduct",
                actions=["securityhub:BatchImportFindings"],
                resources=[f"arn:{self.partition}:securityhub:{self.region}:{self.account}:product/{self.account}/default"],
            )
        )
        for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
            acknowledge(
                role,
                "IAM5",
                "CDK's grant on Snapback's own customer-managed key; the resource is that one key",
                f"Action::{action}",
            )
        return role

    def _log_group(self, construct_id: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=None,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _function(
        self,
        construct_id: str,
        *,
        asset: str,
        role: iam.Role,
        log_group: logs.LogGroup,
        environment: dict[str, str],
        **kwargs: Any,
    ) -> lambda_.Function:
        function = lambda_.Function(
            self,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(ROOT / "functions" / asset), exclude=["__pycache__", "*.pyc"]),
            layers=self.layers,
            role=role,
            log_group=log_group,
            memory_size=kwargs.pop("memory_size", 256),
            reserved_concurrent_executions=self.concurrency,
            environment=self._checked_environment(
                construct_id,
                {
                    "SNAPBACK_CONFIG": self.config.to_json(),
                    "SNAPBACK_TABLE": self.table.table_name,
                    "SNAPBACK_TOPIC_ARN": self.topic.topic_arn,
                    "SNAPBACK_DLQ_URL": self.failures.queue_url,
                    "SNAPBACK_ORG_READER_ROLE_ARN": org_reader_role_arn(self.config, self.partition),
                    **({"SNAPBACK_CHAT_TOPIC_ARN": self.chat_topic.topic_arn} if self.chat_topic is not None else {}),
                    "POWERTOOLS_SERVICE_NAME": "snapback",
                    "POWERTOOLS_METRICS_NAMESPACE": "Snapback",
                    # botocore reads the layer's trimmed service models first (stacks/service_models.py).
                    "AWS_DATA_PATH": f"/opt/{service_models.FOLDER}",
                    **environment,
                },
            ),
            **kwargs,
        )
        acknowledge(function, "L1", RUNTIME_REASON)
        return function

    @staticmethod
    def _checked_environment(construct_id: str, environment: dict[str, str]) -> dict[str, str]:
        """Stop synth before Lambda's 4 KB environment limit (the config grows with exemptions, item 12)."""
        size = environment_size(environment)
        if size > LAMBDA_ENV_MAX_BYTES:
            raise ValueError(
                f"{construct_id}: the Lambda environment would be about {size} bytes, over Lambda's {LAMBDA_ENV_MAX_BYTES}; "
                "SNAPBACK_CONFIG is most of it. fix: merge exemptions (one entry with several resource patterns), drop "
                "expired ones, or shorten reasons"
            )
        return environment

    def _remediation(self, remediation: Any) -> lambda_.Function:
        name = remediation.name
        cid = "".join(part.title() for part in name.split("_"))
        log_group = self._log_group(f"{cid}Logs")
        enters = bool(registry.permissions_of(name))
        role_name = remediator_role_name(name)
        role_id = "".join(part.title() for part in role_name.split("-")) + "Role"
        role = self._function_role(role_id, role_name, log_group, enters_members=enters)
        function = self._function(
            cid,
            asset="remediate",
            role=role,
            log_group=log_group,
            description=f"Snapback remediation {name}: {remediation.summary}"[:256],
            environment={"SNAPBACK_REMEDIATION": name},
            timeout=cdk.Duration.seconds(SLOW.get(name, 60)),
            retry_attempts=2,
            max_event_age=cdk.Duration.hours(6),
            on_failure=destinations.SqsDestination(self.failures),
        )
        for trigger in remediation.triggers:
            self._rule(
                f"{cid}{''.join(p.title() for p in trigger.id.split('_'))}Rule",
                registry.rule_name(name, trigger.id),
                function,
                description=f"Snapback {name}: {trigger.description}",
                bus=self.bus.event_bus_name,
                pattern=dict(trigger.pattern),
            )
        return function

    # -- Security Hub custom actions (human approval and undo) -----------------------------------
    def _custom_actions(self) -> None:
        log_group = self._log_group("CustomActionsLogs")
        role = self._function_role("CustomActionsRole", CUSTOM_ACTIONS_ROLE, log_group)
        function = self._function(
            "CustomActions",
            asset="custom_action",
            role=role,
            log_group=log_group,
            description="Snapback: Security Hub custom actions (remediate = approval, undo)",
            environment={},
            timeout=cdk.Duration.seconds(300),
            retry_attempts=0,
            on_failure=destinations.SqsDestination(self.failures),
        )
        arns = []
        # CreateActionTarget and DeleteActionTarget are authorized on the `hub` resource type, not on the
        # action target (Service Authorization Reference, AWS Security Hub: CreateActionTarget -> hub,
        # arn:${Partition}:securityhub:${Region}:${Account}:hub/default); issue 12 item 2.
        hub = f"arn:{self.partition}:securityhub:{self.region}:{self.account}:hub/default"
        for action_id, name, description in CUSTOM_ACTIONS:
            target = cr.AwsCustomResource(
                self,
                f"{action_id}Target",
                on_create=cr.AwsSdkCall(
                    service="SecurityHub",
                    action="createActionTarget",
                    parameters={"Name": name, "Description": description, "Id": action_id},
                    physical_resource_id=cr.PhysicalResourceId.from_response("ActionTargetArn"),
                ),
                on_delete=cr.AwsSdkCall(
                    service="SecurityHub",
                    action="deleteActionTarget",
                    parameters={"ActionTargetArn": cr.PhysicalResourceIdReference()},
                ),
                policy=cr.AwsCustomResourcePolicy.from_statements(
                    [
                        iam.PolicyStatement(
                            actions=["securityhub:CreateActionTarget", "securityhub:DeleteActionTarget"],
                            resources=[hub],
                        )
                    ]
                ),
                install_latest_aws_sdk=False,
            )
            arns.append(f"arn:{self.partition}:securityhub:{self.region}:{self.account}:action/custom/{action_id}")
            target.node.add_dependency(role)
        provider = self.node.find_child("AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", ""))
        acknowledge(
            provider,
            "IAM4",
            "CDK's AwsCustomResource provider (CloudFormation has no Security Hub ActionTarget resource) runs only at "
            "deploy time; its managed policy grants writing its own logs",
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
        self._rule(
            "CustomActionsRule",
            CUSTOM_ACTIONS_RULE,
            function,
            description="Snapback: Security Hub custom actions Remediate and Undo",
            pattern={"source": ["aws.securityhub"], "detail-type": ["Security Hub Findings - Custom Action"], "resources": arns},
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeRemediationRoles",
                actions=["sts:AssumeRole", "sts:SetSourceIdentity"],
                resources=[f"arn:{self.partition}:iam::*:role/{self.config.member_role_name}"],
            )
        )

    # -- the reconciliation sweep (CloudTrail events are best effort) -----------------------------
    def _sweep(self) -> lambda_.Function:
        """Every account and Region on a schedule, through the same member role and decision path."""
        settings = self.config.sweep
        log_group = self._log_group("SweepLogs")
        role = self._function_role("SweepRole", SWEEP_ROLE, log_group)
        function_name = "snapback-sweep"
        # Fan-out: the scheduled invocation hands batches of accounts to this same function.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="FanOutToItself",
                actions=["lambda:InvokeFunction"],
                resources=[f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{function_name}"],
            )
        )
        function = self._function(
            "Sweep",
            function_name=function_name,
            asset="sweep",
            role=role,
            log_group=log_group,
            description="Snapback: reconciliation sweep of every account and Region (violations no event announced)",
            environment={},
            memory_size=512,
            timeout=cdk.Duration.seconds(900),
            retry_attempts=0,  # the next scheduled sweep is the retry
            max_event_age=cdk.Duration.hours(1),
            on_failure=destinations.SqsDestination(self.failures),
        )
        self._rule(
            "SweepSchedule",
            SWEEP_RULE,
            function,
            description=f"Snapback: reconciliation sweep, {settings.schedule}",
            schedule=settings.schedule,
            enabled=settings.enabled,
        )
        # Organizations membership changes refresh the membership cache at once (snapback.membership):
        # the same function, which already reads the organization and writes Snapback's table, so the
        # rule needs no grant beyond its invoke permission. Enabled even when the schedule is not.
        self._rule(
            "MembershipRule",
            MEMBERSHIP_RULE,
            function,
            description="Snapback: an account joined, left or moved: refresh the cached organization membership",
            bus=self.bus.event_bus_name,
            pattern=membership.rule_pattern(),
        )
        return function

    # -- member-side alarms arrive as forwarded events ----------------------------------------------
    def _member_alarms(self) -> None:
        """Page the alerts topic when a member forwarder's alarm fires (forwarded to the central bus)."""
        rule = events.CfnRule(
            self,
            "MemberAlarmsRule",
            name=MEMBER_ALARMS_RULE,
            description="Snapback: a member account's forwarder alarm (DLQ, failed or undeliverable events)",
            event_bus_name=self.bus.event_bus_name,
            state="ENABLED",
            event_pattern=member_alarm_pattern(),
            targets=[
                events.CfnRule.TargetProperty(
                    id="alerts-topic",
                    arn=self.topic.topic_arn,
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=86400, maximum_retry_attempts=185
                    ),
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.rule_dlq.queue_arn),
                )
            ],
        )
        # EventBridge publishes to an SNS target under the topic policy (eb-use-resource-based.html#eb-sns-permissions).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MemberAlarmsRule",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.attr_arn}},
            )
        )

    # -- Slack ------------------------------------------------------------------------------------
    def _slack_notifier(self, secret_name: str) -> None:
        secret = secretsmanager.Secret(
            self,
            "SlackWebhook",
            secret_name=secret_name,
            description="Slack incoming webhook URL for Snapback; set its value after the first deploy",
            encryption_key=self.key,
        )
        acknowledge(
            secret,
            "SMG4",
            "A Slack incoming webhook URL cannot be rotated by a Lambda rotator; it is re-issued in Slack and pasted here",
        )
        dlq = self._queue("SlackDLQ", "Slack notifications that failed after retries")
        queue = sqs.Queue(
            self,
            "SlackQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            visibility_timeout=cdk.Duration.seconds(360),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=5),
        )
        self.topic.add_subscription(subscriptions.SqsSubscription(queue, raw_message_delivery=True))
        log_group = self._log_group("SlackNotifierLogs")
        role = iam.Role(self, "SlackNotifierRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn])
        )
        secret.grant_read(role)
        function = lambda_.Function(
            self,
            "SlackNotifier",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(ROOT / "functions" / "notifier"), exclude=["__pycache__", "*.pyc"]),
            layers=self.layers,
            role=role,
            log_group=log_group,
            description="Snapback: Block Kit messages to Slack, paced and digested",
            timeout=cdk.Duration.seconds(60),
            memory_size=256,
            environment={"SNAPBACK_SLACK_SECRET": secret.secret_arn, "POWERTOOLS_SERVICE_NAME": "snapback-notifier"},
        )
        acknowledge(function, "L1", RUNTIME_REASON)
        function.add_event_source(
            sources.SqsEventSource(
                queue,
                batch_size=50,
                max_batching_window=cdk.Duration.seconds(20),
                report_batch_item_failures=False,
                # The event source mapping's own cap, not reserved concurrency: a reservation of 1 behind
                # an SQS mapping throttles the poller's invocations, and throttled batches count as
                # receives until they land in the DLQ (issue 12 item 10). 2 is the smallest allowed value
                # (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html#events-sqs-max-concurrency).
                max_concurrency=2,
            )
        )

    # -- the member StackSet ----------------------------------------------------------------------
    def _stack_set(self, template: str) -> None:
        # Member trust policies name the function roles: IAM rejects a principal that does not exist yet.
        stack_set = cfn.CfnStackSet(
            self,
            "MemberStackSet",
            stack_set_name="snapback-member",
            description="Snapback member account: forwarders and the remediator role",
            permission_model="SERVICE_MANAGED",
            call_as="DELEGATED_ADMIN",
            auto_deployment=cfn.CfnStackSet.AutoDeploymentProperty(enabled=True, retain_stacks_on_account_removal=False),
            managed_execution={"Active": True},
            capabilities=["CAPABILITY_NAMED_IAM"],
            operation_preferences=cfn.CfnStackSet.OperationPreferencesProperty(
                failure_tolerance_percentage=10, max_concurrent_percentage=25, region_concurrency_type="PARALLEL"
            ),
            stack_instances_group=[
                cfn.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cfn.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(self.config.target_ous)
                    ),
                    regions=list(self.config.regions),
                )
            ],
            template_body=template,
        )
        for function in self.functions.values():
            if function.role is not None:
                stack_set.node.add_dependency(function.role)
        # The sweep's and the custom actions' roles are in the member trust too.
        stack_set.node.add_dependency(self.node.find_child("SweepRole"), self.node.find_child("CustomActionsRole"))


def member_template_body(template: dict[str, Any]) -> str:
    return json.dumps(template, separators=(",", ":"), sort_keys=True)
