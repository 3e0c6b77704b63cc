"""A Lambda that can be killed: every AWS call Snapback's clients make is counted, the process dies
after the k-th one (a BaseException from a botocore hook: nothing after it runs, no cleanup, and the
dead process makes no further call), and the event is run again as Lambda's asynchronous retry does,
in a fresh process (new clients, caches and credentials) and later on a fake clock (1 min, then
2 min: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html), so
that the leases are tested against the real retry schedule without waiting for it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from snapback import registry
from snapback.clients import Clients
from snapback.errors import RetryableError
from snapback.pipeline import result_from_audit
from snapback.runtime import Runtime
from tests.reliability.support import is_security_write

DUPLICATE = re.compile(r"duplicate: already handled \(audit ([^)]+)\)")
# Lambda runs an asynchronous event that raised at most three times, 1 min then 2 min apart.
RETRY_DELAYS = (60.0, 120.0)
READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "Head", "Check", "Search", "Select", "BatchGet", "Query", "Scan")


def function_timeout(name: str) -> int:
    """The deployed function's timeout (stacks/security.py), which bounds the lease of its claims."""
    from stacks.security import SLOW

    return int(SLOW.get(name, 60))


def is_write(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


class Kill(BaseException):
    """The Lambda process dies (timeout, out of memory, SIGKILL)."""


class FakeClock:
    """Real time plus an offset; sleeping moves the offset (the ledger's waits cost nothing)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.offset += seconds
            self.slept += seconds


@dataclass
class Process:
    number: int
    dead: bool = False


@dataclass
class Call:
    process: int
    service: str
    operation: str
    member: bool
    security: bool = False  # a remediation's own resource in the security account (`security_permissions`)


@dataclass
class Context:
    """Enough of the Lambda context: the invocation's remaining time."""

    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class KillableLambda:
    """Install with `install(monkeypatch)`; `kill_after`: die after that many AWS calls (None: never)."""

    timeout: int = 60
    kill_after: int | None = None
    clock: FakeClock = field(default_factory=FakeClock)
    calls: list[Call] = field(default_factory=list)
    kills: int = 0
    retries: int = 0
    invocations: int = 0
    results: list[Any] = field(default_factory=list)
    inspected: dict[str, Any] = field(default_factory=dict)  # first state read per claim: the true before
    real_clock: bool = False
    finished_by_killed_try: int = 0
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _processes: int = 0

    # -- counts ------------------------------------------------------------------------------------
    def member_writes(self) -> list[Call]:
        """The remediation's writes: to member accounts, and to the security-account resources it
        declares (`security_permissions`, e.g. the WAF IP sets); never the ledger, audit or reports."""
        return [c for c in self.calls if (c.member or c.security) and is_write(c.operation)]

    def creates(self) -> Counter[str]:
        return Counter(f"{c.service}:{c.operation}" for c in self.member_writes() if c.operation.startswith("Create"))

    # -- installation --------------------------------------------------------------------------------
    def install(self, monkeypatch: pytest.MonkeyPatch) -> KillableLambda:
        plain_client, plain_member = Clients.client, Clients.member_client
        harness = self

        def client(clients: Clients, service: str, region: str | None = None) -> Any:
            return harness._hook(plain_client(clients, service, region), clients, member=False)

        def member_client(clients: Clients, account: str, region: str, remediation: str, service: str) -> Any:
            return harness._hook(plain_member(clients, account, region, remediation, service), clients, member=True)

        monkeypatch.setattr(Clients, "client", client)
        monkeypatch.setattr(Clients, "member_client", member_client)
        plain_process = Runtime.process

        def process(runtime: Runtime, raw: Any, remediations: Any = None) -> Any:
            return harness._invoke(plain_process, runtime, raw, remediations)

        monkeypatch.setattr(Runtime, "process", process)
        for cls in registry.all_remediations():
            self._watch_inspect(monkeypatch, cls)
        return self

    def _watch_inspect(self, monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
        plain = cls.inspect
        harness = self

        def inspect(remediation: Any, session: Any, target: Any) -> Any:
            state = plain(remediation, session, target)
            harness.inspected.setdefault(target.idempotency_key, json.loads(json.dumps(state, default=str)))
            return state

        monkeypatch.setattr(cls, "inspect", inspect)

    def _hook(self, client: Any, clients: Clients, member: bool) -> Any:
        process: Process | None = getattr(clients, "_process", None)
        if process is None or getattr(client, "_killable", None) is process:
            return client
        client._killable = process
        service = client.meta.service_model.service_name
        harness = self

        def before_call(model: Any, **_: Any) -> None:
            if process.dead:
                raise Kill(f"process {process.number} is dead: no {service}:{model.name}")

        def after_call(model: Any, **_: Any) -> None:
            with harness._lock:
                security = is_security_write(service, model.name, member)
                harness.calls.append(Call(process.number, service, model.name, member, security))
                kill = harness.kill_after is not None and len(harness.calls) == harness.kill_after
            if kill:
                process.dead = True
                harness.kills += 1
                raise Kill(f"killed after call {len(harness.calls)}: {service}:{model.name}")

        client.meta.events.register("before-call", before_call)
        client.meta.events.register("after-call", after_call)
        return client

    def fresh(self, runtime: Runtime) -> Runtime:
        """The same function in a new execution environment: nothing in memory survives."""
        with self._lock:
            self._processes += 1
            number = self._processes
        old = runtime.clients
        clients = Clients(region=old.region, member_role_name=old.member_role_name, partition=old.partition, session=old.session)
        clients._process = Process(number)  # type: ignore[attr-defined]
        clock = self.clock if not self.real_clock else runtime.clock
        fresh = dataclasses.replace(runtime, clients=clients, clock=clock)  # type: ignore[arg-type]
        fresh.begin(Context(self.timeout * 1000))
        return fresh

    def _invoke(self, plain: Any, runtime: Runtime, raw: Any, remediations: Any) -> Any:
        for attempt in range(len(RETRY_DELAYS) + 1):
            self.invocations += 1
            try:
                process = self.fresh(runtime)
                results = plain(process, raw, remediations)
                if attempt:
                    results = [self._recorded(process, r) for r in results]
            except (Kill, RetryableError) as err:
                self.errors.append(f"{type(err).__name__}: {err}")
                if attempt == len(RETRY_DELAYS):
                    raise
                self.retries += 1
                self.clock.sleep(RETRY_DELAYS[attempt])  # Lambda's wait before running the event again
                continue
            self.results.extend(results)
            return results
        raise AssertionError("unreachable")

    def _recorded(self, runtime: Runtime, result: Any) -> Any:
        """A retry that finds the event completed by the killed try (killed after its last write) ends
        SKIPPED as a duplicate; nobody reads an asynchronous invocation's answer, what counts is the
        record. The event's outcome is then that try's record, as the audit log holds it."""
        found = DUPLICATE.match(result.reason or "") if result.outcome.value == "SKIPPED" else None
        if not found:
            return result
        self.finished_by_killed_try += 1
        item = runtime.audit.get(found.group(1))
        assert item is not None, result.reason
        return result_from_audit(item)
