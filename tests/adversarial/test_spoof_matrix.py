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

Profiles: `full` (SNAPBACK_RELIABILITY_PROFILE=full, `make fuzz`) delivers EVERY variant against
EVERY must-fire event of every remediation. `ci` (default) delivers, against one must-fire event per
remediation, a deterministic rotation of the variant kinds (`chosen`): the kinds fall into classes
(`variant_class`: account claims, event sources, the loop guard, look-alike callers), and each
remediation gets `PER_CLASS[class]` kinds of every class its event is exposed to, starting at an
offset given by its place in the registry, so consecutive remediations get different kinds and
every kind is hit by several remediations (measured with the 27 of today: each of the 5 account
kinds and 5 source kinds 10 to 12 times, the loop guard 23 times, each of the 9 look-alike callers 5
to 9 times). Every remediation still meets at least one variant of each class.
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

# The class of every variant kind (labels of `skipped_variants` and `acting_variants`).
ACCOUNT_KINDS = (
    "envelope account differs from the detail's",
    "detail names another account than the envelope",
    "the resource is owned by another account",
    "envelope resources name an account outside the org",
    "a consistent event from an account outside the org",
)


def variant_class(label: str, acting: bool) -> str:
    if acting:
        return "look-alike caller"
    if label in ACCOUNT_KINDS:
        return "account"
    if label.startswith("source "):
        return "source"
    if label.startswith("genuine Snapback session"):
        return "loop guard"
    raise AssertionError(f"unclassified spoof variant {label!r}: add it to a class")


# `ci`: how many kinds of each class a remediation gets (a rotation over the kinds its event offers).
PER_CLASS = {"account": 2, "source": 2, "loop guard": 1, "look-alike caller": 3}


def chosen(name: str, variants: list[tuple[str, Any]], acting: bool) -> list[tuple[str, Any]]:
    """`full`: every variant. `ci`: per class, PER_CLASS kinds, rotated by the remediation's index."""
    if PROFILE == "full":
        return variants
    by_class: dict[str, list[tuple[str, Any]]] = {}
    for label, variant in variants:
        by_class.setdefault(variant_class(label, acting), []).append((label, variant))
    index = NAMES.index(name)
    out = []
    for kind, offered in by_class.items():
        take = min(PER_CLASS[kind], len(offered))
        start = index * take + index * take // len(offered)  # each lap round the kinds shifts by one
        out.extend(offered[(start + j) % len(offered)] for j in range(take))
    return out


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
                for label, variant in chosen(name, list(skipped_variants(genuine, name, view.security, other)), False):
                    before = len(recorder.writes)
                    results = plain(runtime, variant, remediations)
                    where = f"{name} / {case['name']} / {label}"
                    assert results, where
                    for result in results:
                        assert result.outcome in (Outcome.SKIPPED, Outcome.REJECTED), (where, result.outcome, result.reason)
                        assert result.audit_id, f"{where}: not recorded"
                    assert recorder.writes[before:] == [], (where, recorder.writes[before:])
                    tried["skipped"].append(label)
                    tried.setdefault(variant_class(label, False), []).append(label)
                dry_run = dataclasses.replace(runtime, forced_mode="dry-run")
                for label, variant in chosen(name, list(acting_variants(genuine, name, other)), True):
                    before = len(recorder.writes)
                    (result,) = plain(dry_run, variant, remediations)
                    where = f"{name} / {case['name']} / {label}"
                    # Past every guard: the decision is the remediation's (DRY_RUN, or NOTIFIED /
                    # ALREADY_COMPLIANT where its state says so), never a skip or a rejection.
                    assert result.outcome not in (Outcome.SKIPPED, Outcome.REJECTED), (where, result.outcome, result.reason)
                    assert recorder.writes[before:] == [], (where, recorder.writes[before:])
                    tried["acted"].append(label)
                    tried.setdefault(variant_class(label, True), []).append(label)
            return plain(runtime, raw, remediations)

        monkeypatch.setattr(Runtime, "process", process)
        run_case(name, view, case)  # the genuine event: outcome and AWS state as the fixture expects
        assert not state["first"], f"{name} / {case['name']}: the fixture test delivered no envelope"

    # Every event meets the account and source classes (`skipped_variants` always offers some of both).
    assert len(tried["skipped"]) >= (8 if PROFILE == "full" else 4) * len(cases)
    assert tried.get("account") and tried.get("source"), tried
    print(
        f"spoof matrix {name}: {len(cases)} cases, {len(tried['skipped'])} never-act variants, {len(tried['acted'])} must-act variants:"
        f" {sorted(set(tried['skipped']) | set(tried['acted']))}"
    )
