"""Whom does a role trust policy let in? Read from the document itself, without I/O.

A trust statement (an Allow of an sts:AssumeRole* action) lets in someone Snapback does not trust
when its principal is:
- everyone: `"*"` or `{"AWS": "*"}` (the only conditions that tame it are a fixed
  aws:PrincipalAccount of the organization; any other condition, aws:PrincipalOrgID included, is
  not checked here and the statement counts as open);
- an AWS account, root, user, role or session ARN of an account outside the organization
  (`in_org` decides; a principal given as a unique id, left behind by a deleted role, lets nobody in);
- a federated identity provider (an IAM OIDC or SAML provider, or a public web identity provider
  such as accounts.google.com / cognito-identity.amazonaws.com) that is not in the allow-list.
AWS service principals (`{"Service": "ec2.amazonaws.com"}`) are AWS itself and never count.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from snapback.iam_admin import _covers, _strings
from snapback.policies import load_document, statements

ASSUME_ACTIONS = ("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity")
_ACCOUNT_IN_ARN = re.compile(r"^arn:[\w-]+:(?:iam|sts)::(\d{12}):")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# What replaces a trust policy with nothing trusted left: IAM wants at least one statement.
NOBODY = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}


def principal_account(value: str) -> str | None:
    """The account of an AWS principal (account id, or IAM/STS ARN), or None for anything else."""
    if _ACCOUNT_ID.match(value):
        return value
    match = _ACCOUNT_IN_ARN.match(value)
    return match.group(1) if match else None


def _assumes(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        return any(not _covers(_strings(statement["NotAction"]), a) for a in ASSUME_ACTIONS)
    return any(_covers(_strings(statement.get("Action")), a) for a in ASSUME_ACTIONS)


def _pinned_to_org(condition: Any, in_org: Callable[[str], bool]) -> bool:
    """A condition that pins the caller to fixed accounts of the organization (aws:PrincipalAccount)."""
    if not isinstance(condition, Mapping):
        return False
    for operator, clauses in condition.items():
        if str(operator) not in ("StringEquals", "ArnEquals") or not isinstance(clauses, Mapping):
            continue
        for key, values in clauses.items():
            if str(key).lower() == "aws:principalaccount":
                accounts = _strings(values)
                if accounts and all(in_org(a) for a in accounts):
                    return True
    return False


def _allowed_provider(provider: str, allowed: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(provider, pattern) for pattern in allowed)


def untrusted(principal_type: str, value: str, *, in_org: Callable[[str], bool], allowed_providers: Iterable[str]) -> str | None:
    """Why one principal entry lets in someone outside the organization (for people), or None."""
    if principal_type == "AWS":
        if value == "*":
            return "everyone (AWS: *)"
        account = principal_account(value)
        if account and not in_org(account):
            return f"{value} (account {account} is outside the organization)"
        return None
    if principal_type == "Federated":
        if _allowed_provider(value, allowed_providers):
            return None
        return f"identity provider {value} (not in allowed_identity_providers)"
    return None  # Service principals are AWS; CanonicalUser does not apply to roles


def _entries(principal: Any) -> list[tuple[str, str]]:
    if principal == "*":
        return [("AWS", "*")]
    if not isinstance(principal, Mapping):
        return []
    return [(str(kind), v) for kind, values in principal.items() for v in _strings(values)]


def untrusted_principals(document: Any, *, in_org: Callable[[str], bool], allowed_providers: Iterable[str] = ()) -> list[str]:
    """Every principal a trust policy lets in that the organization does not trust."""
    allowed = tuple(allowed_providers)
    found: list[str] = []
    for statement in statements(load_document(document)):
        if not _assumes(statement):
            continue
        if "NotPrincipal" in statement:
            found.append("everyone but a NotPrincipal list (Allow with NotPrincipal)")
            continue
        pinned = _pinned_to_org(statement.get("Condition"), in_org)
        for kind, value in _entries(statement.get("Principal")):
            if kind == "AWS" and value == "*" and pinned:
                continue
            why = untrusted(kind, value, in_org=in_org, allowed_providers=allowed)
            if why:
                found.append(why)
    return found


def without_untrusted(document: Any, *, in_org: Callable[[str], bool], allowed_providers: Iterable[str] = ()) -> dict[str, Any]:
    """The trust policy with every untrusted principal taken out, all else kept as it was.

    A statement left with no principal is dropped; a policy left with no statement trusts nobody
    (one explicit Deny, since IAM wants at least one statement).
    """
    allowed = tuple(allowed_providers)
    doc = copy.deepcopy(dict(load_document(document)))
    kept: list[Any] = []
    for statement in statements(doc):
        if not _assumes(statement):
            kept.append(statement)
            continue
        if "NotPrincipal" in statement:
            continue
        pinned = _pinned_to_org(statement.get("Condition"), in_org)
        principal = statement.get("Principal")
        remaining: dict[str, list[str]] = {}
        for kind, value in _entries(principal):
            if kind == "AWS" and value == "*" and pinned:
                remaining.setdefault(kind, []).append(value)
            elif not untrusted(kind, value, in_org=in_org, allowed_providers=allowed):
                remaining.setdefault(kind, []).append(value)
        if not remaining:
            continue
        new_principal = {k: (v[0] if len(v) == 1 else v) for k, v in remaining.items()}
        kept.append({**statement, "Principal": "*" if principal == "*" else new_principal})
    doc["Statement"] = kept or [dict(NOBODY)]
    return doc
