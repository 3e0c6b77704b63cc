"""Shared machinery of the reliability suites: fault injection at the botocore layer, the Lambda
asynchronous retry, a cheap many-account organization, and the remediation tests' fixture cases.

Faults are injected only into the clients Snapback itself creates (`snapback.clients.Clients`),
never into the clients the tests use to set up and read AWS state, so that what the tests assert
is AWS as it really is.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse

from snapback import member_role, registry
from snapback.audit import Ledger
from snapback.clients import Clients
from snapback.errors import RetryableError
from snapback.runtime import Runtime
from snapback_ops.demo import REGION, LocalOrg
from tests.remediations.helpers import load_cases

MUST_FIRE_OUTCOMES = ("REMEDIATED", "NOTIFIED")
NAMES = sorted(r.name for r in registry.all_remediations())
# Lambda runs an asynchronous event at most three times (the first try and two retries).
LAMBDA_ATTEMPTS = 3
# Operations that only read: a member-account call of any other name changes something.
READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "Head", "Check", "Search", "Select", "BatchGet")


def must_fire(name: str) -> list[dict[str, Any]]:
    """The remediation's fixture cases that must act or alert (routed, REMEDIATED or NOTIFIED)."""
    return [c for c in load_cases(name) if c.get("routed") and c["expect"] in MUST_FIRE_OUTCOMES]


def fixture_test(name: str) -> Callable[..., None]:
    """The remediation's own `test_fixture_case`: set up, deliver, assert outcome and AWS state."""
    return importlib.import_module(f"tests.remediations.test_{name}").test_fixture_case  # type: ignore[no-any-return]


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


# What remediations do in the security account itself, on resources of their own (`security_permissions`:
# the WAF IP sets): a write there is the remediation's action as much as a member account's write is.
SECURITY_ACTIONS = frozenset(a for r in registry.all_remediations() for a in getattr(r, "security_permissions", ()))


def is_security_write(service: str, operation: str, member: bool) -> bool:
    """A remediation's write to a security-account resource of its own (not the ledger, audit or reports)."""
    return not member and f"{service}:{operation}" in SECURITY_ACTIONS and is_mutating(operation)


# -- a many-account organization ---------------------------------------------------------------


def add_members(org: LocalOrg, count: int) -> list[str]:
    """`count` more member accounts in the org's OU with the remediator role (no demo routing)."""
    client = boto3.client("organizations", region_name=REGION)
    root = client.list_roots()["Roots"][0]["Id"]
    trust = member_role.trust_policy(member_role.remediator_role_arns(org.security))
    policy = json.dumps(member_role.permissions_policy())
    accounts = []
    for _ in range(count):
        n = len(org.members) + len(accounts)
        status = client.create_account(Email=f"extra-{n}@example.com", AccountName=f"extra-{n}")["CreateAccountStatus"]
        account = str(status["AccountId"])
        client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=org.ou)
        iam = org.session(account).client("iam")
        iam.create_role(RoleName=org.config.member_role_name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=org.config.member_role_name, PolicyName="snapback-remediations", PolicyDocument=policy)
        accounts.append(account)
    return accounts


def views(org: LocalOrg, count: int) -> Iterator[LocalOrg]:
    """`count` views of one organization, each with fresh accounts as its member-a and member-b:
    fixture cases written for their own org run side by side in one moto without clashing names."""
    accounts = add_members(org, 2 * count)
    for i in range(count):
        yield dataclasses.replace(org, members={"member-a": accounts[2 * i], "member-b": accounts[2 * i + 1]})


