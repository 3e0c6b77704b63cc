"""Sharing outside the organization: who a grant names, and IAM Access Analyzer findings. No I/O.

A grant names either everyone (`all`, `*`) or something that belongs to one AWS account: a
12-digit id, an IAM ARN (`arn:aws:iam::<account>:root|role/...|user/...`), or an Organizations
ARN (`arn:aws:organizations::<management account>:organization/o-...` or `.../ou/o-.../ou-...`).
An organization or OU ARN carries its management account, and an account belongs to one
organization only, so "is this organization or OU ours" is "is its management account ours".
Whether an account is inside the organization is the plugin's `in_org` (exact, from AWS
Organizations), never decided here.

IAM Access Analyzer sends `Access Analyzer Finding` events (source `aws.access-analyzer`) straight
to EventBridge; `detail` is the finding as GetFinding returns it, plus `accountId`, `region` and
`isDeleted`: `id`, `status` (ACTIVE | ARCHIVED | RESOLVED), `resourceType` (AWS::S3::Bucket,
AWS::KMS::Key, AWS::Lambda::Function, AWS::EC2::Snapshot, AWS::RDS::DBSnapshot,
AWS::RDS::DBClusterSnapshot, AWS::IAM::Role, ...), `resource` (the ARN), `principal`
({"AWS": "111122223333"}, {"AWS": "*"}, ...), `action`, `condition`, `isPublic`, `updatedAt`
(EventBridge event reference, "IAM Access Analyzer events"; API reference, Finding).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from snapback.errors import MalformedEvent

EVERYONE = frozenset({"all", "*"})
ACCESS_ANALYZER_FINDING = "Access Analyzer Finding"
ACCESS_ANALYZER_SOURCE = "aws.access-analyzer"
_ACCOUNT = re.compile(r"^\d{12}$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(iam|sts|organizations)::(\d{12}):")


def account_of(principal: str) -> str | None:
    """The account a grantee belongs to (None for everyone, a service principal or an unreadable value)."""
    text = principal.strip()
    if _ACCOUNT.match(text):
        return text
    match = _ARN_ACCOUNT.match(text)
    return match.group(2) if match else None


def outside_grants(grants: Iterable[str], in_org: Callable[[str], bool]) -> list[str]:
    """The grants that reach beyond the organization: everyone always, an account only when it is
    not a member (an org-internal share is the organization's own business). A value naming no
    account (a service principal, a canonical id) is not judged here."""
    out = []
    for grant in grants:
        if grant in EVERYONE:
            out.append(grant)
            continue
        account = account_of(grant)
        if account is not None and not in_org(account):
            out.append(grant)
    return sorted(set(out))


def items(value: Any) -> list[Mapping[str, Any]]:
    """CloudTrail writes EC2 lists as {"items": [...]}; other producers write plain lists."""
    if isinstance(value, Mapping):
        value = value.get("items")
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def strings(value: Any) -> list[str]:
    """A string or a list of strings (CloudTrail writes both), as a list of non-empty strings."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v]


# -- IAM Access Analyzer -----------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyzerFinding:
    id: str
    status: str
    resource_type: str
    resource: str
    account: str
    region: str
    principals: tuple[str, ...]
    is_public: bool
    actions: tuple[str, ...]
    condition: Mapping[str, Any]
    updated_at: str
    is_deleted: bool
    error: str | None

    @property
    def idempotency_key(self) -> str:
        return f"aa#{self.id}#{self.updated_at}"

    def grants(self) -> list[str]:
        """Whom the finding says the resource is shared with (`*` when public)."""
        found = ["*"] if self.is_public else []
        return sorted(set(found) | set(self.principals))

    def facts(self) -> dict[str, Any]:
        return {
            "access_analyzer_finding": self.id,
            "finding_status": self.status,
            "resource_type": self.resource_type,
            "principal": list(self.principals),
            "is_public": self.is_public,
            "actions": list(self.actions),
            "condition": dict(self.condition),
        }


def parse_access_analyzer(detail: Mapping[str, Any], event_account: str, event_region: str) -> AnalyzerFinding:
    if not isinstance(detail, Mapping):
        raise MalformedEvent("Access Analyzer detail is not an object")
    finding_id, resource, resource_type = detail.get("id"), detail.get("resource"), detail.get("resourceType")
    if not isinstance(finding_id, str) or not finding_id or not isinstance(resource_type, str) or not resource_type:
        raise MalformedEvent("Access Analyzer finding without id or resourceType")
    if not isinstance(resource, str) or not resource.startswith("arn:"):
        raise MalformedEvent(f"Access Analyzer finding {finding_id} names no resource ARN")
    principal = detail.get("principal")
    principals: list[str] = []
    if isinstance(principal, Mapping):
        for value in principal.values():
            principals.extend(strings(value))
    elif isinstance(principal, str):
        principals.append(principal)
    account = detail.get("accountId") or detail.get("resourceOwnerAccount") or event_account
    condition = detail.get("condition")
    error = detail.get("error")
    return AnalyzerFinding(
        id=finding_id,
        status=str(detail.get("status") or ""),
        resource_type=resource_type,
        resource=resource,
        account=str(account),
        region=str(detail.get("region") or event_region),
        principals=tuple(sorted(set(principals))),
        is_public=detail.get("isPublic") is True,
        actions=tuple(strings(detail.get("action"))),
        condition=condition if isinstance(condition, Mapping) else {},
        updated_at=str(detail.get("updatedAt") or detail.get("analyzedAt") or ""),
        is_deleted=detail.get("isDeleted") is True,
        error=error if isinstance(error, str) and error else None,
    )


def live_finding_problem(finding: AnalyzerFinding) -> str | None:
    """Why a finding is not a live external access (the rule filters on ACTIVE; a forced run must too)."""
    if finding.is_deleted:
        return "the finding was deleted (its analyzer is gone)"
    if finding.status != "ACTIVE":
        return f"the finding is {finding.status or 'of no status'}, not ACTIVE"
    if finding.error:
        return f"an error finding ({finding.error}): Access Analyzer could not analyze the resource"
    return None


def access_analyzer_pattern(resource_types: list[str]) -> dict[str, Any]:
    """ACTIVE external-access findings on `resource_types`, never error findings. `isDeleted` is not in
    the pattern (not every producer writes it; a missing field would never match): resolve drops those."""
    return {
        "source": [ACCESS_ANALYZER_SOURCE],
        "detail-type": [ACCESS_ANALYZER_FINDING],
        "detail": {
            "resourceType": sorted(resource_types),
            "status": ["ACTIVE"],
            "error": [{"exists": False}],
        },
    }
