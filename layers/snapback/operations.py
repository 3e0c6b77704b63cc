"""Operator actions on recorded outcomes: undo and approve (CLI and Security Hub custom actions).

Both start from an audit item, never from a chat message or a finding's free text: the audit item
holds the resource, the member account and the before state that Snapback itself recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snapback import registry
from snapback.errors import MalformedEvent, SnapbackError
from snapback.events import SECURITYHUB_CUSTOM_ACTION, normalise
from snapback.findings import parse_asff
from snapback.outcomes import Outcome, Result, Target
from snapback.runtime import Runtime
from snapback.securityhub import product_arn

APPROVABLE = frozenset({Outcome.NOTIFIED.value, Outcome.DRY_RUN.value})


def target_from_audit(item: Mapping[str, Any], key: str) -> Target:
    facts = item.get("facts") if isinstance(item.get("facts"), dict) else {}
    return Target(
        account=item["account"],
        region=item["region"],
        resource_type=item["resource_type"],
        resource_id=item["resource_id"],
        resource_arn=item["resource_arn"],
        idempotency_key=key,
        principal_arn=None if item.get("actor") == "-" else item.get("actor"),
        facts=dict(facts),
    )


def _item(runtime: Runtime, audit_id: str) -> dict[str, Any]:
    item = runtime.audit.get(audit_id)
    if item is None:
        raise SnapbackError(f"no audit item {audit_id}")
    return item


def undo(runtime: Runtime, audit_id: str) -> dict[str, Any]:
    """Restore the before state of one audit item; idempotent (a second undo changes nothing)."""
    item = _item(runtime, audit_id)
    if item.get("undone_by"):
        return {"audit_id": audit_id, "outcome": "ALREADY_UNDONE", "undone_by": item["undone_by"]}
    # A FAILED verification after a partial apply also recorded undo data: that can be rolled back too.
    if item.get("outcome") not in (Outcome.REMEDIATED.value, Outcome.FAILED.value) or not item.get("undo"):
        raise SnapbackError(f"audit {audit_id} ({item.get('outcome')}) changed nothing; there is nothing to undo")
    remediation = registry.get(item["remediation"])()
    remediation.configure(runtime)
    target = target_from_audit(item, f"undo#{audit_id}")
    session = runtime.clients.member(target.account, target.region, remediation.name)
    actions = remediation.undo(session, target, item["undo"])
    result = Result(
        Outcome.REMEDIATED,
        f"undo of {audit_id}",
        remediation=remediation.name,
        mode="undo",
        target=target,
        actions=actions,
        before=item.get("after"),
        after=item.get("before"),
        source_identity=session.source_identity,
    )
    undo_id = f"{audit_id}-undo"
    runtime.audit.write(result, undo_id)
    runtime.audit.update(audit_id, undone_by=undo_id)
    return {"audit_id": audit_id, "outcome": "UNDONE", "undo_audit_id": undo_id, "actions": actions}


def approve(runtime: Runtime, audit_id: str, approver: str) -> Result:
    """Enforce what a notify-mode (or dry-run) outcome proposed, on the resource it recorded."""
    item = _item(runtime, audit_id)
    if item.get("outcome") not in APPROVABLE:
        raise SnapbackError(f"audit {audit_id} is {item.get('outcome')}; only NOTIFIED or DRY_RUN outcomes can be approved")
    remediation = registry.get(item["remediation"])()
    result = remediation.approve(target_from_audit(item, audit_id), runtime, approver)
    runtime.audit.update(audit_id, approved_by=f"{approver} -> {result.audit_id}")
    return result


def custom_action(runtime: Runtime, raw: Any) -> list[dict[str, Any]]:
    """A Security Hub custom action ("Snapback remediate" / "Snapback undo") on selected findings.

    On a Snapback finding it approves or undoes the audit item the finding carries. On an AWS
    finding (GuardDuty, a failed control) "remediate" runs the remediation mapped to it, in
    enforce mode: the click is the approval. Anything else is SKIPPED with its reason.
    """
    (event,) = normalise(raw)
    if event.detail_type != SECURITYHUB_CUSTOM_ACTION or event.source != "aws.securityhub":
        raise MalformedEvent(f"not a Security Hub custom action: {event.source} / {event.detail_type}")
    action = str(event.detail.get("actionName", "")).lower()
    verb = "undo" if "undo" in action else "remediate" if "remediat" in action else None
    own_product = product_arn(runtime.config.security_account, runtime.config.home_region)
    out: list[dict[str, Any]] = []
    for raw_finding in event.detail.get("findings") or []:
        finding = parse_asff(raw_finding)
        fields = raw_finding.get("ProductFields") if isinstance(raw_finding.get("ProductFields"), Mapping) else {}
        audit_id = fields.get("snapback/audit_id") if finding.product_arn == own_product else None
        try:
            if verb is None:
                out.append({"finding": finding.id, "outcome": "SKIPPED", "reason": f"unknown action {action!r}"})
            elif audit_id and verb == "undo":
                out.append({"finding": finding.id, **undo(runtime, audit_id)})
            elif audit_id:
                out.append({"finding": finding.id, **approve(runtime, audit_id, "Security Hub custom action").as_dict()})
            elif verb == "remediate" and finding.from_aws:
                out.extend({"finding": finding.id, **r.as_dict()} for r in _remediate_aws_finding(runtime, event, finding))
            else:
                out.append(
                    {
                        "finding": finding.id,
                        "outcome": "SKIPPED",
                        "reason": "only Snapback's own findings can be undone; only AWS or Snapback findings remediated",
                    }
                )
        except SnapbackError as err:
            out.append({"finding": finding.id, "outcome": "FAILED", "reason": str(err)})
    return out


def _remediate_aws_finding(runtime: Runtime, event: Any, finding: Any) -> list[Result]:
    mapped = [r for r in registry.all_remediations() if finding.control_id and finding.control_id in r.controls]
    if not mapped:
        return [Result(Outcome.SKIPPED, f"no remediation is mapped to control {finding.control_id or '(none)'}")]
    results = []
    for cls in mapped:
        remediation = cls()
        target = remediation.resolve_finding(event, finding)
        target.facts["source_finding"] = {"Id": finding.id, "ProductArn": finding.product_arn}
        results.append(remediation.approve(target, runtime, "Security Hub custom action"))
    return results