def case_views(org: LocalOrg, name: str, cases: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> list[LocalOrg]:
    """One view per case; accounts whose case attaches AWS managed policies get moto's copies of
    them (loading them costs about a second per account, so only where a case needs them)."""
    out = []
    for case in cases:
        if name == "iam_admin_policy_revert" and ":aws:policy/" in json.dumps(case.get("request")):
            monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        else:
            monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES", raising=False)
        out.extend(views(org, 1))
    monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES", raising=False)
    return out


@dataclass
class _Request:
    """Enough of pytest's `request` for the fixture tests that choose their org fixture by name."""

    org: LocalOrg

    def getfixturevalue(self, name: str) -> LocalOrg:
        return self.org


def security_state(name: str, org: LocalOrg) -> Any:
    """The security-account state the remediation writes (its fixture module's `security_state`, for
    remediations that act there: the WAF IP sets and block records), or None."""
    read = getattr(importlib.import_module(f"tests.remediations.test_{name}"), "security_state", None)
    return read(org) if read is not None else None


def run_case(name: str, org: LocalOrg, case: dict[str, Any]) -> Any:
    """Run one fixture case in `org` (a view: fresh member accounts). A remediation that writes the
    security account, which every view shares, gets it fresh first (its fixture module's
    `fresh_security_state`): a case never finds what an earlier run of the suite left there.
    Returns the security-account state the case started from (`security_state`), or None."""
    module = importlib.import_module(f"tests.remediations.test_{name}")
    # Every case is one incident in fresh member accounts, but the remediation-wide breaker scope
    # (25 actions an hour) lives in the one shared security account: a suite that runs a remediation's
    # cases at every kill point would open it, as a real burst should. Each case starts it closed.
    from snapback_ops.demo import TABLE

    org.session(org.security).client("dynamodb").delete_item(TableName=TABLE, Key={"pk": {"S": f"breaker#remediation#{name}"}})
    fresh = getattr(module, "fresh_security_state", None)
    if fresh is not None:
        fresh(org)
    started = security_state(name, org)
    test = fixture_test(name)
    params = inspect.signature(test).parameters
    kwargs: dict[str, Any] = {"case": case}
    if "org" in params:
        kwargs["org"] = org
    if "request" in params:
        kwargs["request"] = _Request(org)
    test(**kwargs)
    return started


# -- fault injection ---------------------------------------------------------------------------

# Protocol-correct throttling answers, so that botocore's retry handler sees a real throttle.
_THROTTLE: dict[str, tuple[int, dict[str, str], bytes]] = {
    "json": (400, {"Content-Type": "application/x-amz-json-1.1"}, b'{"__type": "ThrottlingException", "message": "injected"}'),
    "rest-json": (
        429,
        {"x-amzn-ErrorType": "ThrottlingException", "Content-Type": "application/json"},
        b'{"message": "injected"}',
    ),
    "query": (
        400,
        {"Content-Type": "text/xml"},
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>injected</Message></Error>"
        b"<RequestId>fault</RequestId></ErrorResponse>",
    ),
    "ec2": (
        503,
        {"Content-Type": "text/xml"},
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>injected</Message></Error></Errors>"
        b"<RequestID>fault</RequestID></Response>",
    ),
    "rest-xml": (503, {"Content-Type": "application/xml"}, b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"),
}


@dataclass
class Faults:
    """Injects faults into every client Snapback creates and counts them.

    throttle_rate: the share of HTTP attempts answered with a throttling error (botocore retries).
    deny: a predicate (service, operation, member?) -> answer AccessDenied before the call is sent.
    crash_after: a predicate (service, operation, member?) -> raise `Crash` after the call succeeded.
    """

    seed: int = 0
    throttle_rate: float = 0.0
    deny: Callable[[str, str, bool], bool] | None = None
    crash_after: Callable[[str, str, bool], bool] | None = None
    attempts: int = 0
    throttled: Counter[str] = field(default_factory=Counter)
    denied: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    member_writes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def injected(self) -> int:
        return sum(self.throttled.values()) + sum(self.denied.values()) + self.crashes

    def hook(self, client: Any, member: bool) -> Any:
        if getattr(client, "_reliability_faults", None) is self:
            return client
        client._reliability_faults = self
        service = client.meta.service_model.service_name
        protocol = client.meta.service_model.protocol
        status, headers, body = _THROTTLE.get(protocol, (503, {}, b""))

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            self.attempts += 1
            if self.throttle_rate and self.rng.random() < self.throttle_rate:
                self.throttled[service] += 1
                request.url = "https://throttled.fault.invalid/"  # never served: the call is not executed
                response = AWSResponse(request.url, status, headers, None)
                response._content = body  # read by the protocol parser as if sent by AWS
                return response
            return None

        def before_call(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            if (member and is_mutating(model.name)) or is_security_write(service, model.name, member):
                self.member_writes.append((service, model.name, params))
            if self.deny and self.deny(service, model.name, member):
                self.denied[service] += 1
                response = AWSResponse("https://fault.invalid", 403, {}, None)
                code = "AccessDeniedException" if protocol in ("json", "rest-json") else "AccessDenied"
                return response, {
                    "Error": {"Code": code, "Message": f"injected: not authorized to perform {service}:{model.name}"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                }
            return None

        def after_call(model: Any, **_: Any) -> None:
            if self.crash_after and self.crash_after(service, model.name, member):
                self.crashes += 1
                raise Crash(f"process killed after {service}:{model.name}")

        client.meta.events.register_first("before-send", before_send)  # before moto's own answer
        client.meta.events.register("before-call", before_call)
        client.meta.events.register("after-call", after_call)
        return client


class Crash(BaseException):
    """The Lambda process dies (timeout, out of memory): nothing after this point runs."""


@dataclass
class Platform:
    """What Lambda's asynchronous invocation does around `Runtime.process`, counted."""

    invocations: int = 0
    retries: int = 0
    crashes: int = 0
    backoff_seconds: float = 0.0
    results: list[Any] = field(default_factory=list)
    on_crash: Callable[[Runtime], None] | None = None


def install(monkeypatch: pytest.MonkeyPatch, faults: Faults) -> Platform:
    """Hook `faults` into every client Snapback creates; emulate Lambda's retry of a raised event."""
    platform = Platform()
    plain_client, plain_member = Clients.client, Clients.member_client

    def client(self: Clients, service: str, region: str | None = None) -> Any:
        return faults.hook(plain_client(self, service, region), member=False)

    def member_client(self: Clients, account: str, region: str, remediation: str, service: str) -> Any:
        return faults.hook(plain_member(self, account, region, remediation, service), member=True)

    monkeypatch.setattr(Clients, "client", client)
    monkeypatch.setattr(Clients, "member_client", member_client)

    # botocore's standard retry mode sleeps between attempts (exponential backoff with jitter):
    # keep the figure, skip the wait.
    class _Clock:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            platform.backoff_seconds += seconds

    monkeypatch.setattr(botocore.endpoint, "time", _Clock())

    plain_process = Runtime.process

    def process(self: Runtime, raw: Any, remediations: Any = None) -> Any:
        for attempt in range(1, LAMBDA_ATTEMPTS + 1):
            platform.invocations += 1
            try:
                results = plain_process(self, raw, remediations)
            except RetryableError:
                if attempt == LAMBDA_ATTEMPTS:
                    raise  # the on-failure destination (DLQ) would get it
                platform.retries += 1
                continue
            except Crash:
                platform.crashes += 1
                if attempt == LAMBDA_ATTEMPTS:
                    raise
                if platform.on_crash:
                    platform.on_crash(self)
                continue
            platform.results.extend(results)
            return results
        raise AssertionError("unreachable")

    monkeypatch.setattr(Runtime, "process", process)

    # A killed process runs no cleanup: its claim and lock stay IN_PROGRESS until the lease runs out.
    plain_abandon = Ledger.abandon

    def abandon(self: Ledger, held: Any) -> None:
        if not isinstance(sys.exc_info()[1], Crash):
            plain_abandon(self, held)

    monkeypatch.setattr(Ledger, "abandon", abandon)
    return platform


def report(record_property: Callable[[str, Any], None], **figures: Any) -> None:
    """Print the figures and put them in the JUnit report (`record_property`)."""
    for key, value in figures.items():
        record_property(key, value)
    print("reliability figures: " + json.dumps(figures, sort_keys=True, default=str))


# -- profiles ----------------------------------------------------------------------------------

# `ci` (default, `make test`): each remediation's must-fire cases, at most CI_CASES of them, chosen
# to cover its distinct trigger shapes; `full` (`make fuzz`): all of them. One keeps `make test`
# near its time budget with 27 remediations; each remediation's own tests run every fixture case.
PROFILE = os.environ.get("SNAPBACK_RELIABILITY_PROFILE", "ci")
CI_CASES = 1


def cases_for(name: str, limit: int = CI_CASES) -> list[dict[str, Any]]:
    cases = must_fire(name)
    if PROFILE == "full":
        return cases
    chosen: list[dict[str, Any]] = []
    shapes: set[tuple[Any, ...]] = set()
    for case in cases:  # one per trigger shape first, then fill up in fixture order
        shape = (case.get("event"), case.get("template"), case.get("from"), case.get("event_source"), case["expect"])
        if shape not in shapes and len(chosen) < limit:
            shapes.add(shape)
            chosen.append(case)
    return chosen


# -- interleaved duplicate delivery ------------------------------------------------------------


@dataclass
class Delivery:
    runtime: Runtime
    raw: Any
    remediations: Any
    results: list[Any] = field(default_factory=list)  # per copy: list of Result, or the exception


class Interleaver:
    """Runs jobs (fixture cases) in threads, one at a time, and delivers every event they hand to
    `Runtime.process` `copies` times, interleaved across the jobs: a, b, c, a, b, c, ... Each job
    gets the first delivery's answer back only after all copies were processed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, copies: int = 3) -> None:
        self.copies = copies
        self.deliveries: list[Delivery] = []
        self._plain = Runtime.process
        self._local = threading.local()
        interleaver = self

        def process(runtime: Runtime, raw: Any, remediations: Any = None) -> Any:
            return interleaver._process(runtime, raw, remediations)

        monkeypatch.setattr(Runtime, "process", process)

    def _process(self, runtime: Runtime, raw: Any, remediations: Any = None) -> Any:
        job = getattr(self._local, "job", None)
        if job is None:
            return self._plain(runtime, raw, remediations)
        job["request"] = Delivery(runtime, raw, remediations)
        self._parked.release()
        job["go"].acquire()
        first = job["request"].results[0]
        job["request"] = None
        if isinstance(first, BaseException):
            raise first
        return first

    def run(self, jobs: list[Callable[[], None]]) -> None:
        self._parked = threading.Semaphore(0)
        states = [{"go": threading.Semaphore(0), "request": None, "done": False, "error": None} for _ in jobs]

        def body(job: Callable[[], None], state: dict[str, Any]) -> None:
            self._local.job = state
            state["go"].acquire()
            try:
                job()
            except BaseException as err:  # noqa: BLE001 - handed to the main thread
                state["error"] = err
            finally:
                state["done"] = True
                self._parked.release()

        threads = [threading.Thread(target=body, args=(j, s), daemon=True) for j, s in zip(jobs, states, strict=True)]
        for thread in threads:
            thread.start()
        active = list(states)
        while active:
            batch = []
            for state in list(active):
                state["go"].release()
                self._parked.acquire()
                if state["done"]:
                    active.remove(state)
                else:
                    batch.append(state["request"])
            self.deliveries.extend(batch)
            for _ in range(self.copies):
                for delivery in batch:
                    try:
                        delivery.results.append(self._plain(delivery.runtime, delivery.raw, delivery.remediations))
                    except Exception as err:  # noqa: BLE001 - the job re-raises it
                        delivery.results.append(err)
        for thread in threads:
            thread.join(timeout=5)
        errors = [s["error"] for s in states if s["error"] is not None]
        if errors:
            raise errors[0]
