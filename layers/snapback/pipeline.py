"""The decision path, owned by the runtime: every remediation is a plugin that only fills hooks.

    guards (snapback.guards: source, failed call, loop, organization, account binding)
    -> dedupe by event (semantic key) + claim the RESOURCE (snapback.audit.Ledger.acquire)
    -> exemptions -> mode -> approval hook -> breaker
    -> assume the member role (SourceIdentity) -> inspect real state -> compliant? ALREADY_COMPLIANT
    -> apply -> verify -> review hook
    -> record: the audit item, the claim RECORDED and the resource lock ended in one transaction
    -> report: Security Hub finding, SNS, the source finding's workflow; then the claim COMPLETED

The audit record is written before anything is reported, so an action never lacks its record; a
report that fails with a retryable error raises (Lambda runs the event again, and the retry finds
the claim RECORDED and only reports it again: no second action, no second record). A run killed
anywhere is taken over by the retry once its holder is provably gone (see the lease in
snapback.audit); the retry works from the before state the killed run remembered.

This module imports the plugin base and the services' types; it never imports `snapback.runtime`:
the runtime hands itself in as `Services`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from snapback import guards
from snapback.audit import AuditLog, Duplicate, Held, Ledger, new_audit_id
from snapback.breaker import Breaker
from snapback.clients import Clients, classify, error_code
from snapback.config import Config
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import SECURITYHUB_CUSTOM_ACTION, SECURITYHUB_IMPORTED, Envelope, parse_cloudtrail
from snapback.findings import first_finding
from snapback.notify import Notifier
from snapback.outcomes import REPORTED, Outcome, Result, Severity, Target
from snapback.remediation import AlertRemediation, Remediation
from snapback.securityhub import FindingImporter, FindingWorkflow, build_finding, undo_command
from snapback.triggers import CLOUDTRAIL_DETAIL_TYPES


class Services(Protocol):
    """What the pipeline needs from the runtime (`snapback.runtime.Runtime` provides it)."""

    config: Config
    clients: Clients
    org: Any
    offline: bool
    logger: Any

    @property
    def ledger(self) -> Ledger: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def breaker(self) -> Breaker: ...

    @property
    def findings(self) -> FindingImporter: ...

    @property
    def workflow(self) -> FindingWorkflow: ...

    @property
    def notifier(self) -> Notifier: ...

    def mode_for(self, remediation: str, account: str | None = None) -> str: ...

    def ous_of(self, account: str | None) -> tuple[str, ...]: ...

    def deadline(self) -> float: ...

    def observe(self, result: Result) -> None: ...


# The source Security Hub finding's workflow after each outcome (BatchUpdateFindings).
SOURCE_WORKFLOW = {
    Outcome.REMEDIATED: "RESOLVED",
    Outcome.ALREADY_COMPLIANT: "RESOLVED",
    Outcome.NOTIFIED: "NOTIFIED",
    Outcome.DRY_RUN: "NOTIFIED",
    Outcome.FAILED: "NOTIFIED",
    Outcome.EXEMPT: "NOTIFIED",
}


def resource_key(remediation: str | Remediation, target: Target) -> str:
    """The lock that serializes actions per resource: remediation + account + Region + resource, or
    remediation + the shared resource the plugin says the action writes (`Remediation.shared_resource`)."""
    if isinstance(remediation, Remediation):
        shared = remediation.shared_resource(target)
        if shared:
            return f"{remediation.name}#shared#{shared}"
        remediation = remediation.name
    return f"{remediation}#{target.account}#{target.region or '-'}#{target.resource_arn}"


# -- entry points ------------------------------------------------------------------------------------


def handle(rt: Services, remediation: Remediation, event: Envelope) -> Result:
    """One event for one remediation, from the guards to the report."""
    remediation.configure(rt)
    held: Held | None = None
    try:
        result, held = _decide_event(rt, remediation, event)
        if held is not None and held.status == "RECORDED":
            return _report_recorded(rt, remediation, held)
        _stamp(result, remediation, event.id)
        result.mode = result.mode or (rt.mode_for(remediation.name, result.target.account) if result.target else None)
        return _conclude(rt, remediation, result, held, final="release" if result.outcome is Outcome.FAILED else "complete")
    except BaseException:
        if held is not None and held.status != "COMPLETED":
            rt.ledger.abandon(held)
        raise


def reconcile(rt: Services, remediation: Remediation, target: Target, *, period: str, run_id: str) -> Result:
    """A violation the sweep found, through the same decision path as an event.

    The claim is `<remediation>#<sweep_key>#<period>` (period: the UTC day). A violation that stays
    (notify, dry-run, exempt, FAILED) is reported once per period, not on every sweep; a REMEDIATED
    or ALREADY_COMPLIANT one gives its claim back, so that the same resource broken again later that
    day is fixed again. A repeat within the period is SKIPPED and not recorded.
    """
    remediation.configure(rt)
    target.facts.setdefault("trigger", "reconciliation sweep (no event was seen)")
    key = f"{remediation.name}#{target.idempotency_key}#{period}"
    held: Held | None = None
    try:
        got = rt.ledger.acquire(key, resource_key(remediation, target), deadline=rt.deadline())
        if isinstance(got, Duplicate):
            result = Result(Outcome.SKIPPED, f"duplicate: already reported in sweep period {period} (audit {got.audit_id})")
            result.target, result.remediation, result.event_id = target, remediation.name, run_id
            return result
        held = got
        if held.status == "RECORDED":
            return _report_recorded(rt, remediation, held)
        result = _act(rt, remediation, target, held)
        result.target = target
        _stamp(result, remediation, run_id)
        result.mode = result.mode or rt.mode_for(remediation.name, target.account)
        final = "release" if result.outcome in (Outcome.REMEDIATED, Outcome.ALREADY_COMPLIANT) else "complete"
        return _conclude(rt, remediation, result, held, final=final)
    except BaseException:
        if held is not None and held.status != "COMPLETED":
            rt.ledger.abandon(held)
        raise


def approve(rt: Services, remediation: Remediation, target: Target, approver: str) -> Result:
    """Enforce on a target that notify mode reported (human approval): same inspect-apply-verify."""
    remediation.configure(rt)
    key = f"{remediation.name}#approve#{target.idempotency_key}"
    held: Held | None = None
    try:
        got = rt.ledger.acquire(key, resource_key(remediation, target), deadline=rt.deadline())
        if isinstance(got, Duplicate):
            result = Result(Outcome.SKIPPED, f"duplicate: approval already handled (audit {got.audit_id})", target=target)
        else:
            held = got
            if held.status == "RECORDED":
                return _report_recorded(rt, remediation, held)
            result = _act(rt, remediation, target, held, mode="enforce", approved=True)
            result.target = target
            result.reason = f"{result.reason} (approved by {approver})"
        result.remediation = remediation.name
        result.mode = "enforce (approved)"
        result.severity = remediation.severity if result.outcome is not Outcome.FAILED else Severity.HIGH
        return _conclude(rt, remediation, result, held, final="release" if result.outcome is Outcome.FAILED else "complete")
    except BaseException:
        if held is not None and held.status != "COMPLETED":
            rt.ledger.abandon(held)
        raise


# -- deciding ----------------------------------------------------------------------------------------


def _decide_event(rt: Services, remediation: Remediation, event: Envelope) -> tuple[Result, Held | None]:
    try:
        call = parse_cloudtrail(event.detail) if event.detail_type in CLOUDTRAIL_DETAIL_TYPES else None
    except MalformedEvent as err:
        return Result(Outcome.REJECTED, str(err)), None
    guarded = call
    if call is not None and call.failed and remediation.acts_on_failed_call(call):
        guarded = dataclasses.replace(call, error_code=None)  # an attempt that matters (organization departure)
    skip = guards.skip_reason(event, guarded, config=rt.config, org=rt.org)
    if skip:
        return Result(Outcome.SKIPPED, skip), None
    try:
        if event.detail_type in (SECURITYHUB_IMPORTED, SECURITYHUB_CUSTOM_ACTION):
            finding = first_finding(event.detail)
            if not finding.from_aws:
                return Result(
                    Outcome.SKIPPED, f"untrusted product {finding.product_arn}: only AWS integrations are acted on"
                ), None
            target = remediation.resolve_finding(event, finding)
            target.facts["source_finding"] = {"Id": finding.id, "ProductArn": finding.product_arn}
        else:
            target = remediation.resolve(event, call)
    except NotApplicable as err:
        named = err.target if isinstance(err.target, Target) else None
        return Result(Outcome.SKIPPED, f"not applicable: {err}", target=named), None
    except MalformedEvent as err:
        return Result(Outcome.REJECTED, str(err)), None
    mismatch = guards.target_skip_reason(event, target, config=rt.config, org=rt.org)
    if mismatch:
        return Result(Outcome.SKIPPED, mismatch, target=target), None
    if rt.offline:
        result = _act(rt, remediation, target, None)
        result.target = target
        return result, None
    key = f"{remediation.name}#{target.idempotency_key}"
    got = rt.ledger.acquire(key, resource_key(remediation, target), deadline=rt.deadline())
    if isinstance(got, Duplicate):
        return Result(Outcome.SKIPPED, f"duplicate: already handled (audit {got.audit_id})", target=target), None
    if got.status == "RECORDED":
        return Result(Outcome.SKIPPED, "recorded"), got  # only reporting is left (see `handle`)
    try:
        result = _act(rt, remediation, target, got)
    except BaseException:
        rt.ledger.abandon(got)
        raise
    result.target = target
    return result, got


def _act(
    rt: Services, remediation: Remediation, target: Target, held: Held | None, mode: str | None = None, approved: bool = False
) -> Result:
    """Decide and (in enforce mode) act on one target; the plugin's `review` hook sees every outcome."""
    return remediation.review(target, _decide(rt, remediation, target, held, mode, approved))


