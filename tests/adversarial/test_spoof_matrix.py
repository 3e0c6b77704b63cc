"""Spoof matrix: for EVERY registered remediation and its must-fire fixture cases (the registry is
iterated, so a remediation added later is covered), the genuine event is captured in flight from
the remediation's own fixture test and, before it is delivered, spoofed variants of it are:

- must never act (SKIPPED or REJECTED, and not one mutating call through a member session):
  envelope account differs from the detail's; the detail names another account; the resource is
  owned by another account; the envelope's resources name an account outside the org; a consistent
  event from outside the org; non-AWS sources (`aws.evil`, `aws`, `awsx.s3`, case and whitespace
  look-alikes); and the genuine Snapback session (the loop guard still works);
- must still be acted on (delivered in dry-run: past every guard, never SKIPPED or REJECTED, no
  write), because only the exact
  remediator role ARN of the account exempts: an attacker's session with SourceIdentity
  `snapback@...`, look-alike role names, the real role name in another account or partition, the
  real role in someone else's session, `stacksets-exec-*` on a resource that is not Snapback's.

Then the genuine event is delivered and the fixture test asserts its outcome and AWS state: had any
variant changed the resource, the genuine event would find it compliant and the test would fail.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from snapback.outcomes import Outcome
from snapback.runtime import Runtime
from tests.adversarial import known_gaps
from tests.adversarial.support import WriteRecorder, acting_variants, skipped_variants
from tests.reliability.support import NAMES, PROFILE, case_views, cases_for, run_case


@pytest.mark.parametrize("name", [known_gaps.param("spoof", n, n) for n in NAMES])
def test_spoofed_variants_of_every_must_fire_event(org, monkeypatch, name):
    # `ci`: every variant against one must-fire event per remediation; `full` (make fuzz): every such event
    cases = cases_for(name) if PROFILE == "full" else cases_for(name)[:1]
    assert cases, f"{name} has no must-fire fixture case"
    recorder = WriteRecorder().install(monkeypatch)
    plain = Runtime.process
    tried: dict[str, list[str]] = {"skipped": [], "acted": []}

    for view, case in zip(case_views(org, name, cases, monkeypatch), cases, strict=True):
        other = view.members["member-b"]
        state = {"first": True}

        def process(runtime: Runtime, raw: Any, remediations: Any = None, view=view, other=other, state=state, case=case) -> Any:
            if state["first"] and isinstance(raw, dict) and "detail-type" in raw:
                state["first"] = False
                genuine = json.loads(json.dumps(raw))
                for label, variant in skipped_variants(genuine, name, view.security, other):
                    before = len(recorder.writes)
                    results = plain(runtime, variant, remediations)
                    where = f"{name} / {case['name']} / {label}"
                    assert results, where
                    for result in results:
                        assert result.outcome in (Outcome.SKIPPED, Outcome.REJECTED), (where, result.outcome, result.reason)
                        assert result.audit_id, f"{where}: not recorded"
                    assert recorder.writes[before:] == [], (where, recorder.writes[before:])
                    tried["skipped"].append(label)
                dry_run = dataclasses.replace(runtime, forced_mode="dry-run")
                for label, variant in acting_variants(genuine, name, other):
                    before = len(recorder.writes)
                    (result,) = plain(dry_run, variant, remediations)
                    where = f"{name} / {case['name']} / {label}"
                    # Past every guard: the decision is the remediation's (DRY_RUN, or NOTIFIED /
                    # ALREADY_COMPLIANT where its state says so), never a skip or a rejection.
                    assert result.outcome not in (Outcome.SKIPPED, Outcome.REJECTED), (where, result.outcome, result.reason)
                    assert recorder.writes[before:] == [], (where, recorder.writes[before:])
                    tried["acted"].append(label)
            return plain(runtime, raw, remediations)

        monkeypatch.setattr(Runtime, "process", process)
        run_case(name, view, case)  # the genuine event: outcome and AWS state as the fixture expects
        assert not state["first"], f"{name} / {case['name']}: the fixture test delivered no envelope"

    assert len(tried["skipped"]) >= 8 * len(cases)
    print(
        f"spoof matrix {name}: {len(cases)} cases, {len(tried['skipped'])} never-act variants, {len(tried['acted'])} must-act variants"
    )
