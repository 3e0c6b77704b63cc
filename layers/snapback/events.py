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

Bounds (`check_bounds`, applied by `normalise` before anything is walked deeply or used as a key):
every JSON text is at most `MAX_TEXT_BYTES` (`MAX_MESSAGE_BYTES` for an SNS/SQS-wrapped message),
nests at most `MAX_DEPTH` levels and holds at most `MAX_NODES` values; the identifiers that become
keys or are compared (event ids, accounts, Regions, sources, CloudTrail names, finding ids) are
checked against the maxima AWS documents for them and an event over one is REJECTED, because AWS
never sends one: it is forged or corrupt. Free text only people read (the user agent) is cut, not
rejected, so that an attacker cannot make Snapback drop a real event by sending a long header.
Keys composed of several identifiers go through `bounded_key`, which hashes a key that would not
fit DynamoDB's 2,048-byte partition key (uniqueness kept, the readable prefix too).
"""

from __future__ import annotations

import hashlib
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
# A Region name's alphabet only (public samples carry anonymised names such as `eu-west-2r`): a
# Region is compared and put in keys and ARNs, so what matters is that it cannot carry anything else.
_REGION = re.compile(r"^[a-z0-9-]{1,64}$")
MAX_BATCH = 10_000  # records in one input; a bigger log file is split by the caller
# One JSON text: a CloudTrail log file read by the CLI is the largest input (several MB); Lambda's
# own payload limits (1 MB asynchronous, 6 MB synchronous) are far below this.
MAX_TEXT_BYTES = 64 * 1024 * 1024
# A message wrapped in SNS (256 KB) or SQS (1 MiB, the SQS maximum since 2025): never more.
MAX_MESSAGE_BYTES = 1024 * 1024
# Real events nest about a dozen levels (an ASFF finding's resource details, a PutBucketAcl grant);
# the bound keeps every recursive walk (pattern matching, json.dumps, boto3 serialisation) far from
# Python's recursion limit.
MAX_DEPTH = 48
MAX_NODES = 2_000_000
# Maxima of the identifiers Snapback compares or keys on. AWS documents: ASFF Id and ProductArn <= 512,
# account ids 12 digits, IAM/ARN strings <= 2048; EventBridge ids are UUIDs, CloudTrail eventID too.
MAX_ID = 512
MAX_NAME = 256
MAX_ARN = 2048
MAX_TIME = 64
# DynamoDB's partition key is at most 2,048 bytes; keys are kept well inside it.
MAX_KEY_BYTES = 1024
# Free text kept for people (notifications, findings): longer is cut with a note.
MAX_TEXT_FIELD = 1024


def bounded_key(key: str, limit: int = MAX_KEY_BYTES) -> str:
    """`key` if it fits `limit` bytes, else its readable start and the SHA-256 of the whole key:
    still unique per key, and within DynamoDB's key size whatever the event carried."""
    data = key.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return key
    digest = hashlib.sha256(data).hexdigest()
    head = data[: limit - len(digest) - 8].decode("utf-8", "ignore")
    return f"{head}#sha256:{digest}"


def cut(text: str | None, limit: int = MAX_TEXT_FIELD) -> str | None:
    """Free text for people, cut to `limit` characters with a note saying how much was left out."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters cut by Snapback]"


def identifier(value: Any, what: str, limit: int = MAX_ID) -> str | None:
    """A string identifier of at most `limit` characters, None when absent; MalformedEvent otherwise."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{what} is a {type(value).__name__}, not a string")
    if len(value) > limit:
        raise MalformedEvent(f"{what} is {len(value)} characters long; AWS never sends more than {limit}")
    return value


