"""The runtime: settings read once, lazy services, and the one entry used by Lambda and the CLI.

`Runtime.process(raw_event)` normalises the input, picks the remediations (the function's own in
Lambda; pattern matching in the CLI), runs each through its template method and records the
result: audit item, Security Hub finding and SNS notification for reported outcomes, metric.
FAILED outcomes are also dead-lettered (with the event) so that they can be redriven.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from snapback import registry
from snapback.audit import AuditLog, Ledger, new_audit_id
from snapback.breaker import Breaker
from snapback.clients import Clients, classify
from snapback.config import Config
from snapback.errors import MalformedEvent
from snapback.events import Envelope, normalise
from snapback.notify import Notifier
from snapback.outcomes import REPORTED, Outcome, Result, Target
from snapback.patterns import matches
from snapback.securityhub import FindingImporter, FindingWorkflow, build_finding, undo_command

if TYPE_CHECKING:
    from snapback.remediation import Remediation


class OrgDirectory(Protocol):
    def contains(self, account: str) -> bool: ...

    def accounts(self) -> set[str]: ...

    def ous_of(self, account: str) -> tuple[str, ...]: ...


@dataclass
class StaticDirectory:
    members: frozenset[str]
    ous: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def contains(self, account: str) -> bool:
        return account in self.members

    def accounts(self) -> set[str]:
        return set(self.members)

    def ous_of(self, account: str) -> tuple[str, ...]:
        return self.ous.get(account, ())


@dataclass
class OrganizationsDirectory:
    """The organization's accounts from AWS Organizations, cached; refreshed for unknown ids.

    The security account reads them as a delegated administrator; where it is not one, name a
    reader role in the management account (`reader_role_arn`).
    """

    clients: Clients
    reader_role_arn: str | None = None
    max_age: float = 300.0
    _members: frozenset[str] = frozenset()
    _loaded_at: float = 0.0
    _ous: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def _client(self) -> Any:
        if not self.reader_role_arn:
            return self.clients.client("organizations", "us-east-1")
        creds = self.clients.client("sts").assume_role(RoleArn=self.reader_role_arn, RoleSessionName="snapback-org-reader")
        c = creds["Credentials"]
        return self.clients.client_as(
            "organizations",
            "us-east-1",
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )

    def _refresh(self) -> None:
        try:
            pages = self._client().get_paginator("list_accounts").paginate()
            self._members = frozenset(
                a["Id"] for page in pages for a in page["Accounts"] if a.get("Status", "ACTIVE") == "ACTIVE"
            )
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        self._loaded_at = time.monotonic()

    def accounts(self) -> set[str]:
        if not self._loaded_at or time.monotonic() - self._loaded_at > self.max_age:
            self._refresh()
        return set(self._members)

    def ous_of(self, account: str) -> tuple[str, ...]:
        """The OUs above `account`, nearest first, ending with the root id (cached per account)."""
        if account not in self._ous:
            chain: list[str] = []
            child = account
            try:
                client = self._client()
                while True:
                    parents = client.list_parents(ChildId=child)["Parents"]
                    if not parents:
                        break
                    chain.append(parents[0]["Id"])
                    if parents[0]["Type"] == "ROOT":
                        break
                    child = parents[0]["Id"]
            except (ClientError, BotoCoreError) as err:
                raise classify(err) from err
            self._ous[account] = tuple(chain)
        return self._ous[account]

    def contains(self, account: str) -> bool:
        if account in self.accounts():
            return True
        if time.monotonic() - self._loaded_at > 60:  # a new account may have joined
            self._refresh()
        return account in self._members


class Sink(Protocol):
    def __call__(self, result: Result) -> None: ...


@dataclass
class Runtime:
    config: Config
    clients: Clients
    table: str
    topic_arn: str
    org: OrgDirectory
    dead_letter_url: str | None = None
    forced_mode: str | None = None
    emit_metrics: bool = False
    logger: Any = None
    observers: list[Sink] = field(default_factory=list)
    offline: bool = False  # backtest: decide without calling AWS, record nothing

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.clients, self.table)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.clients, self.table, ttl_seconds=self.config.audit_retention_days * 86400)

    @cached_property
    def findings(self) -> FindingImporter:
        return FindingImporter(self.clients, self.config.security_account, self.config.home_region)

    @cached_property
    def workflow(self) -> FindingWorkflow:
        return FindingWorkflow(self.clients.client("securityhub", self.config.home_region))

    @cached_property
    def notifier(self) -> Notifier:
        return Notifier(self.clients, self.topic_arn, os.environ.get("SNAPBACK_CHAT_TOPIC_ARN") or None)

    @cached_property
    def breaker(self) -> Breaker:
        return Breaker(self.clients, self.table, self.config.breaker, on_trip=self._breaker_tripped)

    def ous_of(self, account: str | None) -> tuple[str, ...]:
        """The account's OUs, looked up only when an override or exemption names an OU."""
        if account is None or not self.config.uses_ous or self.offline:
            return ()
        return self.org.ous_of(account)

    def mode_for(self, remediation: str, account: str | None = None) -> str:
        return self.forced_mode or self.config.mode_for(remediation, account, self.ous_of(account))

    # -- entry -----------------------------------------------------------------------------------
    def route(self, envelope: Envelope) -> list[str]:
        """The remediations whose trigger patterns match (what EventBridge would invoke)."""
        as_dict = envelope.as_dict()
        return [r.name for r in registry.all_remediations() if any(matches(t.pattern, as_dict) for t in r.triggers)]

    def process(self, raw: Any, remediations: Sequence[str] | None = None) -> list[Result]:
        try:
            envelopes = normalise(raw)
        except MalformedEvent as err:
            if self.offline:
                return [Result(Outcome.REJECTED, f"malformed event: {err}")]
            return [self._reject(str(err), remediations)]
        results: list[Result] = []
        for envelope in envelopes:
            names = list(remediations) if remediations is not None else self.route(envelope)
            if not names:
                results.append(Result(Outcome.SKIPPED, "no remediation's trigger matches this event", event_id=envelope.id))
                continue
            for name in names:
                result = registry.get(name)().handle(envelope, self)
                if result.outcome is Outcome.FAILED and not self.offline:
                    self._dead_letter(envelope, result)
                results.append(result)
        return results

    def _reject(self, reason: str, remediations: Iterable[str] | None) -> Result:
        result = Result(Outcome.REJECTED, f"malformed event: {reason}")
        result.remediation = next(iter(remediations), None) if remediations else None
        result.audit_id = new_audit_id()
        self.audit.write(result, result.audit_id)
        self._observe(result)
        return result

    # -- recording -------------------------------------------------------------------------------
    def record(self, result: Result, remediation: type[Remediation]) -> Result:
        if self.offline:
            self._observe(result)
            return result
        result.audit_id = new_audit_id()
        if result.outcome in REPORTED and result.target is not None:
            finding = build_finding(result, remediation, self.config.security_account, self.config.home_region)
            self.findings.import_findings([finding])
            result.finding_id = finding["Id"]
            result.notification_id = self.notifier.publish(result, remediation)
        status = _SOURCE_WORKFLOW.get(result.outcome)
        if status:
            undo = undo_command(result)
            note = f"Snapback {remediation.name}: {result.outcome.value} - {result.reason}. audit {result.audit_id}" + (
                f". undo: {undo}" if undo else ""
            )
            problem = self._update_source_finding(result.target, status, note)
            if problem:
                result.reason = f"{result.reason}; {problem}"
        self.audit.write(result, result.audit_id)
        if result.claim:
            if result.outcome is Outcome.FAILED:
                self.ledger.release(result.claim)  # a redrive must be able to try again
            else:
                self.ledger.complete(result.claim, result.audit_id)
        self._observe(result)
        return result

    def on_start(self, target: Target, remediation: Remediation) -> None:
        """Before acting on a Security Hub finding: mark it NOTIFIED so people see work in progress."""
        self._update_source_finding(target, "NOTIFIED", f"Snapback {remediation.name}: remediating {target.resource_id}")

    def _update_source_finding(self, target: Target | None, status: str, note: str) -> str | None:
        source = target.facts.get("source_finding") if target else None
        if not source:
            return None
        try:
            self.workflow.update([source], status, note)
        except Exception as err:  # noqa: BLE001 - the workflow update is bookkeeping; never undo a fix for it
            if self.logger is not None:
                self.logger.warning("source finding not updated", extra={"finding": source, "error": str(err)})
            return f"source finding not updated ({type(err).__name__})"
        return None

    def _observe(self, result: Result) -> None:
        if self.logger is not None:
            self.logger.info("outcome", extra={"snapback": result.as_dict()})
        if self.emit_metrics:
            from aws_lambda_powertools.metrics import MetricUnit, single_metric

            with single_metric(name="Outcome", unit=MetricUnit.Count, value=1, namespace="Snapback") as metric:
                metric.add_dimension(name="remediation", value=result.remediation or "none")
                metric.add_dimension(name="outcome", value=result.outcome.value)
        for observer in self.observers:
            observer(result)

    def _breaker_tripped(self, scope: str, count: int, limit: int) -> None:
        """A scope opened: log it and count it (the `BreakerTrips` alarm pages on-call)."""
        if self.logger is not None:
            self.logger.warning(
                "breaker tripped",
                extra={"breaker": {"scope": scope, "count": count, "limit": limit, "reset": f"snapback breaker reset {scope}"}},
            )
        if self.emit_metrics:
            from aws_lambda_powertools.metrics import MetricUnit, single_metric

            with single_metric(name="BreakerTrips", unit=MetricUnit.Count, value=1, namespace="Snapback"):
                pass

    def _dead_letter(self, envelope: Envelope, result: Result) -> None:
        if not self.dead_letter_url:
            return
        body = {
            "event": envelope.as_dict(),
            "remediation": result.remediation,
            "reason": result.reason,
            "audit_id": result.audit_id,
        }
        try:
            self.clients.client("sqs").send_message(QueueUrl=self.dead_letter_url, MessageBody=json.dumps(body, default=str))
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err


