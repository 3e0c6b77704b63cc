"""Typed views of GuardDuty findings and ASFF (Security Hub) findings. No I/O.

Both tolerate missing or mistyped fields (real samples are sparse); what a remediation must have
is checked by the remediation and reported as NotApplicable or MalformedEvent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snapback.errors import MalformedEvent
from snapback.events import MAX_ARN, MAX_ID, MAX_TIME, SECURITYHUB_IMPORTED, Envelope, bounded_key, identifier, is_account_id

# Findings Snapback acts on come from AWS's own integrations only (spoof guard): a member can
# BatchImportFindings its own custom findings, which carry product/<account>/default instead.
TRUSTED_PRODUCT_PATTERN = "arn:*:securityhub:*::product/aws/*"


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class GuardDutyFinding:
    id: str
    arn: str
    type: str
    severity: float
    account: str
    region: str
    title: str
    resource_type: str
    instance_id: str | None
    access_key_id: str | None
    user_name: str | None
    principal_id: str | None
    user_type: str | None
    bucket_names: tuple[str, ...]
    sample: bool

    @property
    def idempotency_key(self) -> str:
        return bounded_key(f"gd#{self.arn or self.id}")


def parse_guardduty(detail: Mapping[str, Any]) -> GuardDutyFinding:
    if not isinstance(detail, Mapping):
        raise MalformedEvent("GuardDuty detail is not an object")
    finding_type = identifier(detail.get("type"), "GuardDuty type", MAX_ID)
    account = _str(detail.get("accountId"))
    if not finding_type or not account:
        raise MalformedEvent("GuardDuty finding without type or accountId")
    if not is_account_id(account):
        raise MalformedEvent("GuardDuty accountId is not a 12-digit account id")
    identifier(detail.get("updatedAt"), "GuardDuty updatedAt", MAX_TIME)
    resource = _map(detail.get("resource"))
    instance = _map(resource.get("instanceDetails"))
    key = _map(resource.get("accessKeyDetails"))
    buckets = resource.get("s3BucketDetails")
    service = _map(detail.get("service"))
    sample = _map(service.get("additionalInfo")).get("sample")
    return GuardDutyFinding(
        id=identifier(detail.get("id"), "GuardDuty id", MAX_ID) or "",
        arn=identifier(detail.get("arn"), "GuardDuty arn", MAX_ARN) or "",
        type=finding_type,
        severity=_num(detail.get("severity")),
        account=account,
        region=_str(detail.get("region")) or "",
        title=_str(detail.get("title")) or finding_type,
        resource_type=_str(resource.get("resourceType")) or "",
        instance_id=identifier(instance.get("instanceId"), "instanceId", MAX_ID),
        access_key_id=identifier(key.get("accessKeyId"), "accessKeyId", MAX_ID),
        user_name=_str(key.get("userName")),
        principal_id=_str(key.get("principalId")),
        user_type=_str(key.get("userType")),
        bucket_names=tuple(n for b in buckets if isinstance(b, Mapping) and (n := _str(b.get("name"))))
        if isinstance(buckets, list)
        else (),
        sample=sample is True or sample == "true",
    )


@dataclass(frozen=True)
class AsffResource:
    type: str
    id: str
    region: str | None
    details: Mapping[str, Any]

    @property
    def owner_account(self) -> str | None:
        """The account that owns the resource where the finding says so: the account field of its
        ARN, or an S3 bucket's `OwnerAccountId` (a bucket ARN has no account field)."""
        parts = self.id.split(":")
        if len(parts) >= 6 and parts[0] == "arn" and is_account_id(parts[4]):
            return parts[4]
        owner = _map(self.details.get("AwsS3Bucket")).get("OwnerAccountId")
        return owner if isinstance(owner, str) and owner else None


