"""The base remediation: one template method owns the common path; subclasses fill small hooks.

    guards (source, failed call, loop, organization, account binding)
    -> idempotency (semantic key) -> exemptions -> mode
    -> assume the member role (SourceIdentity) -> inspect real state -> compliant? ALREADY_COMPLIANT
    -> apply -> verify -> audit (before/after, undo data) -> Security Hub finding -> SNS -> metric

Hooks a remediation provides:
    resolve(event, call) -> Target    what the event names; raise NotApplicable / MalformedEvent
    inspect(session, target) -> state the real, current state (events are triggers, not truth)
    is_compliant(state) -> bool
    plan(target, state) -> [action]   what apply would do, in words (for notify / dry-run)
    apply(session, target, state) -> undo data
    undo(session, target, undo_data)  restore the before state exactly
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from snapback import guards
from snapback.clients import MemberSession, classify, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import SECURITYHUB_CUSTOM_ACTION, SECURITYHUB_IMPORTED, CloudTrailCall, Envelope, parse_cloudtrail
from snapback.findings import AsffFinding, first_finding
from snapback.memory import KnownGood
from snapback.outcomes import Outcome, Result, Severity, Target
from snapback.triggers import CLOUDTRAIL_DETAIL_TYPES, Trigger, securityhub_control_pattern

if TYPE_CHECKING:
    from snapback.runtime import Runtime


class Remediation(ABC):
    """Subclass, set the class attributes, implement the hooks, decorate with `@register`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    triggers: ClassVar[tuple[Trigger, ...]]
    permissions: ClassVar[tuple[str, ...]]
    severity: ClassVar[Severity] = Severity.HIGH
    finding_type: ClassVar[str] = "Software and Configuration Checks/AWS Security Best Practices"
    # Error codes meaning "the resource is gone": nothing left to fix.
    gone_codes: ClassVar[frozenset[str]] = frozenset()
    # Why there is no undo, for remediations that do not implement it.
    no_undo_reason: ClassVar[str | None] = None
    # Security Hub control ids (e.g. "S3.8") whose FAILED findings this remediation fixes; a
    # trigger for them is added automatically and `resolve_finding` names the resource.
    controls: ClassVar[tuple[str, ...]] = ()
    # AWS calls one event may cost at most, cold (assume role, inspect, act, verify, audit, notify,
    # finding); 0 = undeclared. tests/perf/test_call_budgets.py holds every remediation to it.
    call_budget: ClassVar[int] = 0
    # Settings a team may tune in snapback.yaml (`remediations.<name>.options`), with their defaults.
    # `self.options` holds the effective values while an event is handled.
    defaults: ClassVar[Mapping[str, Any]] = {}
    options: Mapping[str, Any] = {}
    # Lent by the runtime in `configure` (plugins never import the runtime): organization membership
    # (`in_org`) and the last-known-good store (None in backtest, which calls no AWS).
    org: guards.Membership | None = None
    known_good: KnownGood | None = None
    # The ledger claim of the event being handled (set by the entry points before `_act`).
    claim_key: str | None = None
    # The reconciliation sweep (CloudTrail events are best effort): `sweep_scope` "region" walks
    # every configured Region of an account, "account" once per account (global listings such as
    # S3 buckets); None: no state to check. `sweep_permissions` are the list/read actions only the
    # sweep needs (the member role gets them too).
    sweep_scope: ClassVar[str | None] = None
    sweep_permissions: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("controls") and not any(t.id == "securityhub" for t in cls.triggers):
            trigger = Trigger(
                "securityhub",
                f"Security Hub control failed: {', '.join(cls.controls)}",
                securityhub_control_pattern(list(cls.controls)),
            )
            cls.triggers = (*cls.triggers, trigger)

    # -- hooks ---------------------------------------------------------------------------------
    @abstractmethod
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target: ...

    @abstractmethod
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]: ...

    @abstractmethod
    def is_compliant(self, state: Mapping[str, Any]) -> bool: ...

    @abstractmethod
    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]: ...

    @abstractmethod
    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]: ...

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        raise PermanentError(self.no_undo_reason or f"{self.name} has no undo")

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        """The undo data `apply` returns, from the before state alone, for remediations whose undo needs
        nothing that `apply` creates (None otherwise). Lets a retry finish an interrupted run with undo."""
        return None

    def resolve_finding(self, event: Envelope, finding: AsffFinding) -> Target:
        """The resource a Security Hub finding names (remediations that declare `controls`)."""
        raise NotApplicable(f"{self.name} does not act on Security Hub findings")

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        """The violations of this remediation's invariant in one account (and `region`, for the
        "region" scope; for the "account" scope `region` is where global calls go and `regions` the
        configured Regions whose resources count). Each Target is the one `resolve` would build from
        an event about that resource, with `sweep_key` as its idempotency key."""
        return ()

    @staticmethod
    def sweep_key(account: str, region: str, resource: str) -> str:
        """The state-driven key of a sweep-found violation (action + account + Region + resource)."""
        return f"state#{account}#{region}#{resource}"

    # -- the template method ---------------------------------------------------------------------
    def handle(self, event: Envelope, runtime: Runtime) -> Result:
        result = self._decide(event, runtime)
        result.remediation = self.name
        result.event_id = result.event_id or event.id
        if result.severity is not Severity.CRITICAL:  # a breaker trip stays critical
            result.severity = self.severity if result.outcome is not Outcome.FAILED else Severity.HIGH
        try:
            return runtime.record(result, self)
        except BaseException:
            if result.claim:
                runtime.ledger.abandon(result.claim)
            raise

    def configure(self, runtime: Runtime) -> None:
        """Bind the effective options of this remediation (defaults overlaid by snapback.yaml) and what
        the runtime lends a plugin: the organization's membership and the last-known-good store."""
        self.options = runtime.config.options_for(self.name, self.defaults)
        self.org = runtime.org
        self.known_good = None if runtime.offline else KnownGood(runtime.clients, runtime.table, self.name)

    def in_org(self, account: str) -> bool:
        """Whether `account` belongs to the organization (exact: AWS Organizations, refreshed for an
        unknown id). A remediation deciding "shared outside the org" asks this, never a name."""
        return self.org is not None and self.org.contains(account)

    def _decide(self, event: Envelope, runtime: Runtime) -> Result:
        self.configure(runtime)
        try:
            call = parse_cloudtrail(event.detail) if event.detail_type in CLOUDTRAIL_DETAIL_TYPES else None
        except MalformedEvent as err:
            return Result(Outcome.REJECTED, str(err))
        skip = self._guard(event, call, runtime)
        if skip:
            return Result(Outcome.SKIPPED, skip)
        try:
            if event.detail_type in (SECURITYHUB_IMPORTED, SECURITYHUB_CUSTOM_ACTION):
                finding = first_finding(event.detail)
                if not finding.from_aws:
                    return Result(Outcome.SKIPPED, f"untrusted product {finding.product_arn}: only AWS integrations are acted on")
                target = self.resolve_finding(event, finding)
                target.facts["source_finding"] = {"Id": finding.id, "ProductArn": finding.product_arn}
            else:
                target = self.resolve(event, call)
        except NotApplicable as err:
            return Result(
                Outcome.SKIPPED, f"not applicable: {err}", target=err.target if isinstance(err.target, Target) else None
            )
        except MalformedEvent as err:
            return Result(Outcome.REJECTED, str(err))
        mismatch = guards.target_skip_reason(event, target, config=runtime.config, org=runtime.org)
        if mismatch:
            return Result(Outcome.SKIPPED, mismatch, target=target)

        key = f"{self.name}#{target.idempotency_key}"
        holder = None if runtime.offline else runtime.ledger.claim(key)
        if holder is not None:
            return Result(Outcome.SKIPPED, f"duplicate: already handled (audit {holder})", target=target)
        self.claim_key = key
        try:
            result = self._act(target, runtime)
        except BaseException:
            runtime.ledger.abandon(key)
            raise
        result.target = target
        result.claim = key
        result.mode = result.mode or runtime.mode_for(self.name, target.account)
        return result

    def reconcile(self, target: Target, runtime: Runtime, *, period: str, run_id: str) -> Result:
        """A violation the sweep found, through the same decision path as an event (`_act`).

        The claim is `<remediation>#<sweep_key>#<period>` (period: the UTC day). A violation that
        stays (notify, dry-run, exempt, FAILED) is reported once per period, not on every sweep;
        a REMEDIATED or ALREADY_COMPLIANT one gives its claim back, so that the same resource broken
        again later that day is fixed again. A repeat within the period is SKIPPED and not recorded.
        """
        key = f"{self.name}#{target.idempotency_key}#{period}"
        target.facts.setdefault("trigger", "reconciliation sweep (no event was seen)")
        holder = runtime.ledger.claim(key)
        if holder is not None:
            result = Result(Outcome.SKIPPED, f"duplicate: already reported in sweep period {period} (audit {holder})")
            result.target, result.remediation, result.event_id = target, self.name, run_id
            return result
        self.claim_key = key
        try:
            result = self._act(target, runtime)
            result.target, result.remediation, result.event_id = target, self.name, run_id
            result.mode = result.mode or runtime.mode_for(self.name, target.account)
            if result.severity is not Severity.CRITICAL:
                result.severity = self.severity if result.outcome is not Outcome.FAILED else Severity.HIGH
            recorded = runtime.record(result, self)
        except BaseException:
            runtime.ledger.abandon(key)
            raise
        if recorded.outcome in (Outcome.REMEDIATED, Outcome.ALREADY_COMPLIANT):
            runtime.ledger.release(key)
        else:
            runtime.ledger.complete(key, recorded.audit_id or "-")
        return recorded

    def approve(self, target: Target, runtime: Runtime, approver: str) -> Result:
        """Enforce on a target that notify mode reported (human approval): same inspect-apply-verify."""
        key = f"{self.name}#approve#{target.idempotency_key}"
        holder = runtime.ledger.claim(key)
        if holder is not None:
            result = Result(Outcome.SKIPPED, f"duplicate: approval already handled (audit {holder})", target=target)
        else:
            self.claim_key = key
            try:
                result = self._act(target, runtime, mode="enforce", approved=True)
            except BaseException:
                runtime.ledger.abandon(key)
                raise
            result.target, result.claim = target, key
            result.reason = f"{result.reason} (approved by {approver})"
        result.remediation = self.name
        result.mode = "enforce (approved)"
        result.severity = self.severity if result.outcome is not Outcome.FAILED else Severity.HIGH
        return runtime.record(result, self)

    def _act(self, target: Target, runtime: Runtime, mode: str | None = None, approved: bool = False) -> Result:
        self.configure(runtime)
        mode = mode or runtime.mode_for(self.name, target.account)
        exemption = runtime.config.exemption_for(
            remediation=self.name,
            account=target.account,
            resource_arn=target.resource_arn,
            principal_arn=target.principal_arn,
            ous=runtime.ous_of(target.account),
        )
        if exemption:
            return Result(Outcome.EXEMPT, f"exempt: {exemption.reason}", mode=mode)
        if isinstance(self, AlertRemediation):
            if mode == "dry-run":
                return Result(Outcome.DRY_RUN, "dry-run: alert recorded, nobody paged", mode=mode)
            return Result(Outcome.NOTIFIED, self.alert_reason, mode=mode)
        if runtime.offline:
            return Result(
                Outcome.DRY_RUN,
                "backtest: would re-read the resource and remediate it if still non-compliant",
                mode=mode,
                actions=self._offline_plan(target),
            )
        session = runtime.clients.member(target.account, target.region, self.name)
        earlier = runtime.ledger.recovered.pop(self.claim_key, None) if self.claim_key else None
        try:
            before = self.inspect(session, target)
            if self.is_compliant(before):
                if earlier is not None:
                    return self._finish_interrupted(target, session, mode, earlier, before)
                return Result(Outcome.ALREADY_COMPLIANT, "current state is already compliant", mode=mode, before=before)
            planned = self.plan(target, before)
            if mode == "dry-run":
                return Result(Outcome.DRY_RUN, "dry-run: nothing changed", mode=mode, actions=planned, before=before)
            if mode == "notify":
                return Result(Outcome.NOTIFIED, "notify mode: approval needed to act", mode=mode, actions=planned, before=before)
            held = None if approved else runtime.breaker.admit(self.name, target.account)
            if held:
                return Result(
                    Outcome.NOTIFIED,
                    f"{held}; approval needed to act",
                    mode="notify (breaker)",
                    actions=planned,
                    before=before,
                    severity=Severity.CRITICAL,
                )
            if self.claim_key:
                runtime.ledger.remember(self.claim_key, (earlier or {}).get("before", before), planned)
            runtime.on_start(target, self)
            undo = self.apply(session, target, before)
            after = self.inspect(session, target)
        except ClientError as err:
            if error_code(err) in self.gone_codes:
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
        if not self.is_compliant(after):
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
            "remediated and verified",
            mode=mode,
            actions=planned,
            before=before,
            after=after,
            undo=undo,
            source_identity=session.source_identity,
        )

    def _finish_interrupted(
        self, target: Target, session: MemberSession, mode: str, earlier: Mapping[str, Any], after: dict[str, Any]
    ) -> Result:
        """An earlier run made the change and was interrupted before recording it (a timeout, a crash):
        the resource is compliant now, so record that run's work with the before state it remembered."""
        before = dict(earlier.get("before") or {})
        undo = self.undo_data_for(target, before)
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

    def _offline_plan(self, target: Target) -> list[str]:
        try:
            return self.plan(target, {})
        except Exception:  # noqa: BLE001 - a plan from unknown state is best effort
            return [f"{self.name} on {target.resource_arn}"]

    # -- guards (snapback.guards) ----------------------------------------------------------------
    def _guard(self, event: Envelope, call: CloudTrailCall | None, runtime: Runtime) -> str | None:
        return guards.skip_reason(event, call, config=runtime.config, org=runtime.org)


class AlertRemediation(Remediation):
    """Tell on-call (critical), record, change nothing: for activity no policy can restrict.

    Subclasses implement `resolve` only; the outcome is NOTIFIED (DRY_RUN in dry-run mode).
    """

    no_undo_reason: ClassVar[str | None] = "alert only: Snapback changes nothing"
    alert_reason: ClassVar[str] = "alert only: on-call notified"

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        return {}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return False

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        return []

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        raise AssertionError("alert remediations never apply")
