"""`Remediation.verify` may read less than `inspect` (only what apply changed), but what it returns
must be exactly what `inspect` reads at that moment: the audit records it as `after`, undo compares it
with `inspect` to refuse after drift, and `is_compliant` judges it. Every remediation that overrides
`verify` runs its workload here with `inspect` read right after `verify` and compared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from snapback import registry
from snapback.outcomes import Outcome
from snapback.remediation import Remediation
from snapback_ops.demo import LocalOrg
from tests.perf.workloads import WORKLOADS, bench_runtime

NARROW = sorted(r.name for r in registry.all_remediations() if r.verify is not Remediation.verify)


@pytest.fixture(scope="module")
def shared_org() -> Iterator[LocalOrg]:
    from moto import mock_aws

    from snapback_ops.demo import build_org

    with mock_aws():
        yield build_org(routing=False)


def test_the_narrow_verifiers_are_the_ones_expected() -> None:
    assert {"ec2_isolate_instance", "kms_enable_key_rotation", "cloudtrail_restart_logging"} <= set(NARROW)


@pytest.mark.parametrize("name", NARROW)
def test_verify_returns_what_inspect_reads_right_after_apply(shared_org, monkeypatch, name) -> None:
    cls = registry.get(name)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    narrow = cls.verify

    def checked(self: Any, session: Any, target: Any, before: Any, undo: Any) -> dict[str, Any]:
        after = narrow(self, session, target, before, undo)
        pairs.append((after, self.inspect(session, target)))
        return after

    monkeypatch.setattr(cls, "verify", checked)
    runtime = bench_runtime(shared_org, name)
    workload = WORKLOADS[name]
    (result,) = runtime.process(workload.prepare(shared_org, 0), remediations=[name])
    assert result.outcome is Outcome(workload.expect), result.reason
    assert pairs, f"{name}'s workload never reached verify"
    for after, inspected in pairs:
        assert after == inspected
