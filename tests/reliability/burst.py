"""A burst of mixed events through the local pipeline, counted end to end: nothing may be lost.

`run_burst(n, seed)` builds the local organization in moto (decorator mode), then puts `n` events
on the member accounts' default buses: every remediation's fixture cases (must fire and must not
fire), malformed variants and re-sent duplicates. EventBridge (moto) applies the registry's rules
and delivers to the per-remediation SQS queues, as `snapback_ops.demo.deliver` does; the handler runs
on every delivery, with Lambda's asynchronous retry (three tries) and its on-failure destination
emulated. A catch-all rule proves that every event entered the bus.

Counted: sent, entered (the bus's catch-all), routed (deliveries EventBridge made),
delivered (deliveries the handler finished with an outcome), outcomes, dead_lettered (FAILED
outcomes the runtime dead-lettered, and deliveries the platform gave up on), lost.
Imported by bench/burst.py for throughput and peak memory.
"""

from __future__ import annotations

import functools
import json
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
LAMBDA_ATTEMPTS = 3
PUMP_EVERY = 50  # events put on the buses between two runs of the handlers
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass
class BurstReport:
    sent: int = 0
    entered: int = 0
    routed: int = 0
    delivered: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    platform_dead_lettered: int = 0
    duplicates_sent: int = 0
    malformed_sent: int = 0
    lost: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "outcomes": dict(self.outcomes)}


def _fill(value: Any, names: dict[str, str], i: int) -> Any:
    """Every `{placeholder}` of a fixture: the account where named, else a per-event made-up name."""
    text = json.dumps(value)
    text = _PLACEHOLDER.sub(lambda m: names.get(m.group(1), f"burst-{m.group(1)}-{i}"), text)
    return json.loads(text)


def _cloudtrail(case: dict[str, Any], account: str, i: int) -> tuple[str, str, dict[str, Any]]:
    from snapback.events import CONSOLE_SIGNIN
    from snapback_ops.demo import cloudtrail_record

    names = {"account": account}
    source = case.get("event_source", "s3.amazonaws.com")
    record = cloudtrail_record(
        account,
        source,
        case["event"],
        _fill(case.get("request") or {}, names, i),
        actor=case.get("actor", "developer"),
        response=_fill(case.get("response"), names, i),
        error_code=case.get("error_code"),
    )
    if case.get("identity") == "Root":
        record["userIdentity"] = {
            "type": "Root",
            "principalId": account,
            "arn": f"arn:aws:iam::{account}:root",
            "accountId": account,
        }
    if "additional" in case:
        record["additionalEventData"] = _fill(case["additional"], names, i)
    signin = source == "signin.amazonaws.com"
    detail_type = case.get("detail_type", CONSOLE_SIGNIN[0] if signin else "AWS API Call via CloudTrail")
    return f"aws.{source.split('.')[0]}", detail_type, record


def _templated(fixture: dict[str, Any], case: dict[str, Any], account: str, i: int) -> tuple[str, str, dict[str, Any]]:
    template = fixture["templates"][case["template"]]
    detail = json.loads(json.dumps(template["detail"]))
    for path, value in case.get("set", {}).items():
        from tests.remediations.helpers import set_path  # lazily, like FIXTURES: bench imports this module

        set_path(detail, path, value)
    return template["source"], template["detail_type"], _fill(detail, {"account": account}, i)


def _finding(fixture: dict[str, Any], case: dict[str, Any], account: str, i: int) -> tuple[str, str, dict[str, Any]]:
    from snapback.events import GUARDDUTY_FINDING

    detail = _fill(fixture["finding"], {"account": account, "finding_id": uuid.uuid4().hex}, i)
    for key in ("type", "severity"):
        if key in case:
            detail[key] = case[key]
    if case.get("sample"):
        detail.setdefault("service", {}).setdefault("additionalInfo", {})["sample"] = True
    return "aws.guardduty", GUARDDUTY_FINDING, detail


def event_pool() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(remediation, fixture file, case) for every fixture case that can be replayed without setup."""
    from tests.remediations.helpers import FIXTURES

    pool = []
    for path in sorted(FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text())
        for case in fixture["cases"]:
            if "template" in case or "event" in case or "finding" in fixture:
                pool.append((fixture["remediation"], fixture, case))
    return pool


def make_event(fixture: dict[str, Any], case: dict[str, Any], account: str, i: int) -> tuple[str, str, dict[str, Any]]:
    if "template" in case:
        return _templated(fixture, case, account, i)
    if "finding" in fixture:
        return _finding(fixture, case, account, i)
    return _cloudtrail(case, account, i)


def malformed(source: str, detail_type: str, detail: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same event with a part that still routes but cannot be parsed as expected."""
    detail = json.loads(json.dumps(detail))
    choice = rng.randrange(4)
    if "requestParameters" in detail and choice == 0:
        detail["requestParameters"] = "not an object"
    elif "eventTime" in detail and choice == 1:
        detail["eventTime"] = 12345
    elif "findings" in detail and choice == 2:
        detail["findings"][0]["Resources"] = "x" * 300
    elif "resource" in detail and choice == 3:
        detail["resource"] = None
    else:
        detail["recipientAccountId"] = ["not", "an", "account"]
        detail["eventID"] = None
    return detail


