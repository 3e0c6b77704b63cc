"""Parse once, at the edge: every accepted input shape becomes typed `Envelope`s.

Accepted shapes (`normalise`):
- an EventBridge envelope (with or without the `version` key);
- a bare CloudTrail record (what a trail writes, what many public samples hold);
- a CloudTrail log file `{"Records": [record, ...]}`;
- an SNS notification, or a Lambda SNS/SQS batch (`{"Records": [{"Sns": ...}|{"body": ...}]}`),
  whose message is any of the shapes above (this is how DLQ messages are redriven);
- a bare GuardDuty finding or a bare ASFF (Security Hub) finding.

Models are frozen dataclasses built by hand rather than pydantic: this module is on every cold
start, and the hand-built parse costs microseconds instead of ~150 ms of imports.
Nothing here does I/O. Anything unparseable raises `MalformedEvent` with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from snapback.errors import MalformedEvent

CLOUDTRAIL_API = "AWS API Call via CloudTrail"
CONSOLE_SIGNIN = ("AWS Console Sign In via CloudTrail", "AWS Console Signin via CloudTrail")
GUARDDUTY_FINDING = "GuardDuty Finding"
SECURITYHUB_IMPORTED = "Security Hub Findings - Imported"
SECURITYHUB_CUSTOM_ACTION = "Security Hub Findings - Custom Action"
CONFIG_COMPLIANCE = "Config Rules Compliance Change"

_ACCOUNT = re.compile(r"^\d{12}$")
MAX_BATCH = 10_000  # records in one input; a bigger log file is split by the caller


@dataclass(frozen=True)
class Envelope:
    """An EventBridge event. `account` and `region` are the values EventBridge sets (trusted)."""

    id: str
    source: str
    detail_type: str
    account: str
    region: str
    time: str
    resources: tuple[str, ...]
    detail: Mapping[str, Any]
    shape: str = "envelope"

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": "0",
            "id": self.id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": self.account,
            "time": self.time,
            "region": self.region,
            "resources": list(self.resources),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Actor:
    """Who made a CloudTrail call."""

    type: str
    arn: str | None
    account_id: str | None
    principal_id: str | None
    user_name: str | None
    session_issuer_arn: str | None
    invoked_by: str | None
    source_identity: str | None

    @property
    def display(self) -> str:
        return self.arn or self.user_name or self.principal_id or self.type or "unknown"


@dataclass(frozen=True)
class CloudTrailCall:
    """The parts of a CloudTrail record that decisions use. `request` is never None."""

    event_id: str
    event_name: str
    event_source: str
    event_time: str
    region: str
    recipient_account: str | None
    actor: Actor
    source_ip: str | None
    user_agent: str | None
    request: Mapping[str, Any]
    response: Mapping[str, Any] | None
    additional: Mapping[str, Any]
    error_code: str | None
    error_message: str | None

    def facts(self) -> dict[str, Any]:
        """What on-call needs to know about the call, for a Target's facts (notifications, findings)."""
        return {
            "event_name": self.event_name,
            "event_id": self.event_id,
            "event_time": self.event_time,
            "actor": self.actor.display,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
        }

    def idempotency_key(self, fallback: str) -> str:
        """The semantic key of the call: its CloudTrail eventID, else `fallback` (resource + time)."""
        return f"ct#{self.event_id}" if self.event_id else fallback

    @property
    def failed(self) -> bool:
        return bool(self.error_code)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_cloudtrail(detail: Mapping[str, Any]) -> CloudTrailCall:
    """Typed view of a CloudTrail record; raises MalformedEvent if it is not one."""
    if not isinstance(detail, Mapping):
        raise MalformedEvent("detail is not an object")
    name = _str(detail.get("eventName"))
    source = _str(detail.get("eventSource"))
    if not name or not source:
        raise MalformedEvent("CloudTrail record without eventName/eventSource")
    ident = _map(detail.get("userIdentity"))
    session = _map(ident.get("sessionContext"))
    actor = Actor(
        type=_str(ident.get("type")) or "Unknown",
        arn=_str(ident.get("arn")),
        account_id=_str(ident.get("accountId")),
        principal_id=_str(ident.get("principalId")),
        user_name=_str(ident.get("userName")),
        session_issuer_arn=_str(_map(session.get("sessionIssuer")).get("arn")),
        invoked_by=_str(ident.get("invokedBy")),
        source_identity=_str(session.get("sourceIdentity")),
    )
    response = detail.get("responseElements")
    return CloudTrailCall(
        event_id=_str(detail.get("eventID")) or "",
        event_name=name,
        event_source=source,
        event_time=_str(detail.get("eventTime")) or "",
        region=_str(detail.get("awsRegion")) or "",
        recipient_account=_str(detail.get("recipientAccountId")),
        actor=actor,
        source_ip=_str(detail.get("sourceIPAddress")),
        user_agent=_str(detail.get("userAgent")),
        request=_map(detail.get("requestParameters")),
        response=response if isinstance(response, Mapping) else None,
        additional=_map(detail.get("additionalEventData")),
        error_code=_str(detail.get("errorCode")),
        error_message=_str(detail.get("errorMessage")),
    )


