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


def test_overlapping_calls_count_once_in_aws_time(shared_org):
    """The Security Hub import and SNS publish overlap: AWS time is the wall time with a call in
    flight, never the sum of overlapping calls (which made 'own time' negative)."""
    import threading
    import time as clock

    import boto3

    barrier = threading.Barrier(2)

    def slow(**_):  # both calls are in flight together for ~0.3 s
        barrier.wait(timeout=5)
        clock.sleep(0.3)

    clients = [boto3.client("sts", region_name="us-east-1") for _ in range(2)]
    for client in clients:
        client.meta.events.register("before-send.sts.GetCallerIdentity", slow)
    with calls.recording() as recording:
        started = clock.perf_counter()
        threads = [threading.Thread(target=c.get_caller_identity) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = clock.perf_counter() - started
    assert recording.calls == {"sts:GetCallerIdentity": 2}
    assert 0.3 <= recording.aws_seconds <= elapsed < 0.6
