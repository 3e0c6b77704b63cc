"""The exfiltrate_snapshot demo scenario end to end under moto: rules, queues, handler, undo."""

from __future__ import annotations

from snapback_ops.demo import Timeline
from snapback_ops.scenarios import exfiltrate_snapshot

NEEDS_ROUTING = True  # the member buses route events to the per-remediation queues (tests/conftest.py)


def test_public_share_revoked_org_share_kept_analyzer_finding_revoked_and_undo_restores(org):
    timeline = Timeline()
    report = exfiltrate_snapshot.run(org, timeline)
    assert report["passed"], (report["outcomes"], [e for e in timeline.entries if e["kind"] in ("verify", "undo", "outcome")])