# -- normalisation --------------------------------------------------------------------------------


def normalise(raw: Any) -> list[Envelope]:
    """Every envelope inside `raw`, whatever its accepted shape. Raises MalformedEvent."""
    return list(_walk(raw, depth=0))


def _walk(raw: Any, depth: int) -> Iterator[Envelope]:
    if depth > 3:
        raise MalformedEvent("input nested too deeply (more than 3 wrappers)")
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise MalformedEvent(f"not JSON: {err}") from err
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"expected a JSON object, got {type(raw).__name__}")

    if "detail-type" in raw or ("detail" in raw and "source" in raw):
        yield _envelope(raw)
        return
    if isinstance(raw.get("Records"), list):
        records = raw["Records"]
        if len(records) > MAX_BATCH:
            raise MalformedEvent(f"{len(records)} records in one input; the limit is {MAX_BATCH}")
        for record in records:
            if isinstance(record, Mapping) and isinstance(record.get("Sns"), Mapping):
                yield from _walk(record["Sns"].get("Message"), depth + 1)
            elif isinstance(record, Mapping) and "body" in record and "eventSource" in record:
                yield from _walk(record["body"], depth + 1)
            else:
                yield _from_cloudtrail(record)
        return
    if raw.get("Type") == "Notification" and "Message" in raw:
        yield from _walk(raw["Message"], depth + 1)
        return
    if "eventName" in raw and "eventSource" in raw:
        yield _from_cloudtrail(raw)
        return
    if "SchemaVersion" in raw and "ProductArn" in raw:
        yield _from_asff(raw)
        return
    if "schemaVersion" in raw and "type" in raw and "service" in raw:
        yield _from_guardduty(raw)
        return
    raise MalformedEvent(
        "unrecognised shape: not an EventBridge envelope, CloudTrail record or log file, "
        "SNS/SQS message, GuardDuty finding or ASFF finding"
    )


def _envelope(raw: Mapping[str, Any]) -> Envelope:
    source = raw.get("source")
    detail_type = raw.get("detail-type")
    detail = raw.get("detail")
    if not isinstance(source, str) or not source:
        raise MalformedEvent("envelope without a source")
    if not isinstance(detail_type, str) or not detail_type:
        raise MalformedEvent("envelope without a detail-type")
    if not isinstance(detail, Mapping):
        raise MalformedEvent("envelope detail is not an object")
    account = raw.get("account")
    if not isinstance(account, str) or not account:
        raise MalformedEvent("envelope without an account")
    resources = raw.get("resources") or []
    return Envelope(
        id=str(raw.get("id") or ""),
        source=source,
        detail_type=detail_type,
        account=account,
        region=str(raw.get("region") or ""),
        time=str(raw.get("time") or ""),
        resources=tuple(str(r) for r in resources) if isinstance(resources, list) else (),
        detail=detail,
    )