def _decide(
    rt: Services, remediation: Remediation, target: Target, held: Held | None, mode: str | None, approved: bool
) -> Result:
    name = remediation.name
    mode = mode or rt.mode_for(name, target.account)
    exemption = rt.config.exemption_for(
        remediation=name,
        account=target.account,
        resource_arn=target.resource_arn,
        principal_arn=target.principal_arn,
        ous=rt.ous_of(target.account),
    )
    if exemption:
        return Result(Outcome.EXEMPT, f"exempt: {exemption.reason}", mode=mode)
    if isinstance(remediation, AlertRemediation):
        if mode == "dry-run":
            return Result(Outcome.DRY_RUN, "dry-run: alert recorded, nobody paged", mode=mode)
        return Result(Outcome.NOTIFIED, remediation.alert_reason, mode=mode)
    if rt.offline:
        return Result(
            Outcome.DRY_RUN,
            "backtest: would re-read the resource and remediate it if still non-compliant",
            mode=mode,
            actions=remediation.offline_plan(target),
        )
    session = rt.clients.member(target.account, target.region, name)
    earlier = held.progress if held is not None else None
    held_for: str | None = None
    try:
        current = remediation.inspect(session, target)
        # After an interrupted try the resource may be half changed: work from what was there before it.
        before = dict(earlier["before"]) if earlier and isinstance(earlier.get("before"), Mapping) else current
        if remediation.is_compliant(current):
            if earlier is None:
                return Result(Outcome.ALREADY_COMPLIANT, "current state is already compliant", mode=mode, before=current)
            if remediation.finished(target, before, current):
                return _finish_interrupted(remediation, target, session, mode, earlier, current)
            # Half done (a recreated trail not yet started): apply from the remembered before again.
        if mode == "enforce" and not approved and earlier is None:
            held_for = remediation.needs_approval(session, target)
        planned = remediation.plan(target, before)
        if mode == "dry-run":
            return Result(Outcome.DRY_RUN, "dry-run: nothing changed", mode=mode, actions=planned, before=before)
        if mode == "notify" or held_for:
            reason = f"{held_for} (snapback approve <audit id>)" if held_for else "notify mode: approval needed to act"
            return Result(
                Outcome.NOTIFIED, reason, mode="enforce (approval required)" if held_for else mode, actions=planned, before=before
            )
        # An earlier try of this claim was admitted by the breaker already: do not count it twice.
        held_back = None if approved or earlier is not None else rt.breaker.admit(name, target.account)
        if held_back:
            return Result(
                Outcome.NOTIFIED,
                f"{held_back}; approval needed to act",
                mode="notify (breaker)",
                actions=planned,
                before=before,
                severity=Severity.CRITICAL,
            )
        if held is not None and earlier is None:
            rt.ledger.remember(held, before, planned)
        _update_source_finding(rt, target, "NOTIFIED", f"Snapback {name}: remediating {target.resource_id}")
        undo = remediation.apply(session, target, before)
        after = remediation.verify(session, target, before, undo)
    except ClientError as err:
        if error_code(err) in remediation.gone_codes:
            return Result(Outcome.ALREADY_COMPLIANT, f"resource no longer exists ({error_code(err)})", mode=mode)
        mapped = classify(err)
        if isinstance(mapped, PermanentError):
            return Result(Outcome.FAILED, str(mapped), mode=mode)
        raise mapped from err
    except BotoCoreError as err:
        mapped = classify(err)
        if isinstance(mapped, PermanentError):
            return Result(Outcome.FAILED, str(mapped), mode=mode)
        raise mapped from err
    except PermanentError as err:
        return Result(Outcome.FAILED, str(err), mode=mode)
    if not remediation.is_compliant(after):
        return Result(
            Outcome.FAILED,
            "verification failed: state still not compliant after apply",
            mode=mode,
            actions=planned,
            before=before,
            after=after,
            undo=undo,
        )
    return Result(
        Outcome.REMEDIATED,
        "remediated and verified" + (" (finishing the work of an earlier try that was interrupted)" if earlier else ""),
        mode=mode,
        actions=planned,
        before=before,
        after=after,
        undo=undo,
        source_identity=session.source_identity,
    )


