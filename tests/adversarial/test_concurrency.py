"""Two different events about one resource, at the same moment: one action.

For every registered remediation's acting fixture case (iterated from the registry, so a later
remediation is covered too), the case's event is delivered together with a second, different event
about the same resource (new envelope id, CloudTrail eventID, finding id: a different claim key),
each in its own thread, started together at a barrier. The resource's lock must serialize them:
exactly one REMEDIATED, the other ALREADY_COMPLIANT (or its plugin's report of a compliant state),
no FAILED, no exception, and the member account sees exactly the writes of one uninterrupted run.
"""

from __future__ import annotations

import copy
import threading
import traceback
import uuid
from collections import Counter
from typing import Any

import pytest

from snapback import registry
from snapback.pipeline import resource_key
from snapback.runtime import Runtime
from tests.adversarial import known_gaps
from tests.adversarial.harness import KillableLambda, function_timeout
from tests.reliability.support import case_views, must_fire, report, run_case

NAMES = sorted(r.name for r in registry.all_remediations())
ACTING = [n for n in NAMES if any(c["expect"] == "REMEDIATED" for c in must_fire(n))]


def another_event(raw: dict[str, Any]) -> dict[str, Any]:
    """The same resource, told by a different event: every id an event's key is built from is new."""
    other = copy.deepcopy(raw)
    other["id"] = str(uuid.uuid4())
    detail = other.get("detail") if isinstance(other.get("detail"), dict) else {}
    if "eventID" in detail:
        detail["eventID"] = str(uuid.uuid4())
    if "id" in detail and isinstance(detail.get("id"), str):  # GuardDuty: another finding on the instance
        detail["id"] = uuid.uuid4().hex
        if isinstance(detail.get("arn"), str):
            detail["arn"] = detail["arn"].rsplit("/", 1)[0] + "/" + detail["id"]
    for finding in detail.get("findings") or []:
        if isinstance(finding, dict) and isinstance(finding.get("Id"), str):
            finding["Id"] = f"{finding['Id']}-again"
    if "configRuleInvocationTime" in detail or "newEvaluationResult" in detail:
        detail["resultRecordedTime"] = f"{detail.get('resultRecordedTime', '')}-again"
    return other


def serialize_moto_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's TransactWriteItems deep-copies the table while another thread may write it (a moto
    artifact: DynamoDB itself is linearizable per item); one request at a time, as DynamoDB answers."""
    from moto.dynamodb.responses import DynamoHandler

    plain = DynamoHandler.call_action
    lock = threading.Lock()

    def call_action(handler: Any) -> Any:
        with lock:
            return plain(handler)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


def first_acting(name: str) -> dict[str, Any]:
    return next(c for c in must_fire(name) if c["expect"] == "REMEDIATED")


@pytest.mark.parametrize("name", [known_gaps.param("concurrency", n, n) for n in ACTING])
def test_two_different_events_for_one_resource_at_once_act_once(org, monkeypatch, record_property, name):
    case = first_acting(name)
    timeout = function_timeout(name)
    with pytest.MonkeyPatch.context() as patch:
        baseline = KillableLambda(timeout=timeout, real_clock=True).install(patch)
        (view,) = case_views(org, name, [case], monkeypatch)
        run_case(name, view, case)
    writes_once = len(baseline.member_writes())

    serialize_moto_dynamodb(monkeypatch)
    harness = KillableLambda(timeout=timeout, real_clock=True).install(monkeypatch)
    invoke = Runtime.process  # the harness's Lambda (a fresh process per invocation)
    pairs: list[list[Any]] = []

    def together(runtime: Runtime, raw: Any, remediations: Any = None) -> Any:
        events = [raw, another_event(raw)] if isinstance(raw, dict) else [raw]
        barrier = threading.Barrier(len(events))
        answers: list[Any] = [None] * len(events)

        def deliver(i: int) -> None:
            barrier.wait()
            try:
                answers[i] = invoke(runtime, events[i], remediations)
            except BaseException as err:  # noqa: BLE001 - handed to the test thread
                answers[i] = err

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(events))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for answer in answers:
            assert not isinstance(answer, BaseException), "".join(traceback.format_exception(answer))
        pairs.append(answers)
        acted = [a for a in answers if any(r.outcome.value == "REMEDIATED" for r in a)]
        return acted[0] if acted else answers[0]

    monkeypatch.setattr(Runtime, "process", together)
    (view,) = case_views(org, name, [case], monkeypatch)
    run_case(name, view, case)  # the case's outcome and AWS state, with its twin delivered beside it

    pair = pairs[-1]  # (a case may first show Snapback a baseline event of its own)
    outcomes = Counter(r.outcome.value for answer in pair for r in answer)
    keys = {r.target.idempotency_key for answer in pair for r in answer if r.target is not None}
    assert len(keys) == 2, f"the twin must be a different event (claim key) about the same resource: {keys}"
    assert outcomes["REMEDIATED"] == 1 and outcomes["FAILED"] == 0, [
        (r.outcome.value, r.reason, r.target.resource_arn, r.before, r.after, r.actions) for a in pair for r in a
    ] + harness.errors
    other = [r for answer in pair for r in answer if r.outcome.value != "REMEDIATED"]
    assert all(r.outcome.value in ("ALREADY_COMPLIANT", "NOTIFIED") for r in other), [(r.outcome, r.reason) for r in other]
    # About one resource: the one the lock serializes (a remediation that writes a shared resource,
    # the WAF IP set entry, names it; the finding ARNs of the two events differ).
    remediation = registry.get(name)()
    assert len({resource_key(remediation, r.target) for answer in pair for r in answer}) == 1
    writes = len(harness.member_writes())
    assert writes == writes_once, f"{writes} member writes for two events, {writes_once} for one: acted twice"
    report(
        record_property,
        remediation=name,
        events_tried=2,
        outcomes=dict(outcomes),
        actions_observed=writes,
        actions_for_one_event=writes_once,
    )
