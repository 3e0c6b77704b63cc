"""A small evaluator of SCP Deny statements: is this request denied, and by which statement?

SCPs only restrict (an SCP Allow grants nothing), so for a guardrail the question is which Deny
applies. Semantics implemented, from the IAM policy evaluation logic and condition operator pages
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
- Action / NotAction and Resource / NotResource with `*` and `?` wildcards (actions case-insensitive);
- condition operators String(Not)Equals, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, Bool, Null,
  with `...IfExists`, and the `ForAnyValue:` / `ForAllValues:` set qualifiers;
- condition keys are case-insensitive; a key missing from the request makes a positive operator
  false and a negated one true ("...the condition returns true if the key is not present" for the
  Not operators); all keys and all operators of a statement must hold (AND), any value within one
  key (OR).
No library on PyPI evaluates SCP conditions offline (policyuniverse and parliament match or lint but
do not decide); this stays small and is tested on both the current and the old policy.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(value: str, pattern: str, *, case: bool = True) -> bool:
    return fnmatch.fnmatchcase(value, pattern) if case else fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _arn_like(value: str, pattern: str) -> bool:
    # ARN matching is per colon-separated field; a wildcard never spans fields in the first five.
    mine, theirs = value.split(":", 5), pattern.split(":", 5)
    return len(mine) == len(theirs) and all(fnmatch.fnmatchcase(m, t) for m, t in zip(mine, theirs, strict=True))


def _match(operator: str, value: str, wanted: str) -> bool:
    if operator == "StringEquals":
        return value == wanted
    if operator == "StringEqualsIgnoreCase":
        return value.lower() == wanted.lower()
    if operator == "StringLike":
        return _like(value, wanted)
    if operator == "ArnEquals":
        return value == wanted
    if operator == "ArnLike":
        return _arn_like(value, wanted)
    if operator == "Bool":
        return value.lower() == str(wanted).lower()
    raise ValueError(f"condition operator {operator} is not modelled; teach tests/deploy/scp_eval.py")


NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
}


def _condition_holds(raw_operator: str, key: str, wanted: Sequence[Any], context: Mapping[str, Any]) -> bool:
    qualifier, _, operator = raw_operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    present = {k.lower(): v for k, v in context.items()}
    values = present.get(key.lower())
    if operator == "Null":
        return (values is None) == (str(wanted[0]).lower() == "true")
    if values is None:
        if if_exists:
            return True
        if qualifier == "ForAllValues":
            return True
        return operator in NEGATED  # a missing key: positive operators false, negated ones true
    values = [str(v) for v in _list(values)]
    positive = NEGATED.get(operator, operator)
    negate = operator in NEGATED

    def one(value: str) -> bool:
        hit = any(_match(positive, value, str(w)) for w in wanted)
        return not hit if negate else hit

    if qualifier == "ForAnyValue":
        return any(one(v) for v in values)
    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return one(values[0]) if len(values) == 1 else any(one(v) for v in values)


def statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if "Action" in statement:
        if not any(_like(action, a, case=False) for a in _list(statement["Action"])):
            return False
    elif any(_like(action, a, case=False) for a in _list(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(r == "*" or _arn_like(resource, r) for r in _list(statement["Resource"])):
            return False
    elif any(_arn_like(resource, r) for r in _list(statement.get("NotResource", []))):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, _list(wanted), context):
                return False
    return True


def denied_by(policy: Mapping[str, Any], principal: str, action: str, resource: str = "*", **context: Any) -> str | None:
    """The Sid of the first Deny statement that applies to the request, or None (not denied)."""
    request = {"aws:PrincipalArn": principal, **{k.replace("__", ":"): v for k, v in context.items()}}
    for statement in _list(policy.get("Statement", [])):
        if statement.get("Effect") == "Deny" and statement_applies(statement, action, resource, request):
            return str(statement.get("Sid", "?"))
    return None