def _finish_interrupted(
    remediation: Remediation, target: Target, session: Any, mode: str, earlier: Mapping[str, Any], after: dict[str, Any]
) -> Result:
    """An earlier try made the change and was interrupted before recording it (a timeout, a crash):
    the resource is compliant now, so record that try's work with the before state it remembered."""
    before = dict(earlier.get("before") or {})
    undo = remediation.undo_data_for(target, before)
    return Result(
        Outcome.REMEDIATED,
        "remediated and verified (the change was made by an earlier try that was interrupted before it was recorded)"
        + ("" if undo is not None else "; no undo data: this remediation's undo needs what the interrupted try created"),
        mode=mode,
        actions=list(earlier.get("planned") or []),
        before=before,
        after=after,
        undo=undo,
        source_identity=session.source_identity,
    )


def _stamp(result: Result, remediation: Remediation, event_id: str) -> None:
    result.remediation = remediation.name
    result.event_id = result.event_id or event_id
    if result.severity is not Severity.CRITICAL:  # a breaker trip stays critical
        result.severity = remediation.severity if result.outcome is not Outcome.FAILED else Severity.HIGH


# -- recording and reporting ----------------------------------------------------------------------------


def _conclude(rt: Services, remediation: Remediation, result: Result, held: Held | None, *, final: str) -> Result:
    if rt.offline:
        rt.observe(result)
        return result
    result.audit_id = new_audit_id()
    if held is None:  # nothing was claimed (guards, duplicates): nothing was done, one plain record
        rt.audit.write(result, result.audit_id)
        rt.observe(result)
        return result
    return record_and_report(rt, remediation, result, held, final=final)


