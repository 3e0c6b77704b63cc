"""The runtime: settings read once, lazy services, and the one entry used by Lambda and the CLI.

`Runtime.process(raw_event)` normalises the input, picks the remediations (the function's own in
Lambda; pattern matching in the CLI) and runs each through the decision path (`snapback.pipeline`,
which records the audit item first and then reports: Security Hub finding, SNS, metric). FAILED
outcomes are also dead-lettered (with the event) so that they can be redriven.

Import order (no cycle): runtime -> pipeline -> remediation (the plugin base) and the services;
the plugins never import the runtime or the pipeline.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from snapback import membership, pipeline, registry
from snapback.audit import DEFAULT_TIMEOUT, AuditLog, Clock, Ledger, new_audit_id
from snapback.breaker import Breaker
from snapback.clients import Clients, classify
from snapback.config import Config
from snapback.errors import MalformedEvent
from snapback.events import Envelope, normalise
from snapback.notify import Notifier
from snapback.outcomes import Outcome, Result
from snapback.patterns import matches
from snapback.remediation import Remediation
from snapback.securityhub import FindingImporter, FindingWorkflow


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
    reader role in the management account (`reader_role_arn`). With `table`, the membership is
    cached in Snapback's table (`snapback.membership`: its freshness rules and why): a cold start
    with a fresh item reads it (one GetItem) instead of AssumeRole + ListAccounts pages, and every
    live read writes it back. The cache only short-cuts a yes: an id it lacks is looked up live.
    """

    clients: Clients
    reader_role_arn: str | None = None
    max_age: float = membership.RECHECK_SECONDS  # what this process read is kept this long
    table: str | None = None
    cache_max_age: float = membership.MAX_AGE
    _members: frozenset[str] = frozenset()
    _loaded_at: float = 0.0  # monotonic: when _members was last read (cache or live)
    _live_at: float = 0.0  # monotonic: when Organizations itself was last read
    _ous: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)  # account -> (monotonic read, chain)

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
        started = time.time()
        try:
            pages = self._client().get_paginator("list_accounts").paginate()
            self._members = frozenset(
                a["Id"] for page in pages for a in page["Accounts"] if a.get("Status", "ACTIVE") == "ACTIVE"
            )
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        self._loaded_at = self._live_at = time.monotonic()
        if self.table:
            membership.MembershipCache(self.clients, self.table).write(self._members, started)

    def _load(self) -> None:
        """The cached membership while it is fresh and well formed, else a live read."""
        if self.table:
            cached = membership.MembershipCache(self.clients, self.table).read()
            if cached is not None and cached.age() <= self.cache_max_age:
                self._members = cached.accounts
                self._loaded_at = time.monotonic()
                return
        self._refresh()

    def refresh(self) -> set[str]:
        """The accounts read live now (the sweep, the membership rule); the cache is written."""
        self._refresh()
        return set(self._members)

    def accounts(self) -> set[str]:
        if not self._loaded_at or time.monotonic() - self._loaded_at > self.max_age:
            self._load()
        return set(self._members)

    def ous_of(self, account: str) -> tuple[str, ...]:
        """The OUs above `account`, nearest first, ending with the root id (cached per account for
        `max_age`, as the membership: an account moved out of an exempt OU stops being exempt within it)."""
        cached = self._ous.get(account)
        if cached is None or time.monotonic() - cached[0] > self.max_age:
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
            self._ous[account] = (time.monotonic(), tuple(chain))
        return self._ous[account][1]

    def contains(self, account: str) -> bool:
        if account in self.accounts():
            return True
        # Not in what was read: a new account may have joined, or the cache may be behind. Ask
        # Organizations itself, unless it was asked within the last minute (then the answer stands).
        if not self._live_at or time.monotonic() - self._live_at > membership.LIVE_RECHECK_SECONDS:
            self._refresh()
        return account in self._members


def _literals(rule: Any) -> frozenset[str] | None:
    """The exact strings a pattern field accepts, or None when it accepts anything else too."""
    if isinstance(rule, list) and rule and all(isinstance(v, str) for v in rule):
        return frozenset(rule)
    return None


