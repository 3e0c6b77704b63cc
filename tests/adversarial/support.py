"""Spoofed variants of a genuine event, and a recorder of the member-account writes Snapback makes.

A variant is built from the exact event a remediation's own fixture test delivers (captured in
flight), so that every registered remediation and every must-fire shape is covered without the
suite knowing how each remediation builds its events.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from snapback.clients import Clients
from snapback.events import CLOUDTRAIL_API, CONFIG_COMPLIANCE, CONSOLE_SIGNIN, GUARDDUTY_FINDING, SECURITYHUB_IMPORTED
from snapback.guards import arn_account
from tests.reliability.support import is_mutating, is_security_write

CLOUDTRAIL = (CLOUDTRAIL_API, *CONSOLE_SIGNIN)
# An account in no organization (the AWS documentation's example id).
OUTSIDE = "111122223333"
MEMBER_ROLE = "snapback-remediator"


@dataclass
class WriteRecorder:
    """Every mutating call Snapback sends through a member-account session, and every write of a
    remediation to a security-account resource of its own (the WAF IP sets), recorded before it is sent."""

    writes: list[tuple[str, str]] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> WriteRecorder:
        plain, plain_own = Clients.member_client, Clients.client
        recorder = self

        def watch(client: Any, member: bool) -> Any:
            if not getattr(client, "_spoof_recorder", None):
                client._spoof_recorder = True
                service = client.meta.service_model.service_name

                def before_call(model: Any, **_: Any) -> None:
                    if (member and is_mutating(model.name)) or is_security_write(service, model.name, member):
                        recorder.writes.append((service, model.name))

                client.meta.events.register("before-call", before_call)
            return client

        def member_client(clients: Clients, account: str, region: str, remediation: str, service: str) -> Any:
            return watch(plain(clients, account, region, remediation, service), member=True)

        def client(clients: Clients, service: str, region: str | None = None) -> Any:
            return watch(plain_own(clients, service, region), member=False)

        monkeypatch.setattr(Clients, "member_client", member_client)
        monkeypatch.setattr(Clients, "client", client)
        return self


def identity(
    account: str,
    role: str,
    session: str,
    *,
    partition: str = "aws",
    source_identity: str | None = None,
) -> dict[str, Any]:
    """userIdentity of an assumed-role session as CloudTrail records it."""
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE{account[-4:]}:{session}",
        "arn": f"arn:{partition}:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLESPOOF0001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROAEXAMPLE{account[-4:]}",
                "arn": f"arn:{partition}:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-11-22T12:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    if source_identity is not None:
        ident["sessionContext"]["sourceIdentity"] = source_identity
    return ident


def genuine_snapback(account: str, name: str) -> dict[str, Any]:
    """The session Snapback opens: its remediator role of that account, `snapback-<name>`, SourceIdentity."""
    return identity(account, MEMBER_ROLE, f"snapback-{name}", source_identity=f"snapback@{name}")


def _fresh(raw: dict[str, Any]) -> dict[str, Any]:
    """A deep copy with new EventBridge and CloudTrail ids: a variant never shares the genuine event's claim."""
    out = copy.deepcopy(raw)
    out["id"] = str(uuid.uuid4())
    if out.get("detail-type") in CLOUDTRAIL and isinstance(out.get("detail"), dict):
        out["detail"]["eventID"] = str(uuid.uuid4())
    return out


def _claims(raw: dict[str, Any], account: str) -> bool:
    """Point every account the detail names at `account` (False if the detail names none)."""
    detail, kind = raw["detail"], raw["detail-type"]
    if kind in CLOUDTRAIL:
        detail["recipientAccountId"] = account
        if isinstance(detail.get("userIdentity"), dict):
            detail["userIdentity"]["accountId"] = account
        return True
    if kind == GUARDDUTY_FINDING:
        detail["accountId"] = account
        return True
    if kind == SECURITYHUB_IMPORTED:
        for finding in detail.get("findings", []):
            finding["AwsAccountId"] = account
        return True
    if kind == CONFIG_COMPLIANCE:
        detail["awsAccountId"] = account
        return True
    return False


