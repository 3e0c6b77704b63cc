"""Alarms and the `snapback` dashboard of the security account, found by walking the stack.

`observe(stack, topic)` runs last in `SecurityAccountStack`: it walks the stack's constructs, so a
function, queue or rule added later (the reconciliation sweep, a new remediation) is covered
without an edit here. Every alarm publishes to the alerts topic, treats missing data as not
breaching (most of these metrics only exist when something went wrong), and its description says
what to do.

What is watched, and why:
- every Lambda function: `Errors` > 0 and `Throttles` > 0 (two standard alarms);
- every terminal queue (one without a dead-letter queue of its own: the rule DLQ, the failure
  queue, the Slack DLQ - cdk-nag SQS3 makes every other queue have one): messages visible > 0;
- every EventBridge rule: `FailedInvocations` > 0 and `InvocationsFailedToBeSentToDlq` > 0, with
  `EventBusName` and `RuleName` for rules on
  a custom bus and `RuleName` alone on the default bus (the AWS/Events dimensions);
- `BreakerTrips` and `SweepErrors` in namespace `Snapback`, emitted without dimensions of their
  own; but Powertools adds `service` = `POWERTOOLS_SERVICE_NAME` to every metric it emits, so each
  alarm sums the bare metric and the metric per service name in `SERVICES` (metric math, FILL to
  0). The synthesized environments cannot be read back from an L2 function here, so
  tests/infra/test_observability.py checks that `SERVICES` names every function that runs the
  Snapback runtime.

Cost (us-east-1 list price, $0.10 per standard-resolution metric per alarm per month): one per
queue, two per function, one per rule, and 1 + len(SERVICES) for each custom metric; the dashboard is $3 per month beyond the free three. `alarm_count(stack)` gives the total.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

DASHBOARD_NAME = "snapback"
ALARM_PREFIX = "snapback"
NAMESPACE = "Snapback"
SERVICES = ("snapback",)  # POWERTOOLS_SERVICE_NAME of the functions that emit Snapback metrics
CUSTOM_METRICS = {
    "BreakerTrips": (
        "The blast-radius breaker opened a scope: Snapback now only notifies there. Find the scope with "
        "`snapback breaker status`, check the audit (`snapback audit --outcome NOTIFIED`) for a runaway trigger or an "
        "attack, then close it with `snapback breaker reset SCOPE`."
    ),
    "SweepErrors": (
        "The reconciliation sweep could not check some accounts or Regions (role missing, access denied, throttling): "
        "missed CloudTrail events there stay unremediated. Find them in the sweep function's log group with Logs Insights "
        '(`filter level = "ERROR" | stats count() by account, region, error`), fix the member role or StackSet instance, '
        "and let the next scheduled sweep run."
    ),
}
PERIOD = cdk.Duration.minutes(5)
MAX_ALARM_NAME = 255


@dataclass(frozen=True)
class Function:
    name: str  # readable: the construct path inside the stack
    resource: lambda_.CfnFunction


@dataclass(frozen=True)
class Queue:
    name: str
    resource: sqs.CfnQueue
    source: sqs.CfnQueue | None  # the work queue that dead-letters into this one, if any


@dataclass(frozen=True)
class Rule:
    name: str
    resource: events.CfnRule
    dimensions: dict[str, str]


def observe(stack: cdk.Stack, topic: sns.ITopic, services: tuple[str, ...] = SERVICES) -> cw.Dashboard:
    """Alarms for every function, terminal queue and rule of `stack`, custom metric alarms, the dashboard."""
    scope = Construct(stack, "Observability")
    action = cw_actions.SnsAction(topic)
    _let_alarms_publish(stack, topic)
    functions, queues, rules = list(functions_of(stack)), list(terminal_queues_of(stack)), list(rules_of(stack))
    alarms: list[cw.Alarm] = []
    for fn in functions:
        for metric_name, what in (("Errors", "raised errors"), ("Throttles", "was throttled")):
            alarms.append(
                _alarm(
                    scope,
                    f"{metric_name}{_cid(fn.name)}",
                    f"{metric_name.lower()}-{fn.name}",
                    _lambda_metric(fn, metric_name, "Sum", label=None),
                    _function_runbook(fn, metric_name, what),
                )
            )
    for queue in queues:
        alarms.append(
            _alarm(
                scope,
                f"Depth{_cid(queue.name)}",
                f"dlq-{queue.name}",
                cw.Metric(
                    namespace="AWS/SQS",
                    metric_name="ApproximateNumberOfMessagesVisible",
                    dimensions_map={"QueueName": queue.resource.attr_queue_name},
                    statistic="Maximum",
                    period=PERIOD,
                ),
                _queue_runbook(queue),
            )
        )
    for rule in rules:
        alarms.append(
            _alarm(
                scope,
                f"Failed{_cid(rule.name)}",
                f"rule-failed-{rule.name}",
                _rule_metric(rule, "FailedInvocations"),
                f"EventBridge rule {rule.name} could not deliver events to its target after all retries (FailedInvocations). "
                "Check the target's resource policy and existence, then replay what the rule DLQ holds: "
                "`snapback redrive --queue <rule DLQ name>`.",
            )
        )
    for rule in rules:
        # Delivery to the DLQ itself can fail (queue policy, encryption, deleted queue): the event is
        # then lost with no trace but this metric (EventBridge User Guide, eb-rule-dlq.html, metrics
        # InvocationsSentToDlq / InvocationsFailedToBeSentToDlq; issue 12 item 9).
        alarms.append(
            _alarm(
                scope,
                f"DlqFailed{_cid(rule.name)}",
                f"rule-dlq-failed-{rule.name}",
                _rule_metric(rule, "InvocationsFailedToBeSentToDlq"),
                f"EventBridge rule {rule.name} could not put failed events into its dead-letter queue "
                "(InvocationsFailedToBeSentToDlq): those events are lost. Check the DLQ exists and its queue policy admits "
                "events.amazonaws.com for this rule, then run `snapback doctor` and let the next sweep catch up.",
            )
        )
    for metric_name, runbook in CUSTOM_METRICS.items():
        alarms.append(_alarm(scope, metric_name, metric_name, custom_metric(metric_name, services), runbook))
    for alarm in alarms:
        alarm.add_alarm_action(action)
    return _dashboard(scope, functions, queues, rules, services, alarms)


def alarm_count(stack: cdk.Stack) -> int:
    return sum(1 for c in stack.node.find_all() if isinstance(c, cw.CfnAlarm))


# -- discovery -------------------------------------------------------------------------------------
def _readable(stack: cdk.Stack, node: IConstruct) -> str:
    """The construct path inside the stack, without the L2 wrapper's `Resource`."""
    parts = node.node.path.split("/")[1:]
    if parts and parts[-1] == "Resource" and len(parts) > 1:
        parts = parts[:-1]
    return "-".join(parts)


