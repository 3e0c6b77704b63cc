"""Render CloudFormation values as AWS would see them, offline, for the deploy gates.

Intrinsics are replaced by realistic worst-case stand-ins: pseudo parameters by the longest real
values (partition `aws-iso-b`, Region `ap-southeast-4`, a 12-digit account), a `Ref`/`GetAtt` to
a resource by a value of TOKEN characters (an ARN or a generated name). A policy that fits rendered
this way fits when deployed.
"""

from __future__ import annotations

import json
from typing import Any

TOKEN = 160  # a generated physical id or ARN: names are at most 64-128 characters, ARNs of them ~160
PSEUDO = {
    "AWS::Partition": "aws-iso-b",
    "AWS::Region": "ap-southeast-4",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "S" * 128,
    "AWS::StackId": "arn:aws:cloudformation:ap-southeast-4:123456789012:stack/" + "S" * 128 + "/" + "0" * 36,
    "AWS::NoValue": "",
}


# Sample ARNs of the resources Snapback creates, for checking resource formats (`arns` mode): what a
# `Ref` or `Fn::GetAtt ... Arn` of that resource type returns. An unknown type renders as UNRESOLVED so
# the IAM gate reports it instead of silently passing (teach the gate the new type).
ARN_SAMPLES = {
    ("AWS::SQS::Queue", "Arn"): "arn:aws:sqs:us-east-1:123456789012:queue",
    ("AWS::SNS::Topic", "Ref"): "arn:aws:sns:us-east-1:123456789012:topic",
    ("AWS::KMS::Key", "Arn"): "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ("AWS::DynamoDB::GlobalTable", "Arn"): "arn:aws:dynamodb:us-east-1:123456789012:table/snapback",
    ("AWS::DynamoDB::GlobalTable", "StreamArn"): "arn:aws:dynamodb:us-east-1:123456789012:table/snapback/stream/2026",
    ("AWS::DynamoDB::Table", "Arn"): "arn:aws:dynamodb:us-east-1:123456789012:table/snapback",
    ("AWS::Logs::LogGroup", "Arn"): "arn:aws:logs:us-east-1:123456789012:log-group:group:*",
    ("AWS::Lambda::Function", "Arn"): "arn:aws:lambda:us-east-1:123456789012:function:fn",
    ("AWS::IAM::Role", "Arn"): "arn:aws:iam::123456789012:role/role",
    ("AWS::SecretsManager::Secret", "Ref"): "arn:aws:secretsmanager:us-east-1:123456789012:secret:snapback/slack-AbCdEf",
    ("AWS::Events::EventBus", "Arn"): "arn:aws:events:us-east-1:123456789012:event-bus/snapback",
    ("AWS::Events::Rule", "Arn"): "arn:aws:events:us-east-1:123456789012:rule/snapback/rule",
    ("AWS::WAFv2::IPSet", "Arn"): "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/snapback-blocklist-v4/"
    "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
}
ARN_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
}


def render(value: Any, resources: dict[str, Any] | None = None) -> Any:
    """`value` with every intrinsic resolved to a stand-in string (structure otherwise kept).

    With `resources` (a template's Resources), references render as sample ARNs of their type.
    """
    if isinstance(value, list):
        return [render(v, resources) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            if resources is not None:
                if arg in ARN_PSEUDO:
                    return ARN_PSEUDO[arg]
                kind = resources.get(arg, {}).get("Type", "?")
                return ARN_SAMPLES.get((kind, "Ref"), f"UNRESOLVED:{kind}:Ref")
            return PSEUDO.get(arg, "r" * TOKEN)
        if key == "Fn::GetAtt":
            if resources is not None:
                target, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                kind = resources.get(target, {}).get("Type", "?")
                return ARN_SAMPLES.get((kind, attribute), f"UNRESOLVED:{kind}:{attribute}")
            return "a" * TOKEN
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(render(p, resources)) for p in parts)
        if key == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            for name, pseudo in (ARN_PSEUDO if resources is not None else PSEUDO).items():
                text = text.replace("${" + name + "}", pseudo)
            return text
        if key == "Fn::Select":
            index, items = arg
            items = render(items, resources)
            return items[int(index)] if isinstance(items, list) else "s" * TOKEN
        if key == "Fn::Split":
            return str(render(arg[1], resources)).split(arg[0])
        if key in ("Fn::If",):
            return render(arg[1], resources)
        if key.startswith("Fn::"):
            return "f" * TOKEN
    return {k: render(v, resources) for k, v in value.items()}


def size(value: Any, *, whitespace: bool = False) -> int:
    """Characters of the rendered JSON (IAM and SCPs do not count whitespace: minified)."""
    rendered = render(value)
    text = rendered if isinstance(rendered, str) else json.dumps(rendered, separators=(",", ":"))
    return len(text if whitespace else "".join(text.split()))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") == kind}
