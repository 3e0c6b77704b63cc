"""Reading IAM-style policy documents: what a statement really grants, without I/O.

`public_statements` follows S3's definition of "public": an Allow to `*` (or `{"AWS": "*"}`)
is public unless a condition pins it to fixed values of a restricting key (source VPC, VPC
endpoint, IP range other than the whole Internet, account, organization, ARN, user id).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from snapback.errors import MalformedEvent

# Condition keys that make an otherwise public grant non-public when given fixed values.
RESTRICTING_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:SourceIp",
        "aws:SourceArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceOwner",
        "aws:SourceAccount",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:userid",
        "aws:username",
        "s3:DataAccessPointArn",
        "s3:DataAccessPointAccount",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
    )
)
_OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


def load_document(value: Any) -> Mapping[str, Any]:
    """A policy document from CloudTrail: an object, or a (possibly URL-encoded) JSON string."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        text = value
        if text.startswith("%7B") or text.startswith("%7b"):
            from urllib.parse import unquote

            text = unquote(text)
        try:
            doc = json.loads(text)
        except ValueError as err:
            raise MalformedEvent(f"policy document is not JSON ({err.__class__.__name__})") from err
        if isinstance(doc, Mapping):
            return doc
    raise MalformedEvent(f"policy document is a {type(value).__name__}, not an object")


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = doc.get("Statement", [])
    items = raw if isinstance(raw, list) else [raw]
    return [s for s in items if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in _as_list(v) for k, v in principal.items() if k in ("AWS", "CanonicalUser"))
    return False


def _restricted(condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for operator, clauses in condition.items():
        op = str(operator)
        if "Not" in op or op.startswith("Null") or "IfExists" in op or not isinstance(clauses, Mapping):
            continue
        for key, values in clauses.items():
            if str(key).lower() not in RESTRICTING_KEYS:
                continue
            vals = [str(v) for v in _as_list(values)]
            if not vals or any("*" in v or "?" in v for v in vals):
                continue
            if str(key).lower() == "aws:sourceip" and any(v in _OPEN_CIDRS for v in vals):
                continue
            return True
    return False


def public_statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The Allow statements of a resource policy that grant access to anyone."""
    return [
        s
        for s in statements(doc)
        if s.get("Effect") == "Allow" and _principal_is_everyone(s.get("Principal")) and not _restricted(s.get("Condition"))
    ]