def functions_of(stack: cdk.Stack) -> Iterator[Function]:
    for node in stack.node.find_all():
        if isinstance(node, lambda_.CfnFunction):
            yield Function(_readable(stack, node), node)


def terminal_queues_of(stack: cdk.Stack) -> Iterator[Queue]:
    """Queues with no dead-letter queue of their own: what lands there waits for a person."""
    all_queues = [n for n in stack.node.find_all() if isinstance(n, sqs.CfnQueue)]
    feeds: dict[str, sqs.CfnQueue] = {}
    for queue in all_queues:
        policy = stack.resolve(queue.redrive_policy) if queue.redrive_policy is not None else None
        if isinstance(policy, dict) and "deadLetterTargetArn" in policy:
            feeds[_key(stack, policy["deadLetterTargetArn"])] = queue
    for queue in all_queues:
        if queue.redrive_policy is None:
            yield Queue(_readable(stack, queue), queue, feeds.get(_key(stack, queue.attr_arn)))


def rules_of(stack: cdk.Stack) -> Iterator[Rule]:
    for node in stack.node.find_all():
        if not isinstance(node, events.CfnRule):
            continue
        bus = node.event_bus_name
        on_default = bus is None or bus == "default"
        if isinstance(node.name, str) and not cdk.Token.is_unresolved(node.name):
            name: str = node.name
        else:  # the rule ARN ends in rule/NAME on the default bus, rule/BUS/NAME on a custom bus
            name = cdk.Fn.select(1 if on_default else 2, cdk.Fn.split("/", node.attr_arn))
        dimensions = {"RuleName": name} if on_default else {"EventBusName": str(bus), "RuleName": name}
        yield Rule(_readable(stack, node), node, dimensions)


