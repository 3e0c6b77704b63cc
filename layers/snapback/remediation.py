"""The remediation plugin base: class attributes and hooks, nothing else.

The decision path (guards, dedupe and resource claim, exemptions, mode, breaker, assume, inspect,
apply, verify, record, report) is the runtime's: `snapback.pipeline`. This module never imports
the runtime, so a plugin cannot skip a step of it and the runtime modules form no import cycle.

Hooks a remediation provides:
    resolve(event, call) -> Target    what the event names; raise NotApplicable / MalformedEvent
    inspect(session, target) -> state the real, current state (events are triggers, not truth)
    is_compliant(state) -> bool
    plan(target, state) -> [action]   what apply would do, in words (for notify / dry-run)
    apply(session, target, state) -> undo data
    undo(session, target, undo_data)  restore the before state exactly
Optional: undo_data_for, verify (the state after apply, default: inspect again), finished (an
interrupted try's work is all done), resolve_finding, sweep, sweep_key, needs_approval (hold enforce
for a person), review (adjust the decided outcome), drift (what undo must not clobber),
shared_resource (what the action writes when it is not the target's own resource: the lock is taken
on it).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping
from typing import Any, ClassVar

from snapback.clients import MemberSession
from snapback.errors import NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.findings import AsffFinding
from snapback.outcomes import Result, Severity, Target
from snapback.triggers import Trigger, securityhub_control_pattern


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
    # The AWS calls one must-fire event costs, cold, as in Lambda (membership from the cache, assume
    # role, inspect, act, verify, claim, breaker, audit, notify, finding); 0 = undeclared. Exact, not a
    # ceiling: tests/perf/test_call_budgets.py fails on one call more AND one call less, so a saving
    # is declared here and a new call is a decision, never drift.
    call_budget: ClassVar[int] = 0
    # Settings a team may tune in snapback.yaml (`remediations.<name>.options`), with their defaults.
    # `self.options` holds the effective values while an event is handled.
    defaults: ClassVar[Mapping[str, Any]] = {}
    options: Mapping[str, Any] = {}
    # The services `iam:PassRole` (when declared) passes roles to: granted only with an
    # `iam:PassedToService` condition naming them (snapback.member_role).
    pass_role_to: ClassVar[tuple[str, ...]] = ()
    # Top-level keys of `inspect`'s state that AWS may change by itself, or that are Snapback's own
    # memory rather than the resource (a last known good, which an undo re-baselines): not drift for undo.
    volatile_state: ClassVar[tuple[str, ...]] = ()
    # Lent by the runtime in `configure` (plugins never import the runtime): organization membership
    # (`in_org`) and the last-known-good store (None in backtest, which calls no AWS).
    org: Any = None
    known_good: Any = None  # snapback.memory.KnownGood (imported in configure: no import cycle)
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

    def verify(
        self, session: MemberSession, target: Target, before: Mapping[str, Any], undo: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The state after `apply(before)` returned `undo`, read from AWS: what the audit records as
        `after` and `is_compliant` judges. Default: `inspect` again. A remediation may read only what
        its action changed, taking the rest from `before`; the result must have the shape `inspect`
        gives and equal what `inspect` would read now (undo compares it with `inspect` for drift)."""
        return self.inspect(session, target)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        """The undo data `apply` returns, from the before state alone, for remediations whose undo needs
        nothing that `apply` creates (None otherwise). Lets a retry finish an interrupted run with undo."""
        return None

    def shared_resource(self, target: Target) -> str | None:
        """The resource this target's action really writes, when it is not the target's own but one that
        targets of other accounts or Regions write too (e.g. an entry of an IP set in the security
        account, written for findings of every member account); None: the target's resource.

        The runtime serializes actions (and undo) on this name instead of account + Region + resource,
        so two events about the same written resource never act at once, whichever accounts they come
        from. Every target that writes the resource must name it the same way; the lock also carries
        what an interrupted run remembered, so targets with one name must have states of one shape."""
        return None

    def finished(self, target: Target, before: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
        """After an interrupted try, with the resource compliant again: whether `current` holds all the
        work `apply` planned from the remembered `before` (default: yes, compliance is the whole work).
        False (a step that compliance does not judge is missing: a recreated trail not started) makes
        the retry run `apply(before)` again, so `apply` must skip the steps an earlier try did."""
        return True

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

    # -- optional hooks of the decision path (snapback.pipeline) ---------------------------------------
    def configure(self, runtime: Any) -> None:
        """Bind the effective options of this remediation (defaults overlaid by snapback.yaml) and what
        the runtime lends a plugin: the organization's membership and the last-known-good store.
        `runtime` is anything with `config`, `org`, `clients`, `table` and `offline` (never imported here)."""
        self.options = runtime.config.options_for(self.name, self.defaults)
        self.org = getattr(runtime, "org", None)
        offline = getattr(runtime, "offline", True)
        if offline:
            self.known_good = None
        else:
            from snapback.memory import KnownGood

            self.known_good = KnownGood(runtime.clients, runtime.table, self.name)

    def in_org(self, account: str) -> bool:
        """Whether `account` belongs to the organization (exact: AWS Organizations, refreshed for an
        unknown id). A remediation deciding "shared outside the org" asks this, never a name."""
        return self.org is not None and self.org.contains(account)

    def acts_on_failed_call(self, call: CloudTrailCall) -> bool:
        """Whether a call that failed still matters (an attempt is the finding: leaving the
        organization); every other guard (source, loop, organization, binding) still applies."""
        return False

    def needs_approval(self, session: MemberSession, target: Target) -> str | None:
        """Why this target must not be changed without a person's approval even in enforce mode (the
        outcome is then NOTIFIED with the plan; `snapback approve` acts), or None. Never asked for an
        approval itself, in dry-run or notify mode."""
        return None

    def review(self, target: Target, result: Result) -> Result:
        """Adjust the decided outcome before it is recorded (e.g. report tampering that fixed itself);
        only `outcome` and `reason` may change. Default: as decided."""
        return result

    def drift(self, recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
        """How the current state differs from the state this remediation left (the audit's `after`),
        one readable line per difference; [] when undo may restore the before state safely.
        Keys named in `volatile_state` (facts AWS changes by itself) are not compared."""
        return state_diff(
            {k: v for k, v in recorded.items() if k not in self.volatile_state},
            {k: v for k, v in current.items() if k not in self.volatile_state},
        )

    def offline_plan(self, target: Target) -> list[str]:
        """What the remediation would do, without reading anything (backtests)."""
        try:
            return self.plan(target, {})
        except Exception:  # noqa: BLE001 - a plan from unknown state is best effort
            return [f"{self.name} on {target.resource_arn}"]


def state_diff(recorded: Any, current: Any, path: str = "") -> list[str]:
    """Readable differences between two JSON-like states: `path: recorded -> current`."""
    recorded, current = _plain_json(recorded), _plain_json(current)
    if isinstance(recorded, dict) and isinstance(current, dict):
        out: list[str] = []
        for key in sorted(set(recorded) | set(current), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in current:
                out.append(f"{where}: {_short(recorded[key])} -> (absent)")
            elif key not in recorded:
                out.append(f"{where}: (absent) -> {_short(current[key])}")
            else:
                out.extend(state_diff(recorded[key], current[key], where))
        return out
    if isinstance(recorded, list) and isinstance(current, list) and len(recorded) == len(current):
        out = []
        for i, (a, b) in enumerate(zip(recorded, current, strict=True)):
            out.extend(state_diff(a, b, f"{path}[{i}]"))
        return out
    return [] if recorded == current else [f"{path or '(state)'}: {_short(recorded)} -> {_short(current)}"]


def _plain_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
