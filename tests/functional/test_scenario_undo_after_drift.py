"""The undo_after_drift demo scenario: undo after the owner's newer change is refused, with the diff.

It passes only if the undo is refused and the owner's policy, read back from AWS (moto), is still
theirs. The failure paths below prove that: without the drift check, or with an undo that says
REFUSED but overwrote the policy anyway, the scenario fails and `snapback demo` prints FAIL and
exits non-zero.
"""

from __future__ import annotations

import io
import json
from typing import Any

from snapback import operations
from snapback.remediation import Remediation
from snapback_ops import cli
from snapback_ops.demo import Timeline, run_demo
from snapback_ops.scenarios import undo_after_drift

NEEDS_ROUTING = True  # the member buses route events to the per-remediation queues (tests/conftest.py)


def test_undo_after_the_owner_changed_the_policy_is_refused_with_the_diff_and_force_overrides(org):
    timeline = Timeline()
    report = undo_after_drift.run(org, timeline)
    entries = [e for e in timeline.entries if e["kind"] in ("undo", "outcome", "drift", "verify")]
    assert report["passed"], (report, entries)
    assert report["outcomes"] == ["REMEDIATED", "REFUSED", "UNDONE"]
    assert report["owner_change_intact"] is True
    texts = [e["text"] for e in timeline.entries]
    assert any(t.startswith("REFUSED: ") and "--force" in t for t in texts), texts
    drift = [e["text"] for e in timeline.entries if e["kind"] == "drift"]
    assert drift == report["drift"] and all(" -> " in line for line in drift), drift
    assert any("acme-etl-input" in line for line in drift), "the diff shows the owner's newer policy"


def test_an_undo_that_says_refused_but_overwrote_the_owners_policy_fails_the_scenario(org, monkeypatch):
    """The scenario checks AWS state, not only undo's answer."""
    real = operations.undo

    def lying_undo(runtime: Any, audit_id: str, *, force: bool = False) -> dict[str, Any]:
        answer = real(runtime, audit_id, force=True)
        return {**answer, "outcome": "REFUSED"} if not force else answer

    monkeypatch.setattr(cli, "undo", lying_undo)
    report = undo_after_drift.run(org, Timeline())
    assert report["outcomes"][1] == "REFUSED" and report["drift"]
    assert report["owner_change_intact"] is False
    assert not report["passed"]


def test_without_the_drift_check_the_demo_prints_fail_and_exits_non_zero(tmp_path, monkeypatch):
    """The demo with the drift check gone: undo overwrites the owner's policy, the demo fails (its exit
    code is `snapback demo`'s)."""
    monkeypatch.setenv("SNAPBACK_DEMO_SCENARIOS", "undo_after_drift")
    monkeypatch.setattr(Remediation, "drift", lambda self, recorded, current: [])
    report_path = tmp_path / "report.json"

    buffer = io.StringIO()
    code = run_demo(report_path=str(report_path), out=buffer)

    out = buffer.getvalue()
    assert code != 0, out
    assert "FAIL: 0/1 scenarios" in out, out[-2000:]
    (scenario,) = json.loads(report_path.read_text())["scenarios"]
    assert scenario["outcomes"][1] == "UNDONE" and scenario["owner_change_intact"] is False, scenario
