"""Kill the handler after each k-th AWS call, then let Lambda retry it: nothing lost, nothing twice.

For every registered remediation (its fixture cases, so a remediation added later is covered without
touching this file), one acting fixture case is first run uninterrupted to learn its AWS calls; then,
for each kill point k, the case runs in fresh accounts with the process killed right after its k-th
AWS call (no cleanup, no further call from the dead process) and retried in a fresh process on
Lambda's schedule (1 min, then 2 min later, on a fake clock). Each run must:

- end, within Lambda's three attempts, in the case's outcome and AWS state (the remediation's own
  `test_fixture_case` asserts them, with `before`/`after` where it checks them);
- leave exactly one audit record of the event, and for a REMEDIATED one: `before` is the state read
  before anything changed (not the half-changed state a retry sees), `after` the state it left;
- create nothing twice (no `Create*` call of the member account more often than uninterrupted);
- be undone exactly: undo from the record, without drift, restores the true before state.

Kill points: `ci` (default) after chosen calls (see `kill_points`); `full`
(SNAPBACK_RELIABILITY_PROFILE=full, `make fuzz`): after every call, for every must-fire case.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from snapback import registry
from snapback.operations import undo
from snapback_ops.demo import runtime_for
from tests.adversarial import known_gaps
from tests.adversarial.harness import KillableLambda, function_timeout, is_write
from tests.reliability.support import PROFILE, case_views, must_fire, report, run_case, security_state

NAMES = sorted(r.name for r in registry.all_remediations())
# What undo deliberately does not restore (evidence an incident responder keeps).
KEPT_BY_UNDO = {"ec2_isolate_instance": ("snapshots", "isolation_groups", "metadata")}
# Remediations whose `inspect` cannot show that undo restored the before state (checked by their own tests).
UNDO_NOT_COMPARABLE = {
    "ec2_revoke_world_admin_ports": "inspect is scoped to the event's rule ids, and AWS gives a re-authorized rule a new id",
}


def cases(name: str) -> list[dict[str, Any]]:
    chosen = must_fire(name)
    acting = [c for c in chosen if c["expect"] == "REMEDIATED"]
    if PROFILE == "full":
        return chosen
    return (acting or chosen)[:1]


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


# Kills after the record and after the first report exercise the runtime's own recording and
# reporting, the same code for every remediation: in `ci` they run on these two (a bucket write, an
# IAM write) and on every remediation that writes nothing in the member (alerts); `full` everywhere.
PIPELINE_KILLS = frozenset({"s3_block_public_access", "iam_admin_policy_revert"})


def kill_points(name: str, harness: KillableLambda) -> list[int]:
    """`full`: after every call. `ci`: after the last write in the member account, or in the
    security-account resources the remediation declares (all done but unrecorded: the retry must
    record the true before state); for `PIPELINE_KILLS` and remediations
    without a member write, also after the recording transaction (recorded, nothing reported) and
    after the first report call (half reported). Kills after the first or a middle member write
    (nothing or half done) are `make fuzz`'s, with every other call."""
    calls = list(enumerate(harness.calls, 1))
    if PROFILE == "full":
        return [i for i, _ in calls]
    member = [i for i, c in calls if (c.member or c.security) and is_write(c.operation)]
    chosen = set(member[-1:])
    if chosen and name not in PIPELINE_KILLS:
        return sorted(chosen)
    transactions = [i for i, c in calls if c.operation == "TransactWriteItems"]
    if len(transactions) >= 2:
        chosen.add(transactions[-2])  # the record (the last one finishes the claim)
    reports = [i for i, c in calls if c.service in ("securityhub", "sns") and is_write(c.operation)]
    chosen.update(reports[:1])
    return sorted(chosen)


CASES = [(name, i, case) for name in NAMES for i, case in enumerate(cases(name))]


