"""Typed views of GuardDuty findings and ASFF (Security Hub) findings. No I/O.

Both tolerate missing or mistyped fields (real samples are sparse); what a remediation must have
is checked by the remediation and reported as NotApplicable or MalformedEvent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snapback.errors import MalformedEvent
from snapback.events import SECURITYHUB_IMPORTED, Envelope

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
        return f"gd#{self.arn or self.id}"


def parse_guardduty(detail: Mapping[str, Any]) -> GuardDutyFinding:
    if not isinstance(detail, Mapping):
        raise MalformedEvent("GuardDuty detail is not an object")
    finding_type = _str(detail.get("type"))
    account = _str(detail.get("accountId"))
    if not finding_type or not account:
        raise MalformedEvent("GuardDuty finding without type or accountId")
    resource = _map(detail.get("resource"))
    instance = _map(resource.get("instanceDetails"))
    key = _map(resource.get("accessKeyDetails"))
    buckets = resource.get("s3BucketDetails")
    service = _map(detail.get("service"))
    sample = _map(service.get("additionalInfo")).get("sample")
    return GuardDutyFinding(
        id=_str(detail.get("id")) or "",
        arn=_str(detail.get("arn")) or "",
        type=finding_type,
        severity=_num(detail.get("severity")),
        account=account,
        region=_str(detail.get("region")) or "",
        title=_str(detail.get("title")) or finding_type,
        resource_type=_str(resource.get("resourceType")) or "",
        instance_id=_str(instance.get("instanceId")),
        access_key_id=_str(key.get("accessKeyId")),
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

    @property
    def idempotency_key(self) -> str:
        return f"sh#{self.id}"

    @property
    def from_aws(self) -> bool:
        parts = self.product_arn.split(":")
        return len(parts) >= 6 and parts[2] == "securityhub" and parts[4] == "" and parts[5].startswith("product/aws/")


def parse_asff(finding: Mapping[str, Any]) -> AsffFinding:
    if not isinstance(finding, Mapping):
        raise MalformedEvent("ASFF finding is not an object")
    finding_id = _str(finding.get("Id"))
    account = _str(finding.get("AwsAccountId"))
    product = _str(finding.get("ProductArn"))
    if not finding_id or not account or not product:
        raise MalformedEvent("ASFF finding without Id, AwsAccountId or ProductArn")
    compliance = _map(finding.get("Compliance"))
    product_fields = _map(finding.get("ProductFields"))
    raw_resources = finding.get("Resources")
    resources = tuple(
        AsffResource(
            type=str(r.get("Type") or ""), id=str(r.get("Id") or ""), region=_str(r.get("Region")), details=_map(r.get("Details"))
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
        generator_id=str(finding.get("GeneratorId") or ""),
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
    return str(source.get("updatedAt") or source.get("UpdatedAt") or "")


def stale_finding(event: Envelope, finding: AsffFinding) -> str | None:
    """Why an imported finding is not a live failure (the rule filters these; a forced run must too)."""
    if finding.compliance == "PASSED":
        return "the control passed"
    if event.detail_type == SECURITYHUB_IMPORTED and (
        finding.workflow in ("RESOLVED", "SUPPRESSED") or finding.record_state == "ARCHIVED"
    ):
        return f"the finding is {finding.record_state if finding.record_state == 'ARCHIVED' else finding.workflow}"
    return None