def custom_metric(metric_name: str, services: tuple[str, ...]) -> cw.MathExpression:
    """`metric_name` in namespace Snapback whatever `service` dimension Powertools gave it, summed."""
    prefix = metric_name.lower()  # ids are unique per graph, and two of these share one
    using: dict[str, cw.IMetric] = {
        f"{prefix}_bare": cw.Metric(namespace=NAMESPACE, metric_name=metric_name, statistic="Sum", period=PERIOD)
    }
    for i, service in enumerate(services):
        using[f"{prefix}_s{i}"] = cw.Metric(
            namespace=NAMESPACE, metric_name=metric_name, dimensions_map={"service": service}, statistic="Sum", period=PERIOD
        )
    return cw.MathExpression(
        expression=" + ".join(f"FILL({k}, 0)" for k in using), using_metrics=using, label=metric_name, period=PERIOD
    )


def _key(stack: cdk.Stack, token: Any) -> str:
    return repr(stack.resolve(token))


def _cid(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


# -- alarms ----------------------------------------------------------------------------------------
def _alarm(scope: Construct, construct_id: str, name: str, metric: cw.IMetric, runbook: str) -> cw.Alarm:
    return cw.Alarm(
        scope,
        construct_id,
        alarm_name=f"{ALARM_PREFIX}-{name}"[:MAX_ALARM_NAME],
        alarm_description=runbook if cdk.Token.is_unresolved(runbook) else runbook[:1024],
        metric=metric,
        threshold=0,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
    )


def _lambda_metric(fn: Function, metric_name: str, statistic: str, label: str | None = "") -> cw.Metric:
    return cw.Metric(
        namespace="AWS/Lambda",
        metric_name=metric_name,
        dimensions_map={"FunctionName": fn.resource.ref},
        statistic=statistic,
        period=PERIOD,
        label=fn.name if label == "" else label,
    )


def _rule_metric(rule: Rule, metric_name: str) -> cw.Metric:
    return cw.Metric(
        namespace="AWS/Events", metric_name=metric_name, dimensions_map=rule.dimensions, statistic="Sum", period=PERIOD
    )


def _function_runbook(fn: Function, metric_name: str, what: str) -> str:
    if metric_name == "Throttles":
        return (
            f"Snapback function {fn.name} {what}: more events than the account's (or its reserved) concurrency. Lambda retries throttled "
            "asynchronous events for up to the maximum event age, then sends them to the failure queue. Look for a burst "
            "or a loop in the Outcome metrics of the dashboard; if the load is legitimate, raise the account's Lambda concurrency "
            "quota (docs/DEPLOY.md); "
            "then `snapback redrive --queue <failure queue name>`."
        )
    return (
        f"Snapback function {fn.name} {what}: invocations failed (unhandled exception or timeout). Lambda retries them, "
        "then sends them to the failure queue. Read the function's log group (level ERROR), fix the cause, then "
        "`snapback redrive --queue <failure queue name>`."
    )


def _queue_runbook(queue: Queue) -> str:
    if queue.source is not None:
        return cdk.Fn.join(
            "",
            [
                f"Dead-letter queue {queue.name} holds messages its source queue could not process after retries. Read the "
                "consumer's log group, fix the cause, then move them back: `aws sqs start-message-move-task --source-arn ",
                queue.resource.attr_arn,
                "`.",
            ],
        )
    return cdk.Fn.join(
        "",
        [
            f"Queue {queue.name} holds events Snapback could not process (failed deliveries, failed invocations or FAILED "
            "outcomes); nothing was remediated for them. Read one with `snapback redrive --dry-run --queue ",
            queue.resource.attr_queue_name,
            "`, fix the cause, then `snapback redrive --queue ",
            queue.resource.attr_queue_name,
            "`.",
        ],
    )


def _let_alarms_publish(stack: cdk.Stack, topic: sns.ITopic) -> None:
    """CloudWatch publishes alarm notifications as cloudwatch.amazonaws.com, only for this account's Snapback alarms.

    The topic policy CDK writes (enforce SSL) replaces SNS's default policy, so the service needs its
    own grant; the topic's KMS key already admits the service (see SecurityAccountStack._key).
    """
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarms",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:{ALARM_PREFIX}-*"
                },
            },
        )
    )


