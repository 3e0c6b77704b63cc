"""Undo never clobbers a newer change: it compares the resource with the audit's `after` first.

For every acting remediation (its first REMEDIATED fixture case, iterated from the registry): after
the remediation, the owner changes the resource again (here: puts it back by hand, the plugin's own
undo run as the owner, so that it is a real change of every kind of resource). `snapback undo` must
then refuse with a readable diff and change nothing; `force=True` must go ahead. Every undo, refused
or done, is its own audit record; a done one is reported (SNS) like any action.

And the issue's own example: after the revert of a `*:*` inline policy, the owner puts a harmless
policy under the same name; undo refuses (it would re-grant `*:*`), and only --force restores it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from snapback import registry
from snapback.operations import undo
from snapback_ops.demo import runtime_for
from tests.adversarial import known_gaps
from tests.adversarial.test_concurrency import another_event
from tests.reliability.support import PROFILE, case_views, must_fire, report, run_case

NAMES = sorted(r.name for r in registry.all_remediations())
ACTING = [n for n in NAMES if any(c["expect"] == "REMEDIATED" for c in must_fire(n))]


def inbox(org: Any) -> list[dict[str, Any]]:
    sqs = org.session(org.security).client("sqs")
    url = sqs.get_queue_url(QueueName="oncall-inbox")["QueueUrl"]
    out = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        for message in batch:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def remediated(org: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, dict[str, Any]]:
    from snapback.runtime import Runtime

    case = next(c for c in must_fire(name) if c["expect"] == "REMEDIATED")
    seen: list[Any] = []
    events: list[Any] = []
    plain = Runtime.process

    def process(runtime: Runtime, raw: Any, remediations: Any = None) -> Any:
        results = plain(runtime, raw, remediations)
        events.append((raw, remediations))
        seen.extend(results)
        return results

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Runtime, "process", process)
        (view,) = case_views(org, name, [case], monkeypatch)
        run_case(name, view, case)
    result = next(r for r in reversed(seen) if r.outcome.value == "REMEDIATED")
    runtime = runtime_for(view, name)
    if case.get("options"):  # the case's own settings (`attach_boundary`, `enforce`), as its own test runs it
        options = {**runtime.config.options, name: {**runtime.config.options.get(name, {}), **case["options"]}}
        runtime.config = dataclasses.replace(runtime.config, options=options)
    item = runtime.audit.get(result.audit_id)
    if item and item.get("undone_by"):  # the case's own checks undid it: the same change, told by a new event
        raw, remediations = events[-1]
        (result,) = runtime.process(another_event(raw), remediations=remediations)
        assert result.outcome.value == "REMEDIATED", result.reason
        item = runtime.audit.get(result.audit_id)
    assert item is not None and item.get("undo"), f"{name}: the REMEDIATED record carries undo data"
    return view, runtime, item


def state_of(runtime: Any, name: str, item: dict[str, Any]) -> Any:
    from snapback.pipeline import target_from_audit

    remediation = registry.get(name)()
    remediation.configure(runtime)
    target = target_from_audit(item)
    return remediation.inspect(runtime.clients.member(target.account, target.region, name), target)


# Remediations whose `inspect` cannot see the owner's change (so undo cannot detect that drift).
BLIND = {
    "ec2_revoke_world_admin_ports": "inspect is scoped to the event's rule ids; a rule the owner adds again has a new id",
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=BLIND[n], strict=True))
        if n in BLIND
        else known_gaps.param("undo_drift", n, n)
        for n in ACTING
    ],
)
def test_undo_after_the_owner_changed_the_resource_is_refused_and_force_restores(org, monkeypatch, record_property, name):
    view, runtime, item = remediated(org, name, monkeypatch)
    from snapback.pipeline import target_from_audit

    # The owner changes the resource again (by hand, not through Snapback).
    remediation = registry.get(name)()
    remediation.configure(runtime)
    target = target_from_audit(item)
    remediation.undo(runtime.clients.member(target.account, target.region, name), target, item["undo"])
    changed = json.loads(json.dumps(state_of(runtime, name, item), default=str))
    assert remediation.drift(item["after"], changed), f"{name}: the owner's change is not visible as drift"
    inbox(view)

    refused = undo(runtime, item["audit_id"])

    assert refused["outcome"] == "REFUSED" and refused["drift"], refused
    assert all(" -> " in line for line in refused["drift"]), "each difference reads `path: recorded -> current`"
    assert json.loads(json.dumps(state_of(runtime, name, item), default=str)) == changed, "a refused undo changes nothing"
    record = runtime.audit.get(refused["undo_audit_id"])
    assert record and record["mode"] == "undo" and record["outcome"] == "SKIPPED" and "refused" in record["reason"]
    assert not runtime.audit.get(item["audit_id"]).get("undone_by")

    forced = undo(runtime, item["audit_id"], force=True)

    assert forced["outcome"] == "UNDONE" and forced["drift"] == refused["drift"], forced
    record = runtime.audit.get(forced["undo_audit_id"])
    assert record and record["mode"] == "undo (forced)" and record["outcome"] == "REMEDIATED"
    assert runtime.audit.get(item["audit_id"])["undone_by"] == forced["undo_audit_id"]
    assert [m["audit_id"] for m in inbox(view)] == [forced["undo_audit_id"]], "the undo is notified like any action"
    again = undo(runtime, item["audit_id"], force=True)
    assert again["outcome"] == "ALREADY_UNDONE"
    report(record_property, remediation=name, undo_refused=1, undo_forced=1, drift_lines=len(refused["drift"]))


# `ci`: three remediations of different shapes (each remediation's own tests undo its fixture cases);
# `full` (make fuzz): every acting remediation.
PLAIN = (
    ACTING
    if PROFILE == "full"
    else [n for n in ACTING if n in ("ec2_isolate_instance", "iam_admin_policy_revert", "s3_block_public_access")]
)


@pytest.mark.parametrize("name", [known_gaps.param("undo_plain", n, n) for n in PLAIN])
def test_undo_without_drift_restores_the_before_state(org, monkeypatch, name):
    view, runtime, item = remediated(org, name, monkeypatch)
    inbox(view)
    done = undo(runtime, item["audit_id"])
    assert done["outcome"] == "UNDONE", done
    assert [m["audit_id"] for m in inbox(view)] == [done["undo_audit_id"]]


def test_the_issue_example_a_replaced_star_policy_is_not_re_granted_without_force(org, monkeypatch):
    """The owner replaced the reverted `*:*` inline policy with a harmless one of the same name."""
    name = "iam_admin_policy_revert"
    case = next(c for c in must_fire(name) if c["event"] == "PutUserPolicy" and c["expect"] == "REMEDIATED")
    from snapback.runtime import Runtime

    plain = Runtime.process

    events: list[Any] = []

    def process(runtime: Runtime, raw: Any, remediations: Any = None) -> Any:
        events.append(raw)
        return plain(runtime, raw, remediations)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Runtime, "process", process)
        (view,) = case_views(org, name, [case], monkeypatch)
        run_case(name, view, case)  # (its own checks end with an undo: the `*:*` policy is back)
    runtime = runtime_for(view, name)
    (result,) = runtime.process(another_event(events[-1]), remediations=[name])  # granted again, reverted again
    assert result.outcome.value == "REMEDIATED", result.reason
    grant = result.undo["grant"]
    assert grant["kind"] == "inline" and grant["principal_type"] == "User", result.undo
    named, policy = grant["principal_name"], grant["policy_name"]
    iam = view.session(result.target.account).client("iam")
    owner_document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    iam.put_user_policy(UserName=named, PolicyName=policy, PolicyDocument=json.dumps(owner_document))

    refused = undo(runtime, result.audit_id)

    assert refused["outcome"] == "REFUSED", refused
    kept = iam.get_user_policy(UserName=named, PolicyName=policy)["PolicyDocument"]
    assert kept == owner_document, "the owner's harmless policy stands"
    forced = undo(runtime, result.audit_id, force=True)
    assert forced["outcome"] == "UNDONE"
    restored = iam.get_user_policy(UserName=named, PolicyName=policy)["PolicyDocument"]
    assert restored != owner_document
