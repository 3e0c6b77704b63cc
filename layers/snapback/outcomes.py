"""What happened to one event for one remediation."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    REMEDIATED = "REMEDIATED"
    ALREADY_COMPLIANT = "ALREADY_COMPLIANT"
    DRY_RUN = "DRY_RUN"
    NOTIFIED = "NOTIFIED"
    EXEMPT = "EXEMPT"
    SKIPPED = "SKIPPED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


# Outcomes that a person must hear about (SNS/Slack) and that become Security Hub findings.
REPORTED = frozenset({Outcome.REMEDIATED, Outcome.NOTIFIED, Outcome.DRY_RUN, Outcome.FAILED, Outcome.EXEMPT})


class Severity(str, Enum):
    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True)
class Target:
    """The resource a remediation acts on, resolved from (never trusted beyond) the event."""

    account: str
    region: str
    resource_type: str  # ASFF resource type, e.g. AwsS3Bucket
    resource_id: str
    resource_arn: str
    idempotency_key: str
    principal_arn: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # trigger context for people: event, ip, agent


@dataclass
class Result:
    outcome: Outcome
    reason: str
    event_id: str = ""
    remediation: str | None = None
    mode: str | None = None
    target: Target | None = None
    actions: list[str] = field(default_factory=list)
    before: Any = None
    after: Any = None
    undo: Any = None
    source_identity: str | None = None
    audit_id: str | None = None
    finding_id: str | None = None
    notification_id: str | None = None
    severity: Severity = Severity.MEDIUM
    retryable: bool = False
    claim: str | None = None  # idempotency key held by this run, completed once recorded

    def as_dict(self) -> dict[str, Any]:
        target = self.target
        return {
            "remediation": self.remediation,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "event_id": self.event_id,
            "mode": self.mode,
            "account": target.account if target else None,
            "region": target.region if target else None,
            "resource": target.resource_arn if target else None,
            "actions": list(self.actions),
            "before": self.before,
            "after": self.after,
            "audit_id": self.audit_id,
            "finding_id": self.finding_id,
            "notification_id": self.notification_id,
            "severity": self.severity.value,
            "retryable": self.retryable,
        }