@dataclass(frozen=True)
class TriggerIndex:
    """Which remediations an event can possibly match, from the two fields nearly every trigger pins
    (`source`, `detail.eventName`), before the exact pattern match decides. Only ever a superset: a
    pattern whose field is not a list of plain strings (prefix, anything-but, `$or`, ...) is always a
    candidate. Hand-written for the backtest, where matching ~50 patterns against every record of an
    organization's history was three quarters of its time; EventBridge does this in AWS."""

    by_source: Mapping[str, tuple[tuple[type[Remediation], frozenset[str] | None], ...]]
    always: tuple[type[Remediation], ...]
    order: Mapping[type[Remediation], int]

    @classmethod
    def build(cls, remediations: tuple[type[Remediation], ...]) -> TriggerIndex:
        by_source: dict[str, list[tuple[type[Remediation], frozenset[str] | None]]] = {}
        always: list[type[Remediation]] = []
        for remediation in remediations:
            for trigger in remediation.triggers:
                pattern = trigger.pattern
                sources = _literals(pattern.get("source")) if "$or" not in pattern else None
                detail = pattern.get("detail")
                names = _literals(detail.get("eventName")) if isinstance(detail, Mapping) and "$or" not in detail else None
                if sources is None:
                    always.append(remediation)
                    continue
                for source in sources:
                    by_source.setdefault(source, []).append((remediation, names))
        return cls(
            {k: tuple(v) for k, v in by_source.items()},
            tuple(dict.fromkeys(always)),
            {r: i for i, r in enumerate(remediations)},
        )

    def candidates(self, event: Mapping[str, Any]) -> list[type[Remediation]]:
        source, detail = event.get("source"), event.get("detail")
        name = detail.get("eventName") if isinstance(detail, Mapping) else None
        if not isinstance(source, str):
            return sorted(self.order, key=self.order.__getitem__)
        found = set(self.always)
        for remediation, names in self.by_source.get(source, ()):
            if names is None or not isinstance(name, str) or name in names:
                found.add(remediation)
        return sorted(found, key=self.order.__getitem__)


@functools.lru_cache(maxsize=4)
def _trigger_index(remediations: tuple[type[Remediation], ...]) -> TriggerIndex:
    return TriggerIndex.build(remediations)


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
    clock: Clock = field(default_factory=Clock)
    # The end of the current Lambda invocation (`begin`); None: the CLI, assumed a function's timeout.
    invocation_deadline: float | None = None

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.clients, self.table, self.clock)

    def begin(self, context: Any) -> None:
        """A Lambda invocation starts: its deadline bounds the leases of the claims it takes."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self.invocation_deadline = self.clock.now() + remaining() / 1000 if callable(remaining) else None

    def deadline(self) -> float:
        """When this run is over for sure (the Lambda timeout; a function's default for the CLI)."""
        return self.invocation_deadline if self.invocation_deadline is not None else self.clock.now() + DEFAULT_TIMEOUT

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
        index = _trigger_index(tuple(registry.all_remediations()))
        return [r.name for r in index.candidates(as_dict) if any(matches(t.pattern, as_dict) for t in r.triggers)]

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
                result = pipeline.handle(self, registry.get(name)(), envelope)
                if result.outcome is Outcome.FAILED and not self.offline:
                    self._dead_letter(envelope, result)
                results.append(result)
        return results

    def _reject(self, reason: str, remediations: Iterable[str] | None) -> Result:
        result = Result(Outcome.REJECTED, f"malformed event: {reason}")
        result.remediation = next(iter(remediations), None) if remediations else None
        result.audit_id = new_audit_id()
        self.audit.write(result, result.audit_id)
        self.observe(result)
        return result

    # -- reporting -------------------------------------------------------------------------------
    def observe(self, result: Result) -> None:
        """Log, count and hand a recorded result to the observers."""
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
            org=OrganizationsDirectory(clients, os.environ.get("SNAPBACK_ORG_READER_ROLE_ARN") or None, table=table_name(config)),
            dead_letter_url=os.environ.get("SNAPBACK_DLQ_URL") or None,
            emit_metrics=True,
            logger=Logger(service="snapback", stream=sys.stdout),
        )
    return _LAMBDA_RUNTIME
