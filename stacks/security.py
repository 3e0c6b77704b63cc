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

from snapback import registry
from snapback.audit import AUDIT_INDEX_SORT_KEY, AUDIT_INDEXES
from snapback.config import Config
from snapback.member_role import CUSTOM_ACTIONS_ROLE, SWEEP_ROLE, remediator_role_name
from stacks.layers import ARCHITECTURE, RUNTIME, RUNTIME_REASON, powertools_layer_arn, runtime_library_layer
from stacks.member import CENTRAL_BUS_NAME
from stacks.nag import acknowledge
from stacks.observability import observe

ROOT = Path(__file__).resolve().parents[1]
TABLE_NAME = "snapback"
TOPIC_NAME = "snapback-alerts"
ORG_READER_ROLE = "snapback-org-reader"
# Remediations that walk many resources (instance isolation: snapshots, ENIs, ASG) get more time.
SLOW = {"ec2_isolate_instance": 300}
CUSTOM_ACTIONS = (
    ("SnapbackRemediate", "Snapback: remediate", "Run Snapback's remediation now (approval of a notify-mode finding)"),
    ("SnapbackUndo", "Snapback: undo", "Undo what Snapback did for this finding, from its audit record"),
)


def org_reader_role_arn(config: Config, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{config.management_account}:role/{ORG_READER_ROLE}"


class SecurityAccountStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config, member_template: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Snapback: event-driven auto-remediation (security account)", **kwargs)
        self.config = config
        self.key = self._key()
        self.bus = self._bus()
        self.table = self._table()
        self.topic = self._topic()
        self.chat_topic = self._chatbot()
        self.rule_dlq = self._queue("RuleDLQ", "Events a rule could not deliver to its function after retries")
        self.failures = self._queue("Failures", "Failed invocations and FAILED outcomes; `snapback redrive` replays them")
        self.layers = [
            runtime_library_layer(self, "RuntimeLibrary", ROOT / "layers"),
            lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_layer_arn(config.home_region)),
        ]
        self.functions = {r.name: self._remediation(r) for r in registry.all_remediations()}
        self._custom_actions()
        self.sweep = self._sweep()
        if config.notifications.slack_webhook_secret:
            self._slack_notifier(config.notifications.slack_webhook_secret)
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
        # Services that write to the encrypted topic and queues on Snapback's behalf.
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
    def _function_role(self, construct_id: str, role_name: str, log_group: logs.LogGroup) -> iam.Role:
        role = iam.Role(
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
        self.topic.grant_publish(role)
        if self.chat_topic is not None:
            self.chat_topic.grant_publish(role)
        self.failures.grant_send_messages(role)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeMemberRole",
                actions=["sts:AssumeRole", "sts:SetSourceIdentity"],
                resources=[
                    f"arn:{self.partition}:iam::*:role/{self.config.member_role_name}",
                    org_reader_role_arn(self.config, self.partition),
                ],
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
                actions=["securityhub:BatchImportFindings", "securityhub:BatchUpdateFindings"],
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
            environment={
                "SNAPBACK_CONFIG": self.config.to_json(),
                "SNAPBACK_TABLE": self.table.table_name,
                "SNAPBACK_TOPIC_ARN": self.topic.topic_arn,
                "SNAPBACK_DLQ_URL": self.failures.queue_url,
                "SNAPBACK_ORG_READER_ROLE_ARN": org_reader_role_arn(self.config, self.partition),
                **({"SNAPBACK_CHAT_TOPIC_ARN": self.chat_topic.topic_arn} if self.chat_topic is not None else {}),
                "POWERTOOLS_SERVICE_NAME": "snapback",
                "POWERTOOLS_METRICS_NAMESPACE": "Snapback",
                **environment,
            },
            **kwargs,
        )
        acknowledge(function, "L1", RUNTIME_REASON)
        return function

    def _remediation(self, remediation: Any) -> lambda_.Function:
        name = remediation.name
        cid = "".join(part.title() for part in name.split("_"))
        log_group = self._log_group(f"{cid}Logs")
        role = self._function_role(f"{cid}Role", remediator_role_name(name), log_group)
        function = self._function(
            cid,
            asset="remediate",
            role=role,
            log_group=log_group,
            description=f"Snapback remediation {name}: {remediation.summary}"[:256],
            environment={"SNAPBACK_REMEDIATION": name},
            timeout=cdk.Duration.seconds(SLOW.get(name, 60)),
            reserved_concurrent_executions=10,
            retry_attempts=2,
            max_event_age=cdk.Duration.hours(6),
            on_failure=destinations.SqsDestination(self.failures),
        )
        for trigger in remediation.triggers:
            rule = events.CfnRule(
                self,
                f"{cid}{''.join(p.title() for p in trigger.id.split('_'))}Rule",
                name=f"snapback-{name.replace('_', '-')}-{trigger.id}"[:64],
                description=f"Snapback {name}: {trigger.description}"[:512],
                event_bus_name=self.bus.event_bus_name,
                state="ENABLED",
                event_pattern=dict(trigger.pattern),
                targets=[
                    events.CfnRule.TargetProperty(
                        id=name[:64],
                        arn=function.function_arn,
                        retry_policy=events.CfnRule.RetryPolicyProperty(
                            maximum_event_age_in_seconds=21600, maximum_retry_attempts=8
                        ),
                        dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.rule_dlq.queue_arn),
                    )
                ],
            )
            function.add_permission(
                f"{rule.node.id}Invoke", principal=iam.ServicePrincipal("events.amazonaws.com"), source_arn=rule.attr_arn
            )
            self.rule_dlq.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["sqs:SendMessage"],
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    resources=[self.rule_dlq.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule.attr_arn}},
                )
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
            reserved_concurrent_executions=2,
            retry_attempts=0,
            on_failure=destinations.SqsDestination(self.failures),
        )
        arns = []
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
                            resources=[
                                f"arn:{self.partition}:securityhub:{self.region}:{self.account}:action/custom/{action_id}"
                            ],
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
        rule = events.Rule(
            self,
            "CustomActionsRule",
            description="Snapback: Security Hub custom actions Remediate and Undo",
            event_pattern=events.EventPattern(
                source=["aws.securityhub"], detail_type=["Security Hub Findings - Custom Action"], resources=arns
            ),
        )
        rule.add_target(_lambda_target(function, self.rule_dlq))
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
            # the schedule plus up to 4 batches at once (more wait in Lambda's queue); each is paced per account
            reserved_concurrent_executions=5,
            retry_attempts=0,  # the next scheduled sweep is the retry
            max_event_age=cdk.Duration.hours(1),
            on_failure=destinations.SqsDestination(self.failures),
        )
        rule = events.Rule(
            self,
            "SweepSchedule",
            rule_name="snapback-sweep",
            description=f"Snapback: reconciliation sweep, {settings.schedule}",
            schedule=events.Schedule.expression(settings.schedule),
            enabled=settings.enabled,
        )
        rule.add_target(_lambda_target(function, self.rule_dlq))
        return function

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
            reserved_concurrent_executions=1,
            environment={"SNAPBACK_SLACK_SECRET": secret.secret_arn, "POWERTOOLS_SERVICE_NAME": "snapback-notifier"},
        )
        acknowledge(function, "L1", RUNTIME_REASON)
        function.add_event_source(
            sources.SqsEventSource(
                queue, batch_size=50, max_batching_window=cdk.Duration.seconds(20), report_batch_item_failures=False
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


def _lambda_target(function: lambda_.IFunction, dlq: sqs.IQueue) -> events.IRuleTarget:
    from aws_cdk import aws_events_targets as targets

    return targets.LambdaFunction(function, dead_letter_queue=dlq, retry_attempts=8, max_event_age=cdk.Duration.hours(6))


def member_template_body(template: dict[str, Any]) -> str:
    return json.dumps(template, separators=(",", ":"), sort_keys=True)
