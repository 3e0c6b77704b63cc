"""Does an IAM identity policy grant admin? Read from the document itself, without I/O.

A statement grants admin when it is an Allow over every resource (`Resource: "*"`, or a
`NotResource`) whose actions cover one of:
- every action (`*`, `*:*`);
- every IAM action (`iam:*` and the like, or a `NotAction` that leaves IAM allowed): whoever
  holds it can grant themselves anything;
- a sensitive action, by default `iam:PassRole` (hand any role, an admin one included, to a service);
- with `escalation=True`, a privilege-escalation action (`ESCALATION_ACTIONS`, e.g.
  `iam:AttachUserPolicy`, `iam:PutRolePolicy`, `iam:CreatePolicyVersion`): whoever holds it on `*`
  can make themselves admin in one call, so it is admin-equivalent; and `iam:PassRole` together
  with an action that starts compute running as the passed role (`PASSROLE_COMPUTE_ACTIONS`),
  both on every resource, anywhere in the same document.

Action and NotAction may be a string or a list; IAM wildcards (`*`, `?`) and case-insensitive
action names are honoured. Conditions are ignored on purpose: an admin grant behind a condition
(MFA, source IP, PassedToService) is still an admin grant, and a deliberate one belongs in an
exemption. Deny statements never grant anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from snapback.policies import load_document, statements

ADMINISTRATOR_ACCESS = "AdministratorAccess"
DEFAULT_SENSITIVE_ACTIONS = ("iam:PassRole",)

# The one list of privilege-escalation actions Snapback treats as admin-equivalent when allowed on
# every resource. Source: Rhino Security Labs, "AWS IAM Privilege Escalation - Methods and
# Mitigation" (S. Gietzen, 2018, https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/,
# methods 1-14) and the path catalogue of https://pathfinding.cloud (Datadog), read and re-derived.
# Kept: the paths that need nothing but the action itself on `*` (each grants, or hands the holder,
# any permission: a policy, a policy version, a group, a role's trust, another user's credentials).
# Left out on purpose: paths through existing compute (lambda:UpdateFunctionCode, glue:UpdateDevEndpoint,
# ssm:SendCommand...) - they reach only what some existing role holds and are everyday developer
# permissions; flagging them everywhere would page on most accounts.
ESCALATION_ACTIONS: tuple[str, ...] = (
    "iam:AddUserToGroup",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:CreatePolicyVersion",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:SetDefaultPolicyVersion",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateLoginProfile",
)
# iam:PassRole on `*` plus one of these (same sources: Rhino methods 3, 15, 16, 18, 20, 21; pathfinding.cloud
# "PassRole + create compute" paths): start compute as any role, an admin one included, and use its rights.
PASSROLE_COMPUTE_ACTIONS: tuple[str, ...] = (
    "cloudformation:CreateStack",
    "codebuild:CreateProject",
    "datapipeline:CreatePipeline",
    "ec2:RunInstances",
    "ecs:RunTask",
    "glue:CreateDevEndpoint",
    "glue:CreateJob",
    "lambda:CreateFunction",
    "sagemaker:CreateNotebookInstance",
)
PASS_ROLE = "iam:PassRole"

# Action names that no service defines: a pattern matching one of them matches the whole scope.
_ANY_ACTION = "zzsnapbackprobe:ZzProbe"
_ANY_IAM_ACTION = "iam:ZzSnapbackProbe"


@lru_cache(maxsize=512)
def _wildcard(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [v.strip() for v in items if isinstance(v, str)]


def _covers(patterns: Iterable[str], action: str) -> bool:
    return any(_wildcard(p).fullmatch(action) for p in patterns)


def _everything(resource: str) -> bool:
    return resource == "*" or re.fullmatch(r"arn:(\*|[\w-]+)(:\*)+", resource) is not None or resource == "arn:*"


def _on_every_resource(statement: Mapping[str, Any]) -> bool:
    if "NotResource" in statement:
        # Allow ... NotResource X: everything except X; only `NotResource: "*"` grants nothing.
        return not any(_everything(r) for r in _strings(statement["NotResource"]))
    return any(_everything(r) for r in _strings(statement.get("Resource")))


def statement_grants(statement: Mapping[str, Any], sensitive_actions: Iterable[str] = DEFAULT_SENSITIVE_ACTIONS) -> str | None:
    """Why this statement grants admin (for people), or None."""
    if statement.get("Effect") != "Allow" or not _on_every_resource(statement):
        return None
    sensitive = list(sensitive_actions)
    if "NotAction" in statement:
        # "Everything except X" is admin when X leaves IAM (or a sensitive action) allowed; a
        # PowerUser-style NotAction iam:* grants much, but nothing that escalates.
        excluded = _strings(statement["NotAction"])
        shown = ", ".join(excluded) or "nothing"
        if not _covers(excluded, _ANY_IAM_ACTION):
            return f"Allow every action except {shown} on *"
        still = [a for a in sensitive if not _covers(excluded, a)]
        return f"Allow {still[0]} (NotAction {shown}) on *" if still else None
    actions = _strings(statement.get("Action"))
    if _covers(actions, _ANY_ACTION):
        return "Allow * on *"
    if _covers(actions, _ANY_IAM_ACTION):
        return f"Allow {next(a for a in actions if _covers([a], _ANY_IAM_ACTION))} (every IAM action) on *"
    for action in sensitive:
        matching = [a for a in actions if _covers([a], action)]
        if matching:
            return f"Allow {action} on *" + (f" (via {matching[0]})" if matching[0].lower() != action.lower() else "")
    return None


def allows_on_everything(statement: Mapping[str, Any], action: str) -> str | None:
    """The pattern by which this statement allows `action` on every resource (for people), or None."""
    if statement.get("Effect") != "Allow" or not _on_every_resource(statement):
        return None
    if "NotAction" in statement:
        excluded = _strings(statement["NotAction"])
        return None if _covers(excluded, action) else f"NotAction {', '.join(excluded) or 'nothing'}"
    return next((a for a in _strings(statement.get("Action")) if _covers([a], action)), None)


def _via(action: str, pattern: str) -> str:
    return "" if pattern.lower() == action.lower() else f" via {pattern}"


def escalation_grants(statement: Mapping[str, Any]) -> str | None:
    """Why this statement is admin-equivalent by a single escalation action on `*`, or None."""
    for action in ESCALATION_ACTIONS:
        pattern = allows_on_everything(statement, action)
        if pattern:
            return f"Allow {action} on * (privilege escalation{_via(action, pattern)})"
    return None


def _labelled(statement: Mapping[str, Any], why: str) -> str:
    sid = statement.get("Sid")
    return f"{why} [{sid}]" if isinstance(sid, str) and sid else why


def admin_grants(
    document: Any, sensitive_actions: Iterable[str] = DEFAULT_SENSITIVE_ACTIONS, *, escalation: bool = False
) -> list[str]:
    """Every admin grant of a policy document (an object, or a possibly URL-encoded JSON string);
    with `escalation`, admin-equivalent privilege-escalation grants too.

    Raises MalformedEvent when the document cannot be read.
    """
    sensitive = tuple(sensitive_actions)
    found = []
    parsed = statements(load_document(document))
    for statement in parsed:
        why = statement_grants(statement, sensitive) or (escalation_grants(statement) if escalation else None)
        if why:
            found.append(_labelled(statement, why))
    if escalation and not found:
        # PassRole and the compute action may sit in different statements of one document.
        passing = next((p for s in parsed if (p := allows_on_everything(s, PASS_ROLE))), None)
        compute = next(
            ((a, p) for a in PASSROLE_COMPUTE_ACTIONS for s in parsed if (p := allows_on_everything(s, a))),
            None,
        )
        if passing and compute:
            found.append(
                f"Allow {PASS_ROLE} with {compute[0]} on * (privilege escalation: compute as any role; "
                f"granted by {passing} and {compute[1]})"
            )
    return found
