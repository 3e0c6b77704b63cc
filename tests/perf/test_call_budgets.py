"""Every remediation declares its AWS call budget, and one event never costs more.

Deterministic (call counts, never times): under moto, each remediation handles two fresh events
of its workload (tests/perf/workloads.py, the fullest path of a fixture case) with a new runtime,
so the first event is cold (assume the member role, look the account up in the organization) and
the second warm. Every botocore call is counted (tests/perf/calls.py). `make bench` counts every
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
        assert recording.total <= remediation.call_budget, (
            f"{name} made {recording.total} AWS calls, budget {remediation.call_budget}: {dict(recording.calls)}"
        )
        totals.append(recording.total)
    assert totals[1] < totals[0], "the warm event re-used neither the member credentials nor the organization lookup"


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