# The source Security Hub finding's workflow after each outcome (BatchUpdateFindings).
_SOURCE_WORKFLOW = {
    Outcome.REMEDIATED: "RESOLVED",
    Outcome.ALREADY_COMPLIANT: "RESOLVED",
    Outcome.NOTIFIED: "NOTIFIED",
    Outcome.DRY_RUN: "NOTIFIED",
    Outcome.FAILED: "NOTIFIED",
    Outcome.EXEMPT: "NOTIFIED",
}


def table_name(config: Config) -> str:
    return os.environ.get("SNAPBACK_TABLE", "snapback")


def topic_arn(config: Config) -> str:
    return os.environ.get("SNAPBACK_TOPIC_ARN") or f"arn:aws:sns:{config.home_region}:{config.security_account}:snapback-alerts"


_LAMBDA_RUNTIME: Runtime | None = None


def lambda_runtime() -> Runtime:
    """Built once per cold start from the environment the CDK stack sets."""
    global _LAMBDA_RUNTIME
    if _LAMBDA_RUNTIME is None:
        from aws_lambda_powertools import Logger

        config = Config.from_env()
        clients = Clients(region=os.environ.get("AWS_REGION", config.home_region), member_role_name=config.member_role_name)
        _LAMBDA_RUNTIME = Runtime(
            config=config,
            clients=clients,
            table=table_name(config),
            topic_arn=topic_arn(config),
            org=OrganizationsDirectory(clients, os.environ.get("SNAPBACK_ORG_READER_ROLE_ARN") or None),
            dead_letter_url=os.environ.get("SNAPBACK_DLQ_URL") or None,
            emit_metrics=True,
            logger=Logger(service="snapback", stream=sys.stdout),
        )
    return _LAMBDA_RUNTIME