@dataclass(frozen=True)
class AsffFinding:
    id: str
    product_arn: str
    account: str
    region: str
    title: str
    types: tuple[str, ...]
    severity: str
    control_id: str | None
    compliance: str | None
    workflow: str | None
    record_state: str | None
    resources: tuple[AsffResource, ...]
    generator_id: str
    updated_at: str = ""

    @property
    def idempotency_key(self) -> str:
        """Id + UpdatedAt: the finding reaches Snapback from the member's forwarder and again through
        the delegated administrator's (and cross-Region) aggregation, each copy with its own
        EventBridge id; the finding's own Id and UpdatedAt are the same in every copy, and a new
        UpdatedAt is a new occurrence (Security Hub updates a still-failing control)."""
        return bounded_key(f"sh#{self.id}#{self.updated_at}")

    @property
    def from_aws(self) -> bool:
        parts = self.product_arn.split(":")
        return len(parts) >= 6 and parts[2] == "securityhub" and parts[4] == "" and parts[5].startswith("product/aws/")


def parse_asff(finding: Mapping[str, Any]) -> AsffFinding:
    if not isinstance(finding, Mapping):
        raise MalformedEvent("ASFF finding is not an object")
    finding_id = identifier(finding.get("Id"), "ASFF Id", MAX_ID)
    account = identifier(finding.get("AwsAccountId"), "ASFF AwsAccountId", MAX_ID)
    product = identifier(finding.get("ProductArn"), "ASFF ProductArn", MAX_ID)
    if not finding_id or not account or not product:
        raise MalformedEvent("ASFF finding without Id, AwsAccountId or ProductArn")
    if not is_account_id(account):
        raise MalformedEvent("ASFF AwsAccountId is not a 12-digit account id")
    compliance = _map(finding.get("Compliance"))
    product_fields = _map(finding.get("ProductFields"))
    raw_resources = finding.get("Resources")
    resources = tuple(
        AsffResource(
            type=identifier(r.get("Type"), "ASFF Resources[].Type", MAX_ID) or "",
            id=identifier(r.get("Id"), "ASFF Resources[].Id", MAX_ARN) or "",
            region=identifier(r.get("Region"), "ASFF Resources[].Region", MAX_TIME),
            details=_map(r.get("Details")),
        )
        for r in (raw_resources if isinstance(raw_resources, list) else [])
        if isinstance(r, Mapping)
    )
    region = _str(finding.get("Region")) or (product.split(":")[3] if product.count(":") >= 3 else "")
    types = finding.get("Types")
    return AsffFinding(
        id=finding_id,
        product_arn=product,
        account=account,
        region=region,
        title=_str(finding.get("Title")) or "",
        types=tuple(str(t) for t in types) if isinstance(types, list) else (),
        severity=str(_map(finding.get("Severity")).get("Label") or ""),
        control_id=_str(compliance.get("SecurityControlId")) or _str(product_fields.get("ControlId")),
        compliance=_str(compliance.get("Status")),
        workflow=_str(_map(finding.get("Workflow")).get("Status")),
        record_state=_str(finding.get("RecordState")),
        resources=resources,
        generator_id=identifier(finding.get("GeneratorId"), "ASFF GeneratorId", MAX_ID) or "",
        updated_at=identifier(finding.get("UpdatedAt"), "ASFF UpdatedAt", MAX_TIME) or "",
    )


def first_finding(detail: Mapping[str, Any]) -> AsffFinding:
    """The one finding of a Security Hub event (EventBridge carries one per event)."""
    findings = detail.get("findings") if isinstance(detail, Mapping) else None
    if not isinstance(findings, list) or not findings:
        raise MalformedEvent("Security Hub event without findings")
    return parse_asff(findings[0])


def updated_at(detail: Mapping[str, Any]) -> str:
    """When a GuardDuty or Security Hub finding last changed: a new occurrence is a new trigger."""
    findings = detail.get("findings")
    source = findings[0] if isinstance(findings, list) and findings and isinstance(findings[0], Mapping) else detail
    value = source.get("updatedAt") or source.get("UpdatedAt")
    return identifier(value, "the finding's updatedAt", MAX_TIME) or ""


def stale_finding(event: Envelope, finding: AsffFinding) -> str | None:
    """Why an imported finding is not a live failure (the rule filters these; a forced run must too)."""
    if finding.compliance == "PASSED":
        return "the control passed"
    if event.detail_type == SECURITYHUB_IMPORTED and (
        finding.workflow in ("RESOLVED", "SUPPRESSED") or finding.record_state == "ARCHIVED"
    ):
        return f"the finding is {finding.record_state if finding.record_state == 'ARCHIVED' else finding.workflow}"
    return None
