"""The registry's contract: every remediation is complete, and everything else derives from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from snapback import member_role, registry
from snapback.remediation import AlertRemediation, Remediation

FIXTURES = Path(__file__).with_name("fixtures")
REMEDIATIONS = registry.all_remediations()
IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


@pytest.mark.parametrize("cls", REMEDIATIONS, ids=[r.name for r in REMEDIATIONS])
def test_remediation_is_complete(cls: type[Remediation]):
    doc = cls.__module__ and __import__(cls.__module__, fromlist=["_"]).__doc__ or ""
    for section in ("Trigger:", "Action:", "Undo:", "Permissions:"):
        assert section in doc, f"{cls.name}: module docstring lacks {section}"
    assert cls.__module__ == f"snapback.remediations.{cls.name}", "module name must equal the remediation name"
    assert cls.summary and cls.triggers
    # Only an alert-only remediation may need nothing in member accounts (it never opens a session).
    assert cls.permissions or issubclass(cls, AlertRemediation), f"{cls.name}: declare its member permissions"
    assert all(IAM_ACTION.match(p) for p in (*cls.permissions, *cls.sweep_permissions)), cls.permissions
    assert "*" not in "".join((*cls.permissions, *cls.sweep_permissions))
    # A sweep only lists and reads; what it finds is acted on with the remediation's own permissions.
    assert all(p.split(":")[1].startswith(("List", "Get", "Describe")) for p in cls.sweep_permissions)
    assert cls.sweep_scope in (None, "region", "account")
    has_undo = cls.undo is not Remediation.undo
    assert has_undo or cls.no_undo_reason, f"{cls.name}: implement undo or state no_undo_reason"
    fixture = json.loads((FIXTURES / f"{cls.name}.json").read_text())
    expects = {c["expect"] for c in fixture["cases"]}
    assert {"REMEDIATED", "SKIPPED"} <= expects or (cls.no_undo_reason and "NOTIFIED" in expects)
    assert any(not c["routed"] for c in fixture["cases"]), "fixtures need must-not-fire cases"


@pytest.mark.parametrize("cls", REMEDIATIONS, ids=[r.name for r in REMEDIATIONS])
def test_patterns_are_valid_eventbridge_patterns_and_exclude_snapback(cls: type[Remediation]):
    from moto.events.models import EventPattern

    for trigger in cls.triggers:
        EventPattern.load(json.dumps(trigger.pattern))
        assert trigger.pattern["source"] and all(s.startswith("aws.") for s in trigger.pattern["source"])
        if "AWS API Call via CloudTrail" in trigger.pattern.get("detail-type", []):
            text = json.dumps(trigger.pattern)
            # Failed calls never route, except on a trigger named "attempts" (an attempted organization
            # departure is itself worth a page).
            failed_excluded = '"errorCode": [{"exists": false}]' in text
            assert "snapback-remediator" in text and (failed_excluded or trigger.id == "attempts")


def test_trigger_ids_are_unique_within_a_remediation_and_names_are_rule_safe():
    for cls in REMEDIATIONS:
        ids = [t.id for t in cls.triggers]
        assert len(ids) == len(set(ids))
        assert re.match(r"^[a-z0-9_]{3,40}$", cls.name)


def test_member_role_is_exactly_the_union_of_declared_permissions():
    policy = member_role.permissions_policy()
    granted = [a for s in policy["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert sorted(granted) == sorted({p for r in REMEDIATIONS for p in (*r.permissions, *r.sweep_permissions)})
    trust = member_role.trust_policy(member_role.member_caller_arns("222222222222"))
    principals = trust["Statement"][0]["Principal"]["AWS"]
    # only remediations that act in members (declare permissions) are trusted: not the root alert
    functions = [member_role.remediator_role_name(r.name) for r in REMEDIATIONS if (*r.permissions, *r.sweep_permissions)]
    assert principals == sorted(
        {
            f"arn:aws:iam::222222222222:role/{name}"
            for name in (*functions, member_role.SWEEP_ROLE, member_role.CUSTOM_ACTIONS_ROLE)
        }
    )
    # an alert that never enters a member account is not trusted by the member role at all
    assert f"arn:aws:iam::222222222222:role/{member_role.ALERT_FUNCTIONS_ROLE}" not in principals
    # the trust grows with roles, never with remediations: far under IAM's 2,048 characters
    assert len(json.dumps(trust, separators=(",", ":"))) < 1024
    assert all("snapback@" in json.dumps(s["Condition"]) for s in trust["Statement"])


def test_name_clash_fails_at_import():
    from snapback.registry import register

    first = REMEDIATIONS[0]
    clone = type("Clone", (first,), {"__module__": "elsewhere"})
    with pytest.raises(RuntimeError, match="name clash"):
        register(clone)
