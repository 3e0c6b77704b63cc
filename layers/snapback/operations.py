"""Operator actions on recorded outcomes: undo and approve (CLI and Security Hub custom actions).

Both start from an audit item, never from a chat message or a finding's free text: the audit item
holds the resource, the member account and the before state that Snapback itself recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback import pipeline, registry
from snapback.audit import Duplicate
from snapback.clients import classify
from snapback.errors import MalformedEvent, SnapbackError
from snapback.events import SECURITYHUB_CUSTOM_ACTION, normalise
from snapback.findings import parse_asff
from snapback.outcomes import Outcome, Result
from snapback.pipeline import resource_key, target_from_audit
from snapback.runtime import Runtime
from snapback.securityhub import product_arn

APPROVABLE = frozenset({Outcome.NOTIFIED.value, Outcome.DRY_RUN.value})


def _item(runtime: Runtime, audit_id: str) -> dict[str, Any]:
    item = runtime.audit.get(audit_id)
    if item is None:
        raise SnapbackError(f"no audit item {audit_id}")
    return item


def undo(runtime: Runtime, audit_id: str, *, force: bool = False) -> dict[str, Any]:
    """Restore the before state of one audit item, unless the resource changed since Snapback left it.

    Undo is an action like any other: it holds the resource's lock (never beside a remediation of
    the same resource), re-reads the resource and compares it with the audit's `after`. On drift it
    refuses, with a readable diff, unless `force`. Its outcome is its own audit record (refusals
    too), reported like any action (Security Hub finding, SNS). Idempotent: a second undo of the
    same record changes nothing.
    """
    item = _item(runtime, audit_id)
    if item.get("undone_by"):
        return {"audit_id": audit_id, "outcome": "ALREADY_UNDONE", "undone_by": item["undone_by"]}
    # A FAILED verification after a partial apply also recorded undo data: that can be rolled back too.
    if item.get("outcome") not in (Outcome.REMEDIATED.value, Outcome.FAILED.value) or not item.get("undo"):
        raise SnapbackError(f"audit {audit_id} ({item.get('outcome')}) changed nothing; there is nothing to undo")
    remediation = registry.get(item["remediation"])()
    remediation.configure(runtime)
    target = target_from_audit(item, f"undo#{audit_id}")
    held = runtime.ledger.acquire(
        f"{remediation.name}#undo#{audit_id}", resource_key(remediation, target), deadline=runtime.deadline()
    )
    if isinstance(held, Duplicate):
        return {"audit_id": audit_id, "outcome": "ALREADY_UNDONE", "undone_by": held.audit_id}
    try:
        if held.status == "RECORDED":  # an earlier undo was recorded and interrupted before its report
            recorded = pipeline.report_recorded(runtime, remediation, held)
            return _undo_answer(audit_id, recorded)
        session = runtime.clients.member(target.account, target.region, remediation.name)
        try:
            current = remediation.inspect(session, target)
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        # A FAILED run interrupted before it could read the result recorded no `after`: nothing to compare.
        recorded_after = item.get("after")
        drift = remediation.drift(recorded_after, current) if isinstance(recorded_after, dict) else []
        if drift and not force:
            result = Result(
                Outcome.SKIPPED,
                f"undo of {audit_id} refused: the resource changed since Snapback left it ({len(drift)} difference(s)); "
                "check the diff, then undo with --force to restore the before state anyway",
                remediation=remediation.name,
                mode="undo",
                target=target,
                actions=[f"drift: {line}" for line in drift],
                before=current,
                after=current,
                source_identity=session.source_identity,
            )
            recorded = pipeline.record_and_report(runtime, remediation, result, held, final="release")
            answer = _undo_answer(audit_id, recorded)
            answer["drift"] = drift
            return answer
        actions = remediation.undo(session, target, item["undo"])
        try:
            after = remediation.inspect(session, target)
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        result = Result(
            Outcome.REMEDIATED,
            f"undo of {audit_id}" + (f" (forced over {len(drift)} change(s) made since: {'; '.join(drift)})" if drift else ""),
            remediation=remediation.name,
            mode="undo (forced)" if drift else "undo",
            target=target,
            actions=[*(f"drift overridden: {line}" for line in drift), *actions],
            before=current,
            after=after,
            source_identity=session.source_identity,
            severity=remediation.severity,
        )
        recorded = pipeline.record_and_report(runtime, remediation, result, held, final="complete", undone=audit_id)
        answer = _undo_answer(audit_id, recorded)
        answer["actions"] = actions
        if drift:
            answer["drift"] = drift
        return answer
    except BaseException:
        if held.status != "COMPLETED":
            runtime.ledger.abandon(held)
        raise


def _undo_answer(audit_id: str, recorded: Result) -> dict[str, Any]:
    outcome = "UNDONE" if recorded.outcome is Outcome.REMEDIATED else "REFUSED"
    return {"audit_id": audit_id, "outcome": outcome, "undo_audit_id": recorded.audit_id, "reason": recorded.reason}


def approve(runtime: Runtime, audit_id: str, approver: str) -> Result:
    """Enforce what a notify-mode (or dry-run) outcome proposed, on the resource it recorded."""
    item = _item(runtime, audit_id)
    if item.get("outcome") not in APPROVABLE:
        raise SnapbackError(f"audit {audit_id} is {item.get('outcome')}; only NOTIFIED or DRY_RUN outcomes can be approved")
    remediation = registry.get(item["remediation"])()
    result = pipeline.approve(runtime, remediation, target_from_audit(item, audit_id), approver)
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
        results.append(pipeline.approve(runtime, remediation, target, "Security Hub custom action"))
    return results
