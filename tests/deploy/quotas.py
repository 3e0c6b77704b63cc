"""Documented hard limits of the resources Snapback creates, checked on a synthesized template.

`violations(name, template)` returns one line per broken limit (empty: the template fits). Every
limit cites where AWS documents it; a value that AWS calls adjustable uses the default quota, since a
new account has the default.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.deploy.render import as_list, render, resources, size

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-policies.html
SQS_POLICY = {"bytes": 8192, "conditions": 10, "principals": 50, "statements": 20, "actions": 7}
# https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html ("Key policy document size: 32 KB")
KMS_KEY_POLICY_BYTES = 32768
# https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-language-api-permissions-reference.html and the
# SNS quotas page: a topic policy is at most 30 KB and holds at most 100 statements (AddPermission).
SNS_POLICY = {"bytes": 30720, "statements": 100}
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
SCP_MAX_CHARS = 5120
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html ("Event bus policy size 10,240
# characters", "Rules per event bus 300" default, "Targets per rule 5"); rule name 64, description 512
# (PutRule API reference).
BUS_POLICY_CHARS = 10240
RULES_PER_BUS = 300
TARGETS_PER_RULE = 5
RULE_NAME, RULE_DESCRIPTION = 64, 512
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html: role name 64, trust policy
# 2,048 characters (default), aggregate inline policies of a role 10,240, managed policy 6,144; IAM does
# not count whitespace.
ROLE_NAME, TRUST_POLICY, ROLE_INLINE, MANAGED_POLICY = 64, 2048, 10240, 6144
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: environment 4 KB, 5 layers,
# timeout 900 s, function name 64 (CreateFunction), description 256; 100 units stay unreserved and a new
# account's quota can be 10, so nothing can be reserved by default.
LAMBDA_ENV_BYTES, LAYERS, TIMEOUT, FUNCTION_NAME, FUNCTION_DESCRIPTION = 4096, 5, 900, 64, 256
NEW_ACCOUNT_CONCURRENCY, UNRESERVED = 10, 100
# Event source mapping ScalingConfig.MaximumConcurrency: 2-1000 (Lambda API reference, ScalingConfig).
ESM_MAX_CONCURRENCY = (2, 1000)
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
ALARM_NAME, ALARM_DESCRIPTION = 255, 1024
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html (QueueName 80)
QUEUE_NAME = 80
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html (TemplateBody
# 51,200 bytes); https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
# (500 resources, template body in S3 1 MB).
STACKSET_TEMPLATE_BODY, RESOURCES, TEMPLATE_BYTES = 51200, 500, 1_000_000


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in as_list(document.get("Statement", [])) if isinstance(s, dict)]


def _principals(statement: dict[str, Any]) -> int:
    principal = statement.get("Principal", {})
    if principal == "*":
        return 1
    return sum(len(as_list(v)) for v in principal.values()) if isinstance(principal, dict) else 1


def _conditions(statement: dict[str, Any]) -> int:
    return sum(len(keys) for keys in statement.get("Condition", {}).values())


def _bytes(document: Any) -> int:
    return len(json.dumps(render(document), separators=(",", ":")).encode())


def _limit(found: list[str], where: str, what: str, value: int, limit: int) -> None:
    if value > limit:
        found.append(f"{where}: {what} {value} > {limit}")


def violations(name: str, template: dict[str, Any], *, concurrency_quota: int = NEW_ACCOUNT_CONCURRENCY) -> list[str]:
    found: list[str] = []
    all_resources = template.get("Resources", {})
    _limit(found, name, "resources", len(all_resources), RESOURCES)
    _limit(found, name, "template bytes", len(json.dumps(template).encode()), TEMPLATE_BYTES)

    for lid, res in resources(template, "AWS::SQS::QueuePolicy").items():
        doc = res["Properties"]["PolicyDocument"]
        statements = _statements(doc)
        where = f"{name}/{lid} (SQS policy)"
        _limit(found, where, "statements", len(statements), SQS_POLICY["statements"])
        _limit(found, where, "bytes", _bytes(doc), SQS_POLICY["bytes"])
        _limit(found, where, "principals", sum(_principals(s) for s in statements), SQS_POLICY["principals"])
        _limit(found, where, "conditions", sum(_conditions(s) for s in statements), SQS_POLICY["conditions"])
        for s in statements:
            _limit(found, where, "actions in a statement", len(as_list(s.get("Action", []))), SQS_POLICY["actions"])

    for lid, res in resources(template, "AWS::SNS::TopicPolicy").items():
        doc = res["Properties"]["PolicyDocument"]
        where = f"{name}/{lid} (SNS policy)"
        _limit(found, where, "statements", len(_statements(doc)), SNS_POLICY["statements"])
        _limit(found, where, "bytes", _bytes(doc), SNS_POLICY["bytes"])

    for lid, res in resources(template, "AWS::KMS::Key").items():
        _limit(
            found, f"{name}/{lid} (KMS key policy)", "bytes", _bytes(res["Properties"].get("KeyPolicy", {})), KMS_KEY_POLICY_BYTES
        )

    for lid, res in resources(template, "AWS::Organizations::Policy").items():
        if res["Properties"].get("Type") == "SERVICE_CONTROL_POLICY":
            _limit(found, f"{name}/{lid} (SCP)", "characters", size(res["Properties"]["Content"], whitespace=True), SCP_MAX_CHARS)

    bus_policy: Counter[str] = Counter()
    for res in resources(template, "AWS::Events::EventBusPolicy").values():
        props = res["Properties"]
        bus_policy[json.dumps(props.get("EventBusName"))] += size(props.get("Statement", {}), whitespace=True)
    for bus, chars in bus_policy.items():
        _limit(found, f"{name} bus {bus} (policy)", "characters", chars, BUS_POLICY_CHARS)

    per_bus: Counter[str] = Counter()
    for lid, res in resources(template, "AWS::Events::Rule").items():
        props = res["Properties"]
        per_bus[json.dumps(props.get("EventBusName", "default"))] += 1
        where = f"{name}/{lid} (rule)"
        _limit(found, where, "name length", len(str(render(props.get("Name", "")))), RULE_NAME)
        _limit(found, where, "description length", len(str(props.get("Description", ""))), RULE_DESCRIPTION)
        _limit(found, where, "targets", len(props.get("Targets", [])), TARGETS_PER_RULE)
    for bus, count in per_bus.items():
        _limit(found, f"{name} bus {bus}", "rules", count, RULES_PER_BUS)

    inline: Counter[str] = Counter()
    for lid, res in resources(template, "AWS::IAM::Role").items():
        props = res["Properties"]
        where = f"{name}/{lid} (role)"
        if "RoleName" in props:
            _limit(found, where, "name length", len(str(render(props["RoleName"]))), ROLE_NAME)
        _limit(found, where, "trust policy characters", size(props["AssumeRolePolicyDocument"]), TRUST_POLICY)
        inline[lid] += sum(size(p["PolicyDocument"]) for p in props.get("Policies", []))
    for res in resources(template, "AWS::IAM::Policy").values():
        for role in res["Properties"].get("Roles", []):
            if isinstance(role, dict) and "Ref" in role:
                inline[role["Ref"]] += size(res["Properties"]["PolicyDocument"])
    for lid, chars in inline.items():
        _limit(found, f"{name}/{lid} (role)", "inline policy characters", chars, ROLE_INLINE)
    for lid, res in resources(template, "AWS::IAM::ManagedPolicy").items():
        _limit(found, f"{name}/{lid} (managed policy)", "characters", size(res["Properties"]["PolicyDocument"]), MANAGED_POLICY)

    reserved = 0
    for lid, res in resources(template, "AWS::Lambda::Function").items():
        props = res["Properties"]
        where = f"{name}/{lid} (function)"
        env = props.get("Environment", {}).get("Variables", {})
        env_bytes = sum(len(k.encode()) + len(str(render(v)).encode()) for k, v in env.items())
        _limit(found, where, "environment bytes", env_bytes, LAMBDA_ENV_BYTES)
        _limit(found, where, "layers", len(props.get("Layers", [])), LAYERS)
        _limit(found, where, "timeout", int(props.get("Timeout", 3)), TIMEOUT)
        _limit(found, where, "description length", len(str(props.get("Description", ""))), FUNCTION_DESCRIPTION)
        if "FunctionName" in props:
            _limit(found, where, "name length", len(str(render(props["FunctionName"]))), FUNCTION_NAME)
        reserved += int(props.get("ReservedConcurrentExecutions", 0))
    _limit(found, name, "reserved concurrency total", reserved, max(0, concurrency_quota - UNRESERVED))

    for lid, res in resources(template, "AWS::Lambda::EventSourceMapping").items():
        maximum = res["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency")
        if maximum is not None and not ESM_MAX_CONCURRENCY[0] <= int(maximum) <= ESM_MAX_CONCURRENCY[1]:
            found.append(f"{name}/{lid}: MaximumConcurrency {maximum} outside {ESM_MAX_CONCURRENCY}")

    for lid, res in resources(template, "AWS::CloudWatch::Alarm").items():
        props = res["Properties"]
        _limit(found, f"{name}/{lid} (alarm)", "name length", len(str(render(props.get("AlarmName", "")))), ALARM_NAME)
        _limit(
            found,
            f"{name}/{lid} (alarm)",
            "description length",
            len(str(render(props.get("AlarmDescription", "")))),
            ALARM_DESCRIPTION,
        )

    for lid, res in resources(template, "AWS::SQS::Queue").items():
        if "QueueName" in res["Properties"]:
            _limit(found, f"{name}/{lid} (queue)", "name length", len(str(render(res["Properties"]["QueueName"]))), QUEUE_NAME)

    for lid, res in resources(template, "AWS::CloudFormation::StackSet").items():
        body = res["Properties"].get("TemplateBody", "")
        _limit(found, f"{name}/{lid} (StackSet)", "TemplateBody bytes", len(str(body).encode()), STACKSET_TEMPLATE_BODY)
    return found