def record_and_report(
    rt: Services, remediation: Remediation, result: Result, held: Held, *, final: str, undone: str | None = None
) -> Result:
    """Record `result` under the claim `held` (one transaction with the audit item; `undone`: the
    audit item this result undoes is marked in the same transaction), then report it."""
    result.audit_id = result.audit_id or new_audit_id()
    also = []
    if undone:
        also.append(
            {
                "Update": {
                    "TableName": rt.audit.table,
                    "Key": {"pk": {"S": f"audit#{undone}"}},
                    "UpdateExpression": "SET undone_by = :u",
                    "ExpressionAttributeValues": {":u": {"S": result.audit_id}},
                }
            }
        )
    rt.ledger.record(held, rt.audit.item(result, result.audit_id), final=final, also=also)
    return _report(rt, remediation, result, held)


def report_recorded(rt: Services, remediation: Remediation, held: Held) -> Result:
    return _report_recorded(rt, remediation, held)


def _report_recorded(rt: Services, remediation: Remediation, held: Held) -> Result:
    """An earlier try recorded its outcome and was interrupted before reporting it: report it now."""
    item = rt.audit.get(held.audit_id or "-")
    if item is None:
        raise PermanentError(f"claim {held.key} names audit {held.audit_id}, which does not exist")
    return _report(rt, remediation, result_from_audit(item), held)