def _resource_elsewhere(raw: dict[str, Any], account: str, other: str) -> bool:
    """Make the resource the detail names one of `other` (False where the detail names no owner)."""
    detail, kind = raw["detail"], raw["detail-type"]
    if kind in CLOUDTRAIL:
        detail.setdefault("resources", []).append(
            {"accountId": other, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{other}:role/victim"}
        )
        return True
    if kind == GUARDDUTY_FINDING:
        arn = detail.get("arn") or f"arn:aws:guardduty:us-east-1:{account}:detector/d/finding/f"
        detail["arn"] = arn.replace(f":{account}:", f":{other}:") if arn_account(arn) else arn
        return arn_account(detail["arn"]) == other
    if kind == SECURITYHUB_IMPORTED:
        changed = False
        for finding in detail.get("findings", []):
            for resource in finding.get("Resources", []):
                rid = str(resource.get("Id", ""))
                if arn_account(rid) == account:
                    resource["Id"] = rid.replace(f":{account}:", f":{other}:")
                    changed = True
                elif resource.get("Type") == "AwsS3Bucket":
                    resource.setdefault("Details", {}).setdefault("AwsS3Bucket", {})["OwnerAccountId"] = other
                    changed = True
                elif resource.get("Type") == "AwsAccount":
                    resource["Id"] = f"AWS::::Account:{other}"
                    changed = True
        return changed
    return False


def skipped_variants(raw: dict[str, Any], name: str, security: str, other: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Variants Snapback must never act on (SKIPPED or REJECTED, no member-account write)."""
    detail = raw["detail"]
    kind = raw["detail-type"]
    aggregated = raw["account"] == security
    account = raw["account"] if not aggregated else _finding_account(raw)

    v = _fresh(raw)
    v["account"] = other
    yield "envelope account differs from the detail's", v

    v = _fresh(raw)
    if _claims(v, OUTSIDE if aggregated else other):
        yield "detail names another account than the envelope", v

    v = _fresh(raw)
    if _resource_elsewhere(v, account, other):
        yield "the resource is owned by another account", v

    v = _fresh(raw)
    v["resources"] = [*v.get("resources", []), f"arn:aws:iam::{OUTSIDE}:role/victim"]
    yield "envelope resources name an account outside the org", v

    v = _fresh(raw)
    v["account"] = OUTSIDE
    _claims(v, OUTSIDE)
    yield "a consistent event from an account outside the org", v

    for source in ("aws.evil", "aws", "awsx.s3", raw["source"].upper(), f"{raw['source']} "):
        v = _fresh(raw)
        v["source"] = source
        yield f"source {source!r}", v

    if kind in CLOUDTRAIL:
        v = _fresh(raw)
        v["detail"]["userIdentity"] = genuine_snapback(raw["account"], name)
        yield "genuine Snapback session (loop guard)", v
    del detail


def _finding_account(raw: dict[str, Any]) -> str:
    detail = raw["detail"]
    if raw["detail-type"] == GUARDDUTY_FINDING:
        return str(detail["accountId"])
    return str(detail["findings"][0]["AwsAccountId"])


def acting_variants(raw: dict[str, Any], name: str, other: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Callers that look like Snapback or StackSets but are not: Snapback must still act on them."""
    if raw["detail-type"] not in CLOUDTRAIL or raw["detail"].get("userIdentity", {}).get("type") != "AssumedRole":
        return
    account = raw["account"]
    cases = {
        "attacker's session with SourceIdentity snapback@... and Snapback's session name": identity(
            account, "developer", f"snapback-{name}", source_identity=f"snapback@{name}"
        ),
        "look-alike role snapback-remediator-x": identity(
            account, f"{MEMBER_ROLE}-x", f"snapback-{name}", source_identity=f"snapback@{name}"
        ),
        "look-alike role xsnapback-remediator": identity(account, f"x{MEMBER_ROLE}", f"snapback-{name}"),
        "the real role name in another account (cross-account caller)": identity(
            other, MEMBER_ROLE, f"snapback-{name}", source_identity=f"snapback@{name}"
        ),
        "the real role, someone else's session name": identity(account, MEMBER_ROLE, "admin-session"),
        "the real role, SourceIdentity not Snapback's": identity(
            account, MEMBER_ROLE, f"snapback-{name}", source_identity="attacker"
        ),
        "the real role name in another partition": identity(
            account, MEMBER_ROLE, f"snapback-{name}", partition="aws-cn", source_identity=f"snapback@{name}"
        ),
        "stacksets-exec-evil on a resource that is not Snapback's": identity(account, "stacksets-exec-evil", "evil"),
        "the StackSets role on a resource that is not Snapback's": identity(
            account, "stacksets-exec-5f1b2c3d4e6a7b8c9d0e1f2a3b4c5d6e", "stacksets"
        ),
    }
    for label, ident in cases.items():
        v = _fresh(raw)
        v["detail"]["userIdentity"] = ident
        yield label, v