def check_bounds(raw: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise MalformedEvent if `raw` nests deeper than `max_depth` or holds more than `max_nodes`
    values. Iterative, so that the check itself cannot hit the recursion limit."""
    stack: list[tuple[Any, int]] = [(raw, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise MalformedEvent(f"input holds more than {max_nodes} values")
        if isinstance(value, Mapping):
            children: Any = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth > max_depth:
            raise MalformedEvent(f"input nests deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


def load_json(text: str | bytes | bytearray, *, limit: int = MAX_TEXT_BYTES) -> Any:
    """Parse one JSON text within the bounds, or raise MalformedEvent saying what is wrong with it."""
    if len(text) > limit:
        raise MalformedEvent(f"input is {len(text)} bytes; the limit is {limit}")
    if isinstance(text, (bytes, bytearray)):
        if text[:2] == b"\x1f\x8b":
            raise MalformedEvent("gzip-compressed input: decompress it first (a CloudTrail log file is .json.gz)")
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise MalformedEvent(f"not UTF-8 text: invalid byte at position {err.start}") from None
    if not text.strip():
        raise MalformedEvent("empty input")
    try:
        value = json.loads(text)
    except RecursionError:
        raise MalformedEvent(f"input nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:
        raise MalformedEvent(f"not JSON: {str(err)[:200]}") from None
    check_bounds(value)
    return value


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
    # The record's `resources`: the accounts that own them and their ARNs, as CloudTrail names them.
    resource_accounts: tuple[str, ...] = ()
    resource_arns: tuple[str, ...] = ()

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
        """The semantic key of the call: its CloudTrail eventID, else `fallback` (resource + time),
        hashed if it would not fit a DynamoDB key (`bounded_key`)."""
        return f"ct#{self.event_id}" if self.event_id else bounded_key(fallback)

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
    name = identifier(detail.get("eventName"), "eventName", MAX_NAME)
    source = identifier(detail.get("eventSource"), "eventSource", MAX_NAME)
    if not name or not source:
        raise MalformedEvent("CloudTrail record without eventName/eventSource")
    ident = _map(detail.get("userIdentity"))
    session = _map(ident.get("sessionContext"))
    actor = Actor(
        type=_str(ident.get("type")) or "Unknown",
        arn=identifier(ident.get("arn"), "userIdentity.arn", MAX_ARN),
        account_id=identifier(ident.get("accountId"), "userIdentity.accountId", MAX_NAME),
        principal_id=identifier(ident.get("principalId"), "userIdentity.principalId", MAX_ARN),
        user_name=identifier(ident.get("userName"), "userIdentity.userName", MAX_NAME),
        session_issuer_arn=identifier(_map(session.get("sessionIssuer")).get("arn"), "sessionIssuer.arn", MAX_ARN),
        invoked_by=_str(ident.get("invokedBy")),
        source_identity=identifier(session.get("sourceIdentity"), "sourceIdentity", MAX_NAME),
    )
    response = detail.get("responseElements")
    raw_resources = detail.get("resources")
    resources = [r for r in (raw_resources if isinstance(raw_resources, list) else []) if isinstance(r, Mapping)]
    return CloudTrailCall(
        event_id=identifier(detail.get("eventID"), "eventID", MAX_NAME) or "",
        event_name=name,
        event_source=source,
        event_time=identifier(detail.get("eventTime"), "eventTime", MAX_TIME) or "",
        region=identifier(detail.get("awsRegion"), "awsRegion", MAX_TIME) or "",
        recipient_account=identifier(detail.get("recipientAccountId"), "recipientAccountId", MAX_NAME),
        actor=actor,
        source_ip=cut(_str(detail.get("sourceIPAddress"))),
        user_agent=cut(_str(detail.get("userAgent"))),
        request=_map(detail.get("requestParameters")),
        response=response if isinstance(response, Mapping) else None,
        additional=_map(detail.get("additionalEventData")),
        error_code=cut(_str(detail.get("errorCode")), MAX_NAME),
        error_message=cut(_str(detail.get("errorMessage"))),
        resource_accounts=tuple(
            a for r in resources if (a := identifier(r.get("accountId"), "resources[].accountId", MAX_NAME)) is not None
        ),
        resource_arns=tuple(a for r in resources if (a := identifier(r.get("ARN"), "resources[].ARN", MAX_ARN)) is not None),
    )


# -- normalisation --------------------------------------------------------------------------------


def normalise(raw: Any) -> list[Envelope]:
    """Every envelope inside `raw`, whatever its accepted shape. Raises MalformedEvent, and only that:
    any input, however deep, large or mistyped, is either envelopes or one clear reason."""
    try:
        if not isinstance(raw, (str, bytes, bytearray)):
            check_bounds(raw)
        envelopes = list(_walk(raw, depth=0))
    except RecursionError:
        raise MalformedEvent(f"input nests deeper than {MAX_DEPTH} levels") from None
    if not envelopes:
        raise MalformedEvent("no events in the input (an empty Records list)")
    return envelopes


def _walk(raw: Any, depth: int) -> Iterator[Envelope]:
    if depth > 3:
        raise MalformedEvent("input nested too deeply (more than 3 wrappers)")
    if isinstance(raw, (str, bytes, bytearray)):
        raw = load_json(raw, limit=MAX_MESSAGE_BYTES if depth else MAX_TEXT_BYTES)
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
    identifier(source, "source", MAX_NAME)
    identifier(detail_type, "detail-type", MAX_NAME)
    account = raw.get("account")
    if not isinstance(account, str) or not account:
        raise MalformedEvent("envelope without an account")
    if not is_account_id(account):
        raise MalformedEvent(f"envelope account {account[:40]!r} is not a 12-digit account id")
    resources = raw.get("resources") or []
    if not isinstance(resources, list):
        raise MalformedEvent("envelope resources is not a list")
    _check_detail(detail_type, detail)
    return Envelope(
        id=_scalar(raw.get("id"), "id", MAX_NAME),
        source=source,
        detail_type=detail_type,
        account=account,
        region=_region(raw.get("region"), "region"),
        time=_scalar(raw.get("time"), "time", MAX_TIME),
        resources=tuple(_scalar(r, "resources[]", MAX_ARN) for r in resources),
        detail=detail,
    )


def _check_detail(detail_type: str, detail: Mapping[str, Any]) -> None:
    """The identifiers of a detail Snapback reads, bounded at the edge: a malformed finding or record is
    REJECTED for every remediation alike, not only by the one whose resolve happens to parse it."""
    if detail_type in (CLOUDTRAIL_API, *CONSOLE_SIGNIN):
        parse_cloudtrail(detail)
    elif detail_type == GUARDDUTY_FINDING:
        account = detail.get("accountId")
        if not is_account_id(account):
            raise MalformedEvent("GuardDuty finding without a 12-digit accountId")
        identifier(detail.get("id"), "GuardDuty id", MAX_ID)
        identifier(detail.get("arn"), "GuardDuty arn", MAX_ARN)
        identifier(detail.get("type"), "GuardDuty type", MAX_ID)
        identifier(detail.get("updatedAt"), "GuardDuty updatedAt", MAX_TIME)
    elif detail_type in (SECURITYHUB_IMPORTED, SECURITYHUB_CUSTOM_ACTION):
        findings = detail.get("findings")
        if not isinstance(findings, list) or not findings:
            raise MalformedEvent("Security Hub event without a findings list")
        for finding in findings:
            if not isinstance(finding, Mapping):
                raise MalformedEvent("a Security Hub finding is not an object")
            if not is_account_id(finding.get("AwsAccountId")):
                raise MalformedEvent("Security Hub finding without a 12-digit AwsAccountId")
            identifier(finding.get("Id"), "ASFF Id", MAX_ID)
            identifier(finding.get("ProductArn"), "ASFF ProductArn", MAX_ID)
            identifier(finding.get("UpdatedAt"), "ASFF UpdatedAt", MAX_TIME)


def _scalar(value: Any, what: str, limit: int) -> str:
    """A string or number field as a bounded string ("" when absent)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return identifier(value, what, limit) or ""


def _region(value: Any, what: str) -> str:
    region = identifier(value, what, MAX_TIME) or ""
    if region and not _REGION.match(region):
        raise MalformedEvent(f"{what} {region!r} is not an AWS Region")
    return region


def _from_cloudtrail(record: Any) -> Envelope:
    if not isinstance(record, Mapping):
        raise MalformedEvent("a CloudTrail record is not an object")
    call = parse_cloudtrail(record)
    account = call.recipient_account or call.actor.account_id
    if account and not is_account_id(account):
        raise MalformedEvent(f"CloudTrail record names account {account[:40]!r}, not a 12-digit account id")
    if not account:
        raise MalformedEvent("CloudTrail record names no account (no recipientAccountId or userIdentity.accountId)")
    service = call.event_source.split(".", 1)[0]
    signin = record.get("eventType") == "AwsConsoleSignIn" or service == "signin"
    return Envelope(
        id=call.event_id,
        source=f"aws.{service}",
        detail_type=CONSOLE_SIGNIN[0] if signin else CLOUDTRAIL_API,
        account=account,
        region=_region(call.region, "awsRegion"),
        time=call.event_time,
        resources=(),
        detail=record,
        shape="cloudtrail-record",
    )


def _from_guardduty(finding: Mapping[str, Any]) -> Envelope:
    account = finding.get("accountId")
    if not isinstance(account, str) or not account:
        raise MalformedEvent("GuardDuty finding without accountId")
    if not is_account_id(account):
        raise MalformedEvent(f"GuardDuty accountId {account[:40]!r} is not a 12-digit account id")
    return Envelope(
        id=_scalar(finding.get("id"), "GuardDuty id", MAX_ID),
        source="aws.guardduty",
        detail_type=GUARDDUTY_FINDING,
        account=account,
        region=_region(finding.get("region"), "GuardDuty region"),
        time=_scalar(finding.get("updatedAt"), "GuardDuty updatedAt", MAX_TIME),
        resources=(),
        detail=finding,
        shape="guardduty-finding",
    )


def _from_asff(finding: Mapping[str, Any]) -> Envelope:
    account = finding.get("AwsAccountId")
    if not isinstance(account, str) or not account:
        raise MalformedEvent("ASFF finding without AwsAccountId")
    if not is_account_id(account):
        raise MalformedEvent(f"ASFF AwsAccountId {account[:40]!r} is not a 12-digit account id")
    finding_id = _scalar(finding.get("Id"), "ASFF Id", MAX_ID)
    product = _scalar(finding.get("ProductArn"), "ASFF ProductArn", MAX_ID)
    region = finding.get("Region") or product.split(":")[3:4]
    if isinstance(region, list) and region and not _REGION.match(region[0]):
        region = ""  # the ProductArn's Region field is best effort only
    return Envelope(
        id=finding_id,
        source="aws.securityhub",
        detail_type=SECURITYHUB_IMPORTED,
        account=account,
        region=_region(region if isinstance(region, str) else (region[0] if region else ""), "ASFF Region"),
        time=_scalar(finding.get("UpdatedAt"), "ASFF UpdatedAt", MAX_TIME),
        resources=(finding_id,),
        detail={"findings": [finding]},
        shape="asff-finding",
    )


def is_account_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_ACCOUNT.match(value))


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
        return bounded_key(f"config#{self.account}#{self.rule_name}#{self.resource_id}#{self.recorded_at}")


def parse_config_compliance(detail: Mapping[str, Any]) -> ConfigComplianceChange:
    """Typed view of a Config compliance change; raises MalformedEvent if it is not one."""
    if not isinstance(detail, Mapping):
        raise MalformedEvent("Config detail is not an object")
    new = detail.get("newEvaluationResult")
    new = new if isinstance(new, Mapping) else {}
    ident = new.get("evaluationResultIdentifier")
    ident = ident if isinstance(ident, Mapping) else {}
    rule = identifier(detail.get("configRuleName"), "configRuleName", MAX_NAME)
    resource = identifier(detail.get("resourceId"), "resourceId", MAX_ARN)
    if not rule or not resource:
        raise MalformedEvent("Config compliance change without configRuleName or resourceId")
    account, region = detail.get("awsAccountId"), detail.get("awsRegion")
    if account not in (None, "") and not is_account_id(account):
        raise MalformedEvent("Config awsAccountId is not a 12-digit account id")
    identifier(region, "awsRegion", MAX_TIME)
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
