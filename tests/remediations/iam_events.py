"""CloudTrail records of IAM calls as each kind of caller makes them (assumed role, IAM user, root)."""

from __future__ import annotations

from typing import Any

from snapback.events import Envelope
from snapback_ops.demo import cloudtrail_record
from tests.remediations.helpers import envelope, fill


def identity(account: str, who: str, session: str | None = None) -> dict[str, Any]:
    """`userIdentity` for "role:<name>" (an assumed-role session), "user:<name>" (an IAM user) or "root"."""
    if who == "root":
        return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}
    kind, name = who.split(":", 1)
    if kind == "user":
        return {
            "type": "IAMUser",
            "principalId": f"AIDAEXAMPLE{account[-4:]}{len(name):04d}",
            "arn": f"arn:aws:iam::{account}:user/{name}",
            "accountId": account,
            "accessKeyId": "AKIAEXAMPLECALLER001",
            "userName": name,
        }
    record = cloudtrail_record(account, "iam.amazonaws.com", "GetUser", {}, actor=name)
    ident = record["userIdentity"]
    if session:
        ident["arn"] = f"arn:aws:sts::{account}:assumed-role/{name}/{session}"
        ident["principalId"] = f"AROAEXAMPLE{account[-4:]}:{session}"
    return ident


def iam_call(
    account: str,
    event: str,
    request: Any,
    who: str = "role:developer",
    /,
    *,
    response: Any = None,
    error_code: str | None = None,
    session: str | None = None,
    **names: str,
) -> Envelope:
    """One IAM call in `account`, by `who`, with {placeholders} in request/response/identity filled from `names`."""
    actor = "developer" if not who.startswith("role:") else who.split(":", 1)[1]
    record = cloudtrail_record(
        account,
        "iam.amazonaws.com",
        event,
        fill(request, **names),
        actor=actor,
        response=fill(response, **names),
        error_code=error_code,
    )
    record["userIdentity"] = identity(account, fill(who, **names), fill(session, **names) if session else None)
    return envelope(record)