@pytest.mark.parametrize("name, number, case", [known_gaps.param("crash", f"{n}-{i}", n, i, c) for n, i, c in CASES])
def test_killed_after_each_aws_call_and_retried_the_event_finishes_exactly_once(
    org, monkeypatch, record_property, name, number, case
):
    timeout = function_timeout(name)
    # 1. uninterrupted: the calls the case makes, and what it creates
    with pytest.MonkeyPatch.context() as patch:
        baseline = KillableLambda(timeout=timeout).install(patch)
        (view,) = case_views(org, name, [case], monkeypatch)
        run_case(name, view, case)
    points = kill_points(name, baseline)
    assert points, "the case made no AWS call at all"
    figures = Counter()
    for k in points:
        with pytest.MonkeyPatch.context() as patch:
            harness = KillableLambda(timeout=timeout, kill_after=k).install(patch)
            (view,) = case_views(org, name, [case], monkeypatch)
            killed_at = baseline.calls[k - 1]
            where = f"kill after call {k} ({killed_at.service}:{killed_at.operation})"
            try:
                started = run_case(name, view, case)  # the case's outcome and AWS state, after the retries
            except AssertionError as err:
                raise AssertionError(f"{where}: {err}") from err
            assert harness.kills == (1 if k <= len(harness.calls) else 0), where
            for op, count in harness.creates().items():
                assert count <= baseline.creates()[op], f"{where}: {op} {count} times, uninterrupted {baseline.creates()[op]}"
            check_records(name, view, harness, where, started)
            figures["runs"] += 1
            figures["kills"] += harness.kills
            figures["retries"] += harness.retries
            figures["member_writes"] += len(harness.member_writes())
            figures["lease_wait_s"] += int(harness.clock.slept)
    report(
        record_property,
        remediation=name,
        events_tried=figures["runs"],
        kill_points=len(points),
        kills_injected=figures["kills"],
        lambda_retries=figures["retries"],
        actions_observed=figures["member_writes"],
        actions_uninterrupted=len(baseline.member_writes()),
        lease_wait_seconds_emulated=figures["lease_wait_s"],
    )


def check_records(name: str, view: Any, harness: KillableLambda, where: str, started: Any = None) -> None:
    """One record per event with the true before state; undo from it restores that state, in the
    member account (`inspect`) and, for a remediation that writes the security account, there too
    (`started`: its `security_state` before the case)."""
    runtime = runtime_for(view, name)
    undone = 0
    audits = [
        a
        for a in runtime.audit.scan(remediation=name)
        if not str(a.get("mode", "")).startswith("undo") and a["outcome"] != "SKIPPED"  # (duplicates say so)
    ]
    for result in harness.results:
        if result.remediation != name or result.outcome.value == "SKIPPED":
            continue
        mine = [a for a in audits if a["event_id"] == result.event_id and a.get("resource_arn") == result.target.resource_arn]
        assert [a["audit_id"] for a in mine] == [result.audit_id], f"{where}: one record per event, got {mine}"
        (item,) = mine
        assert item["outcome"] == result.outcome.value, where
        claim = runtime.ledger.state(f"{name}#{result.target.idempotency_key}")
        assert claim is None or claim["status"] == "COMPLETED", f"{where}: the claim is left {claim}"
        if result.outcome.value != "REMEDIATED":
            continue
        true_before = harness.inspected[result.target.idempotency_key]
        assert plain(item["before"]) == true_before, f"{where}: the record's before is not the state before the change"
        assert plain(item["after"]) == plain(result.after), where
        assert result.notification_id and result.finding_id, f"{where}: reported"
        if not item.get("undo") or item.get("undone_by") or name in UNDO_NOT_COMPARABLE:
            continue  # no undo (alerts), the case undid it itself, or not comparable by inspect
        answer = undo(runtime, item["audit_id"])
        assert answer["outcome"] == "UNDONE", f"{where}: undo right after the action found drift: {answer}"
        undone += 1
        remediation = registry.get(name)()
        remediation.configure(runtime)
        session = runtime.clients.member(result.target.account, result.target.region, name)
        now = plain(registry.get(name).inspect(remediation, session, result.target))
        kept = KEPT_BY_UNDO.get(name, ())
        diff = remediation.drift(
            {k: v for k, v in true_before.items() if k not in kept}, {k: v for k, v in now.items() if k not in kept}
        )
        assert diff == [], f"{where}: undo did not restore the before state: {diff}"
    if undone and started is not None:
        left = security_state(name, view)
        assert left == started, f"{where}: undo did not restore the security account's state: {started} -> {left}"
