"""Does an IAM identity policy grant admin? Read from the document itself, without I/O.

A statement grants admin when it is an Allow over every resource (`Resource: "*"`, or a
`NotResource`) whose actions cover one of:
- every action (`*`, `*:*`);
- every IAM action (`iam:*` and the like, or a `NotAction` that leaves IAM allowed): whoever
  holds it can grant themselves anything;
- a sensitive action, by default `iam:PassRole` (hand any role, an admin one included, to a service).

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


def admin_grants(document: Any, sensitive_actions: Iterable[str] = DEFAULT_SENSITIVE_ACTIONS) -> list[str]:
    """Every admin grant of a policy document (an object, or a possibly URL-encoded JSON string).

    Raises MalformedEvent when the document cannot be read.
    """
    sensitive = tuple(sensitive_actions)
    found = []
    for statement in statements(load_document(document)):
        why = statement_grants(statement, sensitive)
        if why:
            sid = statement.get("Sid")
            found.append(f"{why} [{sid}]" if isinstance(sid, str) and sid else why)
    return found