def run_burst(n: int = 1000, seed: int = 0) -> BurstReport:
    """`n` mixed events through moto EventBridge -> SQS -> the handler; see the module docstring."""
    import jsonpath_ng.ext
    from moto import mock_aws

    # moto's EventBridge parses the same few JSONPaths of the targets' input transformer for every
    # delivery (about 25 ms each); parsed once, a 1,000-event burst takes a third of the time.
    plain_parse = jsonpath_ng.ext.parse
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(plain_parse)
    try:
        with mock_aws():
            return _burst(n, seed)
    finally:
        jsonpath_ng.ext.parse = plain_parse


def _burst(n: int, seed: int) -> BurstReport:
    from snapback import registry
    from snapback.errors import RetryableError
    from snapback_ops.demo import build_org, runtime_for

    rng = random.Random(seed)
    org = build_org()
    members = list(org.members.values())
    sec_sqs = org.session(org.security).client("sqs")
    dlq = sec_sqs.create_queue(QueueName="snapback-failures")["QueueUrl"]
    runtimes = {}
    for r in registry.all_remediations():
        runtimes[r.name] = runtime_for(org, r.name)
        runtimes[r.name].dead_letter_url = dlq
    buses, queues, catch_all = {}, {}, {}
    for account in members:
        session = org.session(account)
        events, sqs = session.client("events"), session.client("sqs")
        buses[account] = events
        queues[account] = {
            r.name: sqs.get_queue_url(QueueName=f"snapback-{r.name}")["QueueUrl"] for r in registry.all_remediations()
        }
        url = sqs.create_queue(QueueName="burst-all-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="burst-all-events", EventPattern=json.dumps({"account": [account]}), State="ENABLED")
        events.put_targets(Rule="burst-all-events", Targets=[{"Id": "all", "Arn": arn}])
        catch_all[account] = (sqs, url)

    pool = event_pool()
    report = BurstReport()
    started = time.perf_counter()
    history: list[tuple[str, str, str, dict[str, Any]]] = []
    pending: dict[str, list[dict[str, Any]]] = {a: [] for a in members}

    def flush(account: str) -> None:
        entries = pending[account]
        while entries:
            batch, entries[:] = entries[:10], entries[10:]
            response = buses[account].put_events(Entries=batch)
            if response.get("FailedEntryCount"):
                report.errors.append(f"PutEvents failed: {response['Entries']}")

    def handle(name: str, body: dict[str, Any]) -> None:
        for attempt in range(1, LAMBDA_ATTEMPTS + 1):
            try:
                results = runtimes[name].process(body, remediations=[name])
            except RetryableError as err:
                if attempt == LAMBDA_ATTEMPTS:
                    report.platform_dead_lettered += 1  # the on-failure destination
                    report.errors.append(f"{name}: retries exhausted: {err}")
                continue
            except Exception as err:  # noqa: BLE001 - a crash is counted, and dead-lettered as Lambda would
                report.platform_dead_lettered += 1
                report.errors.append(f"{name}: {type(err).__name__}: {err}")
                return
            report.delivered += 1
            report.outcomes.update(r.outcome.value for r in results)
            return

    def pump() -> None:
        """Put what is pending on the buses, then run the handler on everything the rules delivered."""
        for account in members:
            flush(account)
            sqs, url = catch_all[account]
            report.entered += _drain(sqs, url, lambda body: None)
            for name, queue in queues[account].items():
                report.routed += _drain(sqs, queue, functools.partial(handle, name))

    for i in range(n):
        account = rng.choice(members)
        roll = rng.random()
        if history and roll < 0.10:
            account, source, detail_type, detail = rng.choice(history)  # the same event, delivered again
            report.duplicates_sent += 1
        else:
            _, fixture, case = rng.choice(pool)
            source, detail_type, detail = make_event(fixture, case, account, i)
            if roll > 0.90:
                detail = malformed(source, detail_type, detail, rng)
                report.malformed_sent += 1
            history.append((account, source, detail_type, detail))
        pending[account].append({"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)})
        report.sent += 1
        if (i + 1) % PUMP_EVERY == 0:
            pump()  # the functions keep up with the bus, as Lambda's concurrency would
    pump()
    report.dead_lettered = _drain(sec_sqs, dlq, lambda body: None) + report.platform_dead_lettered
    report.lost = (report.sent - report.entered) + (report.routed - report.delivered - report.platform_dead_lettered)
    report.seconds = round(time.perf_counter() - started, 2)
    return report


def _drain(sqs: Any, url: str, handle: Any) -> int:
    """Receive in batches of 10 until the queue is empty; handle each body, then delete the batch."""
    count = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return count
        for message in messages:
            handle(json.loads(message["Body"]))
            count += 1
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)]
        )


if __name__ == "__main__":
    import sys

    print(json.dumps(run_burst(int(sys.argv[1]) if len(sys.argv) > 1 else 1000).as_dict(), indent=1))