# -- dashboard -------------------------------------------------------------------------------------
def _dashboard(
    scope: Construct,
    functions: list[Function],
    queues: list[Queue],
    rules: list[Rule],
    services: tuple[str, ...],
    alarms: list[cw.Alarm],
) -> cw.Dashboard:
    wide, half = 24, 12
    outcome_search = f"SEARCH('Namespace=\"{NAMESPACE}\" MetricName=\"Outcome\"', 'Sum', 300)"
    failed_search = f'SEARCH(\'Namespace="{NAMESPACE}" MetricName="Outcome" outcome="FAILED"\', \'Sum\', 300)'
    dashboard = cw.Dashboard(scope, "Dashboard", dashboard_name=DASHBOARD_NAME, default_interval=cdk.Duration.hours(24))
    dashboard.add_widgets(
        cw.TextWidget(
            markdown="# Snapback\nEvery alarm's description says what to do. Failed work waits in the queues below: "
            "`snapback redrive --queue NAME` replays it; `snapback breaker status` lists open breakers.",
            width=wide,
            height=2,
        )
    )
    dashboard.add_widgets(
        cw.GraphWidget(
            title="Outcomes by remediation",
            left=[cw.MathExpression(expression=outcome_search, label="", period=PERIOD)],
            width=half,
            stacked=True,
        ),
        cw.GraphWidget(
            title="FAILED outcomes by remediation",
            left=[cw.MathExpression(expression=failed_search, label="", period=PERIOD)],
            width=half,
        ),
    )
    dashboard.add_widgets(
        cw.GraphWidget(title="Function errors", left=[_lambda_metric(f, "Errors", "Sum") for f in functions], width=8),
        cw.GraphWidget(title="Function throttles", left=[_lambda_metric(f, "Throttles", "Sum") for f in functions], width=8),
        cw.GraphWidget(
            title="Function duration (p99, ms)", left=[_lambda_metric(f, "Duration", "p99") for f in functions], width=8
        ),
    )
    dashboard.add_widgets(
        cw.GraphWidget(
            title="Dead-letter and failure queues: messages waiting",
            left=[
                cw.Metric(
                    namespace="AWS/SQS",
                    metric_name="ApproximateNumberOfMessagesVisible",
                    dimensions_map={"QueueName": q.resource.attr_queue_name},
                    statistic="Maximum",
                    period=PERIOD,
                    label=q.name,
                )
                for q in queues
            ],
            width=8,
        ),
        cw.GraphWidget(
            title="Breaker trips and sweep errors",
            left=[custom_metric(name, services) for name in CUSTOM_METRICS],
            width=8,
        ),
        cw.AlarmStatusWidget(title="Alarms", alarms=alarms, width=8, height=6),
    )
    rule_metrics = [(r, _rule_metric(r, "FailedInvocations"), _rule_metric(r, "Invocations")) for r in rules]
    dashboard.add_widgets(
        cw.GraphWidget(
            title="Rule failed invocations",
            left=[m.with_(label=r.name) for r, m, _ in rule_metrics],
            width=half,
        ),
        cw.GraphWidget(
            title="Rule invocations",
            left=[m.with_(label=r.name) for r, _, m in rule_metrics],
            width=half,
        ),
    )
    return dashboard
