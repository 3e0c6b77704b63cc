"""The reconciliation sweep: CloudTrail events are best effort, so some are missed.

On a schedule, `Sweeper.run()` walks every account of the organization (the management account too:
it has the member role from its own stack) and every configured Region through the remediator role,
and asks each remediation with a `sweep_scope` for the violations of its invariant there (the
registry stays the single source of truth: each remediation declares its sweep beside its code).
Every violation goes through the same decision path as an event (`snapback.pipeline.reconcile`:
mode, overrides, exemptions, the resource's lock, breaker, inspect-apply-verify, audit, Security Hub
finding, SNS), claimed under a state-driven key per UTC day so that a violation that stays is reported once
a day, not on every sweep.

Pacing: every AWS call in a member account (the sweep's listings and the remediations' own calls)
goes through a per-account pacer that spaces calls evenly, so that no account sees more than
`sweep.max_calls_per_second` calls in any one second. Errors are isolated: an account whose role
cannot be assumed, or a Region or remediation whose calls fail, is recorded and counted, and the
rest of the sweep goes on. The count is the `SweepErrors` metric (namespace Snapback), which the
sweep-failure alarm watches.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback import pipeline, registry
from snapback.audit import new_audit_id
from snapback.clients import Clients, classify
from snapback.errors import RetryableError, SnapbackError

if TYPE_CHECKING:
    from snapback.remediation import Remediation
    from snapback.runtime import Runtime

METRIC_NAMESPACE = "Snapback"
ERRORS_METRIC = "SweepErrors"
VIOLATIONS_METRIC = "SweepViolations"


@dataclass
class Pacer:
    """Spaces the calls of each account evenly: at most `rate` calls in any one-second window.

    `clock` and `sleep` are injectable, so that tests run a long sweep in no time.
    """

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    calls: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, str, float]] | None = None  # (account, operation, time) of each call, when kept
    waited: float = 0.0
    _due: dict[str, float] = field(default_factory=dict)

    def take(self, account: str, operation: str = "-") -> None:
        now = self.clock()
        due = self._due.get(account, now)
        if due > now:
            self.sleep(due - now)
            self.waited += due - now
            now = max(self.clock(), due)
        self._due[account] = now + 1.0 / self.rate
        self.calls[account] += 1
        if self.log is not None:
            self.log.append((account, operation, now))

    def on_call(self, account: str, model: Any = None, **_: Any) -> None:
        """botocore `before-call` hook."""
        self.take(account, getattr(model, "name", "-"))


@dataclass
class PacedClients(Clients):
    """The runtime's clients, with every member-account client paced per account.

    Caches are its own (a sweep's clients never carry hooks into the remediation functions').
    """

    pacer: Pacer | None = None
    _hooked: set[int] = field(default_factory=set)

    @classmethod
    def around(cls, clients: Clients, pacer: Pacer) -> PacedClients:
        return cls(
            region=clients.region,
            member_role_name=clients.member_role_name,
            partition=clients.partition,
            session=clients.session,
            pacer=pacer,
        )

    def member_client(self, account: str, region: str, remediation: str, service: str) -> Any:
        client = super().member_client(account, region, remediation, service)
        if self.pacer is not None and id(client) not in self._hooked:
            self._hooked.add(id(client))
            client.meta.events.register("before-call", partial(self.pacer.on_call, account))
        return client


@dataclass
class SweepSummary:
    run_id: str
    period: str
    dry_run: bool = False
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    checks: int = 0
    violations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    found: list[dict[str, Any]] = field(default_factory=list)  # each violation and what became of it
    calls: int = 0
    waited_seconds: float = 0.0
    seconds: float = 0.0

    def error(self, account: str, region: str | None, remediation: str | None, err: BaseException) -> None:
        self.errors.append(
            {
                "account": account,
                "region": region,
                "remediation": remediation,
                "error": f"{type(err).__name__}: {err}",
                "retryable": isinstance(err, RetryableError),
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "period": self.period,
            "dry_run": self.dry_run,
            "accounts": len(self.accounts),
            "regions": list(self.regions),
            "checks": self.checks,
            "violations": self.violations,
            "outcomes": dict(sorted(self.outcomes.items())),
            "errors": len(self.errors),
            "error_details": list(self.errors),
            "found": list(self.found),
            "calls": self.calls,
            "waited_seconds": round(self.waited_seconds, 3),
            "seconds": round(self.seconds, 3),
        }


class Sweeper:
    """One sweep over accounts x Regions x remediations with a sweep (all of them by default)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        remediations: Sequence[str] | None = None,
        dry_run: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        deadline: float | None = None,
        progress: Callable[[str], None] | None = None,
        keep_call_log: bool = False,
    ) -> None:
        self.pacer = Pacer(runtime.config.sweep.max_calls_per_second, clock, sleep, log=[] if keep_call_log else None)
        self.runtime = dataclasses.replace(runtime, clients=PacedClients.around(runtime.clients, self.pacer))
        self.accounts = accounts
        self.regions = [r for r in runtime.config.regions if not regions or r in regions]
        names = list(remediations) if remediations else [r.name for r in registry.swept()]
        self.remediations: list[Remediation] = [registry.get(n)() for n in names]
        self.dry_run = dry_run
        self.clock = clock
        self.now = now
        self.deadline = deadline
        self.progress = progress or (lambda _: None)

    def run(self) -> SweepSummary:
        started = self.clock()
        summary = SweepSummary(run_id=f"sweep-{new_audit_id()}", period=self.now().strftime("%Y-%m-%d"), dry_run=self.dry_run)
        summary.regions = list(self.regions)
        try:
            accounts = sorted(self.accounts if self.accounts else organization_accounts(self.runtime.org))
        except SnapbackError as err:
            summary.error("-", None, None, err)
            accounts = []
        summary.accounts = accounts
        for remediation in self.remediations:
            remediation.configure(self.runtime)
        for n, account in enumerate(accounts, 1):
            if self.deadline is not None and self.clock() >= self.deadline:
                left = accounts[n - 1 :]
                summary.error("-", None, None, TimeoutError(f"out of time: {len(left)} account(s) not swept: {', '.join(left)}"))
                break
            before = (summary.violations, len(summary.errors))
            self._account(account, summary)
            self.progress(
                f"[{n}/{len(accounts)}] {account}: {summary.violations - before[0]} violation(s), "
                f"{len(summary.errors) - before[1]} error(s)"
            )
        summary.calls = sum(self.pacer.calls.values())
        summary.waited_seconds = self.pacer.waited
        summary.seconds = self.clock() - started
        self._metrics(summary)
        if self.runtime.logger is not None:
            self.runtime.logger.info("sweep", extra={"snapback_sweep": summary.as_dict()})
        return summary

    def _account(self, account: str, summary: SweepSummary) -> None:
        if not self.regions:
            return
        for remediation in self.remediations:
            regional = remediation.sweep_scope == "region"
            for region in self.regions if regional else self.regions[:1]:
                try:
                    # The role is the same for every check: an account Snapback cannot enter is one error.
                    self.runtime.clients.member_credentials(account, remediation.name)
                except Exception as err:  # noqa: BLE001 - one account never stops the sweep
                    summary.error(account, None, None, err)
                    return
                self._check(remediation, account, region, self.regions if not regional else [region], summary)

    def _check(self, remediation: Remediation, account: str, region: str, regions: list[str], summary: SweepSummary) -> None:
        summary.checks += 1
        session = self.runtime.clients.member(account, region, remediation.name)
        try:
            targets = list(remediation.sweep(session, account, region, regions=regions))
        except Exception as err:  # noqa: BLE001 - one Region or remediation never stops the sweep
            summary.error(account, region, remediation.name, _mapped(err))
            return
        for target in targets:
            summary.violations += 1
            seen = {
                "remediation": remediation.name,
                "account": target.account,
                "region": target.region,
                "resource": target.resource_arn,
                "summary": target.facts.get("summary"),
            }
            summary.found.append(seen)
            if self.dry_run:
                seen["outcome"] = "FOUND"
                seen["mode"] = self.runtime.mode_for(remediation.name, target.account)
                continue
            try:
                result = pipeline.reconcile(self.runtime, remediation, target, period=summary.period, run_id=summary.run_id)
            except Exception as err:  # noqa: BLE001 - the next violation is still handled
                summary.error(account, region, remediation.name, _mapped(err))
                seen["outcome"] = "ERROR"
                continue
            seen.update(outcome=result.outcome.value, reason=result.reason, audit_id=result.audit_id)
            summary.outcomes[result.outcome.value] += 1

    def _metrics(self, summary: SweepSummary) -> None:
        if not self.runtime.emit_metrics:
            return
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        for name, value in ((ERRORS_METRIC, len(summary.errors)), (VIOLATIONS_METRIC, summary.violations)):
            with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=METRIC_NAMESPACE):
                pass


