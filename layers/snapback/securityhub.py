"""Security Hub: every reported outcome becomes an ASFF finding in the security account.

The finding `Id` is stable per remediation and resource, so a repeat updates the finding instead
of duplicating it. `BatchUpdateFindings` (moto lacks it) goes through `FindingWorkflow`, a thin
client tested with botocore's Stubber.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, classify
from snapback.outcomes import Outcome, Result

if TYPE_CHECKING:
    from snapback.remediation import Remediation

SCHEMA_VERSION = "2018-10-08"
MAX_BATCH = 100
NOTE_LIMIT = 512
_WORKFLOW = {
    Outcome.REMEDIATED: "RESOLVED",
    Outcome.ALREADY_COMPLIANT: "RESOLVED",
    Outcome.NOTIFIED: "NOTIFIED",
    Outcome.DRY_RUN: "NOTIFIED",
    Outcome.EXEMPT: "SUPPRESSED",
    Outcome.FAILED: "NEW",
}
_COMPLIANCE = {Outcome.REMEDIATED: "PASSED", Outcome.ALREADY_COMPLIANT: "PASSED", Outcome.EXEMPT: "WARNING"}


def product_arn(account: str, region: str, partition: str = "aws") -> str:
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def finding_id(remediation: str, account: str, region: str, resource_id: str) -> str:
    return f"snapback/{remediation}/{account}/{region or 'global'}/{resource_id}"[:512]


def undo_command(result: Result) -> str | None:
    return f"snapback undo {result.audit_id}" if result.undo and result.audit_id else None


def build_finding(result: Result, remediation: type[Remediation], account: str, region: str) -> dict[str, Any]:
    """An ASFF finding (BatchImportFindings) for one outcome; the caller's account owns it."""
    target = result.target
    assert target is not None
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    facts = target.facts
    undo = undo_command(result)
    description = f"{facts.get('summary', remediation.summary)}. Outcome: {result.outcome.value} ({result.reason})."
    if result.actions:
        description += " Actions: " + "; ".join(result.actions) + "."
    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(remediation.name, target.account, target.region, target.resource_id),
        "ProductArn": product_arn(account, region),
        "GeneratorId": f"snapback/{remediation.name}",
        "AwsAccountId": account,
        "Types": [remediation.finding_type],
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": result.severity.value},
        "Title": f"Snapback {remediation.name}: {result.outcome.value} {target.resource_id}"[:256],
        "Description": description[:1024],
        "ProductFields": {
            "snapback/audit_id": result.audit_id or "",
            "snapback/outcome": result.outcome.value,
            "snapback/mode": result.mode or "",
            "snapback/member_account": target.account,
            "snapback/event_id": result.event_id or "",
            "snapback/remediation": remediation.name,
        },
        "Resources": [
            {
                "Type": target.resource_type,
                "Id": target.resource_arn,
                "Region": target.region or region,
                "Details": {"Other": {"AccountId": target.account}},
            }
        ],
        "RecordState": "ACTIVE",
        "Workflow": {"Status": _WORKFLOW.get(result.outcome, "NEW")},
    }
    if result.outcome in _COMPLIANCE:
        finding["Compliance"] = {"Status": _COMPLIANCE[result.outcome]}
    if undo:
        finding["Remediation"] = {"Recommendation": {"Text": f"To undo: {undo}"[:512]}}
    return finding


@dataclass
class FindingImporter:
    clients: Clients
    account: str
    region: str

    def client(self) -> Any:
        """The home Region's client (made before `import_findings` may run beside another call)."""
        return self.clients.client("securityhub", self.region)

    def import_findings(self, findings: Sequence[Mapping[str, Any]]) -> list[str]:
        """Import in batches of at most 100; throttling is retried with backoff, then raised."""
        client = self.client()
        imported: list[str] = []
        for start in range(0, len(findings), MAX_BATCH):
            batch = list(findings[start : start + MAX_BATCH])
            response = _with_backoff(client.batch_import_findings, Findings=batch)
            failed = {f["Id"]: f for f in response.get("FailedFindings", [])}
            imported.extend(f["Id"] for f in batch if f["Id"] not in failed)
            if failed:
                first = next(iter(failed.values()))
                raise classify(
                    ClientError(
                        {"Error": {"Code": first.get("ErrorCode", "ImportFailed"), "Message": first.get("ErrorMessage", "")}},
                        "BatchImportFindings",
                    )
                )
        return imported


@dataclass
class FindingWorkflow:
    """BatchUpdateFindings on the source finding (moto lacks the call; tested with Stubber)."""

    client: Any

    def update(self, identifiers: Sequence[Mapping[str, str]], status: str, note: str) -> list[Mapping[str, str]]:
        processed: list[Mapping[str, str]] = []
        for start in range(0, len(identifiers), MAX_BATCH):
            batch = [{"Id": i["Id"], "ProductArn": i["ProductArn"]} for i in identifiers[start : start + MAX_BATCH]]
            response = _with_backoff(
                self.client.batch_update_findings,
                FindingIdentifiers=batch,
                Workflow={"Status": status},
                Note={"Text": truncate(note, NOTE_LIMIT), "UpdatedBy": "snapback"},
            )
            processed.extend(response.get("ProcessedFindings", []))
            unprocessed = response.get("UnprocessedFindings", [])
            if unprocessed:
                first = unprocessed[0]
                raise classify(
                    ClientError(
                        {"Error": {"Code": first.get("ErrorCode", "UpdateFailed"), "Message": first.get("ErrorMessage", "")}},
                        "BatchUpdateFindings",
                    )
                )
        return processed


def truncate(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def _with_backoff(call: Any, attempts: int = 4, **kwargs: Any) -> Any:
    """Security Hub allows 10 TPS (burst 30): retry throttling a few times before raising."""
    from snapback.errors import RetryableError

    for attempt in range(attempts):
        try:
            return call(**kwargs)
        except (ClientError, BotoCoreError) as err:
            mapped = classify(err)
            if not isinstance(mapped, RetryableError) or attempt == attempts - 1:
                raise mapped from err
            time.sleep(min(2.0, 0.2 * 2**attempt))
    raise AssertionError("unreachable")
