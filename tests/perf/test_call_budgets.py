"""Every remediation declares the AWS calls of its cold path, and one event costs exactly that.

Deterministic (call counts, never times): under moto, each remediation handles two fresh events
of its workload (tests/perf/workloads.py, the fullest path of a fixture case) with a new runtime,
so the first event is cold (assume the member role, read the organization's membership from the
table as in Lambda) and the second warm. Exact equality: one call more fails (a regression), and
one call less fails too until the saving is declared (so docs/BENCHMARKS.md's measured-vs-declared
table can never flatter). Every botocore call is counted (tests/perf/calls.py). `make bench` counts every
must-fire fixture case as well and reports them beside these budgets (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snapback import registry
from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg
from tests.perf import calls
from tests.perf.workloads import WORKLOADS, bench_runtime

NAMES = sorted(r.name for r in registry.all_remediations())


@pytest.fixture(scope="module")
def shared_org() -> Iterator[LocalOrg]:
    from moto import mock_aws

    from snapback_ops.demo import build_org

    with mock_aws():
        yield build_org(routing=False)  # no test here reads the member-bus routes


def test_every_remediation_declares_a_budget_and_has_a_workload():
    undeclared = [name for name in NAMES if registry.get(name).call_budget <= 0]
    assert not undeclared, f"declare `call_budget = N` (AWS calls per event, cold) in: {undeclared}"
    assert set(NAMES) <= set(WORKLOADS), f"add a workload to tests/perf/workloads.py for: {sorted(set(NAMES) - set(WORKLOADS))}"


@pytest.mark.parametrize("name", NAMES)
def test_an_event_stays_within_the_call_budget(shared_org, name):
    remediation, workload = registry.get(name), WORKLOADS[name]
    runtime = bench_runtime(shared_org, name)
    totals = []
    for i in range(2):  # cold, then warm
        event = workload.prepare(shared_org, i)
        with calls.recording() as recording:
            (result,) = runtime.process(event, remediations=[name])
        assert result.outcome is Outcome(workload.expect), result.reason
        if i == 0:
            assert recording.total == remediation.call_budget, (
                f"{name} made {recording.total} AWS calls cold, declared {remediation.call_budget}: {dict(recording.calls)}"
            )
        totals.append(recording.total)
    assert totals[1] < totals[0], "the warm event re-used neither the member credentials nor the organization lookup"


def test_a_cold_process_without_the_membership_item_pays_for_one_live_read(shared_org):
    """What the cache saves, by count: with no membership item (a new deployment before its first
    sweep), the cold event reads Organizations live (reader AssumeRole + ListAccounts) and writes
    the item; the next cold process reads the item alone."""
    name = "kms_enable_key_rotation"
    workload = WORKLOADS[name]
    seen = []
    for cached, i in ((False, 10), (True, 11)):
        runtime = bench_runtime(shared_org, name, membership_cached=cached)
        event = workload.prepare(shared_org, i)
        with calls.recording() as recording:
            (result,) = runtime.process(event, remediations=[name])
        assert result.outcome is Outcome(workload.expect), result.reason
        seen.append(dict(recording.calls))
    miss, hit = seen
    assert sum(hit.values()) == registry.get(name).call_budget
    extra = {k: miss.get(k, 0) - hit.get(k, 0) for k in set(miss) | set(hit) if miss.get(k, 0) != hit.get(k, 0)}
    assert extra == {"sts:AssumeRole": 1, "organizations:ListAccounts": 1, "dynamodb:PutItem": 1}, extra


def test_the_counter_sees_every_call_and_only_while_recording(shared_org):
    import boto3

    sts = boto3.client("sts", region_name="us-east-1")
    sts.get_caller_identity()
    with calls.recording() as recording:
        sts.get_caller_identity()
        boto3.client("s3", region_name="us-east-1").list_buckets()
    sts.get_caller_identity()
    assert recording.calls == {"sts:GetCallerIdentity": 1, "s3:ListBuckets": 1}
    assert recording.aws_seconds > 0


def test_overlapping_calls_count_once_in_aws_time(monkeypatch):
    """The Security Hub import and SNS publish overlap: AWS time is the wall time with a call in
    flight, never the sum of overlapping calls (which made 'own time' negative). Driven through the
    hooks with a fixed clock and two thread ids, so no real time is measured or asserted."""
    from types import SimpleNamespace

    now, thread = [0.0], [1]
    monkeypatch.setattr(calls.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(calls.threading, "get_ident", lambda: thread[0])
    model = SimpleNamespace(name="Publish", service_model=SimpleNamespace(service_name="sns"))

    def at(t: float, ident: int, hook) -> None:
        now[0], thread[0] = t, ident
        hook(model=model)

    with calls.recording() as recording:
        at(0.0, 1, calls._start)  # A: 0 -> 2
        at(1.0, 2, calls._start)  # B: 1 -> 3, overlapping A
        at(2.0, 1, calls._stop)
        at(3.0, 2, calls._stop)
        at(5.0, 1, calls._start)  # C: 5 -> 6, alone
        at(6.0, 1, calls._stop)
        at(7.0, 2, calls._stop)  # a stop without a start of its own thread counts nothing
    assert recording.calls == {"sns:Publish": 3}
    assert recording.aws_seconds == 4.0  # 0..3 and 5..6; the sum of the calls would be 5