def report(rt: Services, remediation: type[Remediation] | Remediation, result: Result) -> dict[str, str]:
    """Security Hub finding, SNS and the source finding's workflow for a recorded result; the fields
    of the audit item that reporting changes. Retryable failures raise; permanent ones are noted."""
    fields: dict[str, str] = {}
    if result.outcome in REPORTED and result.target is not None:
        for err in _finding_and_notification(rt, remediation, result, fields):
            # Retrying would fail the same way; the action and its record stand, the gap is on the record.
            result.reason = fields["reason"] = f"{result.reason}; not reported: {err}"
            fields["report_error"] = "; ".join(filter(None, (fields.get("report_error"), str(err))))
            if rt.logger is not None:
                rt.logger.error("outcome not reported", extra={"audit_id": result.audit_id, "error": str(err)})
    status = SOURCE_WORKFLOW.get(result.outcome)
    if status:
        undo = undo_command(result)
        note = f"Snapback {remediation.name}: {result.outcome.value} - {result.reason}. audit {result.audit_id}" + (
            f". undo: {undo}" if undo else ""
        )
        problem = _update_source_finding(rt, result.target, status, note)
        if problem:
            result.reason = fields["reason"] = f"{result.reason}; {problem}"
    return fields


def _finding_and_notification(
    rt: Services, remediation: type[Remediation] | Remediation, result: Result, fields: dict[str, str]
) -> list[PermanentError]:
    """The Security Hub import and the SNS publish at the same time (issue 16): neither needs the
    other (the finding id is stable, so the message names it up front), and each is mostly waiting
    on the network. Either one failing never keeps the other from happening. A retryable failure
    raises once both are done (Security Hub's first, the order they used to run in); permanent ones
    are returned, to be noted on the record."""
    from concurrent.futures import ThreadPoolExecutor

    finding = build_finding(result, remediation, rt.config.security_account, rt.config.home_region)  # type: ignore[arg-type]
    findings, notifier = rt.findings, rt.notifier
    findings.client()  # both clients are made here: boto3 clients are thread-safe, sessions are not
    notifier.sns()
    known, result.finding_id = result.finding_id, finding["Id"]
    failures: list[PermanentError] = []
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapback-report") as pool:
            published = pool.submit(notifier.publish, result, remediation)  # type: ignore[arg-type]
            try:
                findings.import_findings([finding])
                fields["finding_id"] = finding["Id"]
            except PermanentError as err:
                failures.append(err)
    except BaseException:
        result.finding_id = known  # (the pool waited for the publish before this)
        raise
    if "finding_id" not in fields:
        result.finding_id = known
    try:
        result.notification_id = fields["notification_id"] = published.result()
    except PermanentError as err:
        failures.append(err)
    return failures


def _report(rt: Services, remediation: Remediation, result: Result, held: Held) -> Result:
    fields = report(rt, remediation, result)
    rt.ledger.finish(held, result.audit_id or "-", fields)
    rt.observe(result)
    return result


def _update_source_finding(rt: Services, target: Target | None, status: str, note: str) -> str | None:
    source = target.facts.get("source_finding") if target else None
    if not source:
        return None
    try:
        rt.workflow.update([source], status, note)
    except Exception as err:  # noqa: BLE001 - the workflow update is bookkeeping; never undo a fix for it
        if rt.logger is not None:
            rt.logger.warning("source finding not updated", extra={"finding": source, "error": str(err)})
        return f"source finding not updated ({type(err).__name__})"
    return None


# -- audit items back to results ---------------------------------------------------------------------


def target_from_audit(item: Mapping[str, Any], key: str | None = None) -> Target:
    facts = item.get("facts") if isinstance(item.get("facts"), dict) else {}
    return Target(
        account=item["account"],
        region=item["region"],
        resource_type=item["resource_type"],
        resource_id=item["resource_id"],
        resource_arn=item["resource_arn"],
        idempotency_key=key or str(item.get("idempotency_key") or item["audit_id"]),
        principal_arn=None if item.get("actor") in (None, "-") else item.get("actor"),
        facts=dict(facts or {}),
    )


def result_from_audit(item: Mapping[str, Any]) -> Result:
    def text(key: str) -> str | None:
        value = item.get(key)
        return None if value in (None, "-") else str(value)

    try:
        severity = Severity(str(item.get("severity")))
    except ValueError:
        severity = Severity.MEDIUM
    return Result(
        Outcome(item["outcome"]),
        str(item.get("reason") or ""),
        event_id=text("event_id") or "",
        remediation=text("remediation"),
        mode=text("mode"),
        target=target_from_audit(item) if "resource_arn" in item else None,
        actions=list(item.get("actions") or []),
        before=item.get("before"),
        after=item.get("after"),
        undo=item.get("undo"),
        source_identity=text("source_identity"),
        audit_id=text("audit_id"),
        finding_id=text("finding_id"),
        notification_id=text("notification_id"),
        severity=severity,
    )