def organization_accounts(org: Any) -> set[str]:
    """The organization's accounts read live where the directory can (the sweep is what keeps the
    membership cache fresh: `snapback.membership`), else what it knows."""
    refresh = getattr(org, "refresh", None)
    return set(refresh()) if callable(refresh) else set(org.accounts())


def _mapped(err: Exception) -> Exception:
    return classify(err) if isinstance(err, (ClientError, BotoCoreError)) else err


def batches(accounts: Collection[str], size: int) -> list[list[str]]:
    """The accounts in sorted batches of at most `size`: one sweep invocation each."""
    ordered = sorted(accounts)
    return [ordered[i : i + size] for i in range(0, len(ordered), max(1, size))]


def fan_out(runtime: Runtime, function_arn: str, invoke: Callable[..., Any] | None = None) -> dict[str, Any]:
    """The scheduled sweep of a large organization: one asynchronous invocation of the sweep function
    per batch of `sweep.accounts_per_invocation` accounts (`{"accounts": [...]}`). Lambda queues them and
    runs as many at once as the function's reserved concurrency allows; each batch is paced per account
    and reports its own summary and SweepErrors. A failed hand-off raises, so the schedule's retry and
    the function's error alarm see it."""
    accounts = runtime.org.accounts()
    parts = batches(accounts, runtime.config.sweep.accounts_per_invocation)
    send = invoke or runtime.clients.client("lambda").invoke
    for part in parts:
        try:
            send(FunctionName=function_arn, InvocationType="Event", Payload=json.dumps({"accounts": part}).encode())
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
    return {
        "fanned_out": len(parts),
        "accounts": len(accounts),
        "accounts_per_invocation": runtime.config.sweep.accounts_per_invocation,
    }