def _from_cloudtrail(record: Any) -> Envelope:
    if not isinstance(record, Mapping):
        raise MalformedEvent("a CloudTrail record is not an object")
    call = parse_cloudtrail(record)
    account = call.recipient_account or call.actor.account_id
    if not account:
        raise MalformedEvent("CloudTrail record names no account (no recipientAccountId or userIdentity.accountId)")
    service = call.event_source.split(".", 1)[0]
    signin = record.get("eventType") == "AwsConsoleSignIn" or service == "signin"
    return Envelope(
        id=call.event_id,
        source=f"aws.{service}",
        detail_type=CONSOLE_SIGNIN[0] if signin else CLOUDTRAIL_API,
        account=account,
        region=call.region,
        time=call.event_time,
        resources=(),
        detail=record,
        shape="cloudtrail-record",
    )


def _from_guardduty(finding: Mapping[str, Any]) -> Envelope:
    account = finding.get("accountId")
    if not isinstance(account, str) or not account:
        raise MalformedEvent("GuardDuty finding without accountId")
    return Envelope(
        id=str(finding.get("id") or ""),
        source="aws.guardduty",
        detail_type=GUARDDUTY_FINDING,
        account=account,
        region=str(finding.get("region") or ""),
        time=str(finding.get("updatedAt") or ""),
        resources=(),
        detail=finding,
        shape="guardduty-finding",
    )


def _from_asff(finding: Mapping[str, Any]) -> Envelope:
    account = finding.get("AwsAccountId")
    if not isinstance(account, str) or not account:
        raise MalformedEvent("ASFF finding without AwsAccountId")
    region = finding.get("Region") or str(finding.get("ProductArn", "")).split(":")[3:4]
    return Envelope(
        id=str(finding.get("Id") or ""),
        source="aws.securityhub",
        detail_type=SECURITYHUB_IMPORTED,
        account=account,
        region=region if isinstance(region, str) else (region[0] if region else ""),
        time=str(finding.get("UpdatedAt") or ""),
        resources=(str(finding.get("Id") or ""),),
        detail={"findings": [finding]},
        shape="asff-finding",
    )


def is_account_id(value: str | None) -> bool:
    return bool(value) and bool(_ACCOUNT.match(value or ""))


# -- AWS Config compliance changes ---------------------------------------------------------------


@dataclass(frozen=True)
class ConfigComplianceChange:
    """The parts of a `Config Rules Compliance Change` event that decisions use."""

    rule_name: str
    resource_type: str
    resource_id: str
    account: str | None
    region: str | None
    compliance: str
    recorded_at: str

    @property
    def idempotency_key(self) -> str:
        return f"config#{self.account}#{self.rule_name}#{self.resource_id}#{self.recorded_at}"


def parse_config_compliance(detail: Mapping[str, Any]) -> ConfigComplianceChange:
    """Typed view of a Config compliance change; raises MalformedEvent if it is not one."""
    if not isinstance(detail, Mapping):
        raise MalformedEvent("Config detail is not an object")
    new = detail.get("newEvaluationResult")
    new = new if isinstance(new, Mapping) else {}
    ident = new.get("evaluationResultIdentifier")
    ident = ident if isinstance(ident, Mapping) else {}
    rule, resource = detail.get("configRuleName"), detail.get("resourceId")
    if not isinstance(rule, str) or not rule or not isinstance(resource, str) or not resource:
        raise MalformedEvent("Config compliance change without configRuleName or resourceId")
    account, region = detail.get("awsAccountId"), detail.get("awsRegion")
    return ConfigComplianceChange(
        rule_name=rule,
        resource_type=str(detail.get("resourceType") or ""),
        resource_id=resource,
        account=account if isinstance(account, str) and account else None,
        region=region if isinstance(region, str) and region else None,
        compliance=str(new.get("complianceType") or ""),
        recorded_at=str(
            new.get("resultRecordedTime") or ident.get("orderingTimestamp") or detail.get("notificationCreationTime") or ""
        ),
    )
