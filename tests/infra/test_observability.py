"""Alarms and dashboard, read from the real synthesized template (one `cdk synth` per session).

Everything is derived from the template itself (functions, queues, rules, environments), so a
function, queue or rule added later must be covered without an edit here.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from snapback.config import Breaker
from tests.infra.test_stacks import out, resources, template  # noqa: F401 - `out` is the session synth fixture

STACK = "SnapbackSecurityAccount"


@pytest.fixture(scope="module")
def tpl(out) -> dict[str, Any]:  # noqa: F811 - the imported fixture
    return template(out, STACK)


def alarms(tpl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources(tpl, "AWS::CloudWatch::Alarm").items()}


def stats(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every metric an alarm reads, single or metric math."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])})]
    out_ = []
    for query in alarm.get("Metrics", []):
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            out_.append(
                (metric["Namespace"], metric["MetricName"], {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])})
            )
    return out_


def alarmed(tpl: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [s for a in alarms(tpl).values() for s in stats(a)]


def test_every_alarm_pages_the_alerts_topic_ignores_missing_data_and_says_what_to_do(tpl):
    ((topic_id, _),) = [
        (k, t) for k, t in resources(tpl, "AWS::SNS::Topic").items() if t["Properties"]["TopicName"] == "snapback-alerts"
    ]
    found = alarms(tpl)
    assert len(found) >= 40
    names = [a["AlarmName"] for a in found.values()]
    assert len(set(names)) == len(names) and all(n.startswith("snapback-") for n in names)
    for logical_id, alarm in found.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], logical_id
        assert alarm["TreatMissingData"] == "notBreaching", logical_id
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0), logical_id
        assert "`" in json.dumps(alarm["AlarmDescription"]), f"{logical_id}: the description needs a command to run"


def test_every_function_has_an_errors_and_a_throttles_alarm(tpl):
    functions = resources(tpl, "AWS::Lambda::Function")
    assert len(functions) >= 12
    seen = alarmed(tpl)
    for logical_id in functions:
        for metric in ("Errors", "Throttles"):
            assert ("AWS/Lambda", metric, {"FunctionName": {"Ref": logical_id}}) in seen, (logical_id, metric)


def test_every_terminal_queue_has_a_depth_alarm_and_work_queues_have_none(tpl):
    queues = resources(tpl, "AWS::SQS::Queue")
    seen = alarmed(tpl)
    terminal = [q for q, v in queues.items() if "RedrivePolicy" not in v["Properties"]]
    assert len(terminal) >= 2  # the rule DLQ and the failure queue at least
    for logical_id in queues:
        depth = ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": {"Fn::GetAtt": [logical_id, "QueueName"]}})
        assert (depth in seen) == (logical_id in terminal), logical_id
    # Every queue something dead-letters into is terminal, so it is watched.
    targets = [
        t["DeadLetterConfig"]["Arn"]
        for r in resources(tpl, "AWS::Events::Rule").values()
        for t in r["Properties"].get("Targets", [])
        if "DeadLetterConfig" in t
    ] + [
        c["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
        for c in resources(tpl, "AWS::Lambda::EventInvokeConfig").values()
        if "OnFailure" in c["Properties"].get("DestinationConfig", {})
    ]
    assert targets and all(t["Fn::GetAtt"][0] in terminal for t in targets)


def test_every_rule_has_a_failed_invocations_alarm_with_the_dimensions_of_its_bus(tpl):
    rules = resources(tpl, "AWS::Events::Rule")
    failed = [dims for ns, name, dims in alarmed(tpl) if (ns, name) == ("AWS/Events", "FailedInvocations")]
    assert len(failed) == len(rules) >= 20
    lost = [dims for ns, name, dims in alarmed(tpl) if (ns, name) == ("AWS/Events", "InvocationsFailedToBeSentToDlq")]
    assert sorted(map(str, lost)) == sorted(map(str, failed))  # item 9: a DLQ that cannot be written pages too
    for logical_id, rule in rules.items():
        props = rule["Properties"]
        bus = props.get("EventBusName")
        on_custom_bus = bus is not None and bus != "default"
        arn_index = 2 if on_custom_bus else 1  # rule/BUS/NAME or rule/NAME
        name = props.get("Name") or {"Fn::Select": [arn_index, {"Fn::Split": ["/", {"Fn::GetAtt": [logical_id, "Arn"]}]}]}
        expected = {"EventBusName": bus, "RuleName": name} if on_custom_bus else {"RuleName": name}
        assert expected in failed, logical_id
    # The central bus's rules are on the custom bus, the custom-actions rule on the default one.
    assert any("EventBusName" in d for d in failed) and any(set(d) == {"RuleName"} for d in failed)


def emitting_services(tpl: dict[str, Any]) -> set[str]:
    """Service names of the functions that run the Snapback runtime (they emit Snapback metrics)."""
    envs = [f["Properties"].get("Environment", {}).get("Variables", {}) for f in resources(tpl, "AWS::Lambda::Function").values()]
    return {e["POWERTOOLS_SERVICE_NAME"] for e in envs if "SNAPBACK_TABLE" in e and "POWERTOOLS_SERVICE_NAME" in e}


@pytest.mark.parametrize("metric", ["BreakerTrips", "SweepErrors"])
def test_breaker_trip_and_sweep_error_alarms_read_the_metric_whatever_service_emits_it(tpl, metric):
    (alarm,) = [a for a in alarms(tpl).values() if any(s[1] == metric for s in stats(a))]
    read = stats(alarm)
    assert ("Snapback", metric, {}) in read
    services = emitting_services(tpl)
    assert services, "no function runs the Snapback runtime?"
    for service in services:
        assert ("Snapback", metric, {"service": service}) in read, f"{service}: add it to stacks.observability.SERVICES"
    (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
    assert expression.count("FILL(") == len(read)


def test_the_breaker_trips_metric_the_runtime_emits_is_the_one_the_alarm_reads(tpl, org, capsys, monkeypatch):
    """The EMF a tripping function prints, under its synthesized environment, matches the alarm."""
    from snapback.runtime import Runtime
    from snapback_ops.demo import runtime_for
    from tests.functional.test_safety import NAME, make_public

    (env,) = [
        f["Properties"]["Environment"]["Variables"]
        for f in resources(tpl, "AWS::Lambda::Function").values()
        if f["Properties"].get("Environment", {}).get("Variables", {}).get("SNAPBACK_REMEDIATION") == NAME
    ]
    for key in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
        monkeypatch.setenv(key, env[key])
    runtime: Runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, breaker=Breaker(max_per_account=1, max_per_remediation=100))
    runtime.emit_metrics = True
    results = [runtime.process(make_public(org, "member-a", f"emf-{i}"), remediations=[NAME])[0] for i in range(2)]
    assert results[1].mode == "notify (breaker)"
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (trip,) = [m for m in emitted if "BreakerTrips" in m]
    (directive,) = trip["_aws"]["CloudWatchMetrics"]
    (dimension_set,) = directive["Dimensions"]
    emitted_metric = (directive["Namespace"], "BreakerTrips", {d: trip[d] for d in dimension_set})
    (alarm,) = [a for a in alarms(tpl).values() if any(s[1] == "BreakerTrips" for s in stats(a))]
    assert emitted_metric in stats(alarm)


def test_one_dashboard_shows_outcomes_every_function_queue_and_rule(tpl):
    ((_, dashboard),) = resources(tpl, "AWS::CloudWatch::Dashboard").items()
    assert dashboard["Properties"]["DashboardName"] == "snapback"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for logical_id in resources(tpl, "AWS::Lambda::Function"):
        assert json.dumps({"Ref": logical_id}) in body, logical_id
    for logical_id, queue in resources(tpl, "AWS::SQS::Queue").items():
        if "RedrivePolicy" not in queue["Properties"]:
            assert json.dumps({"Fn::GetAtt": [logical_id, "QueueName"]}) in body, logical_id
    for needle in ('MetricName=\\\\\\"Outcome\\\\\\"', "BreakerTrips", "SweepErrors", "FailedInvocations", "Invocations"):
        assert needle in body, needle
    for metric in ("Errors", "Throttles", "Duration", "ApproximateNumberOfMessagesVisible"):
        assert f'\\"{metric}\\"' in body, metric


def test_cloudwatch_may_publish_to_the_encrypted_topic(tpl):
    ((key_id, key),) = resources(tpl, "AWS::KMS::Key").items()
    (grant,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    actions = grant["Action"] if isinstance(grant["Action"], list) else [grant["Action"]]
    assert grant["Effect"] == "Allow" and "kms:Decrypt" in actions and any(a.startswith("kms:GenerateDataKey") for a in actions)
    ((topic_id, topic),) = [
        (k, t) for k, t in resources(tpl, "AWS::SNS::Topic").items() if t["Properties"]["TopicName"] == "snapback-alerts"
    ]
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    statements = [
        s
        for p in resources(tpl, "AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (publish,) = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert publish["Effect"] == "Allow" and publish["Action"] == "sns:Publish"
    assert "aws:SourceAccount" in publish["Condition"]["StringEquals"]
    assert "alarm:snapback-*" in json.dumps(publish["Condition"]["ArnLike"]["aws:SourceArn"])
