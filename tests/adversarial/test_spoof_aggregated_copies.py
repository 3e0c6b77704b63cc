"""One Security Hub finding, many deliveries: the member's forwarder, the delegated administrator's
aggregation in the security account and the cross-Region aggregation each deliver it with their own
EventBridge id. Snapback acts once per finding Id + UpdatedAt, never once per EventBridge id; a
new UpdatedAt (Security Hub re-evaluated a still-failing control) is a new trigger.
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import uuid
from typing import Any

import pytest

from snapback import registry
from snapback.events import normalise
from snapback.findings import first_finding
from snapback.outcomes import Outcome
from snapback.runtime import Runtime
from tests.adversarial.support import WriteRecorder
from tests.reliability.support import NAMES, case_views, must_fire, run_case

WITH_FINDING_CASES = [n for n in NAMES if any(c.get("template") == "securityhub" for c in must_fire(n))]


def copies(genuine: dict[str, Any], security: str) -> dict[str, dict[str, Any]]:
    member = first_finding(genuine["detail"]).account
    out = {}
    for label, account, region in (
        ("member forwarder", member, genuine["region"]),
        ("delegated administrator", security, genuine["region"]),
        ("cross-Region aggregation", security, "eu-west-1"),
    ):
        event = copy.deepcopy(genuine)
        event.update(id=str(uuid.uuid4()), account=account, region=region)
        out[label] = event
    return out


@pytest.mark.parametrize("name", WITH_FINDING_CASES)
def test_every_copy_of_a_finding_acts_once_and_a_new_updated_at_is_new(org, monkeypatch, name):
    cases = [c for c in must_fire(name) if c.get("template") == "securityhub"]
    recorder = WriteRecorder().install(monkeypatch)
    plain = Runtime.process
    for view, case in zip(case_views(org, name, cases, monkeypatch), cases, strict=True):
        seen: list[tuple[Runtime, dict[str, Any], Any]] = []

        def process(runtime: Runtime, raw: Any, remediations: Any = None, seen=seen) -> Any:
            results = plain(runtime, raw, remediations)
            if not seen and isinstance(raw, dict):
                seen.append((runtime, json.loads(json.dumps(raw)), remediations))
            return results

        monkeypatch.setattr(Runtime, "process", process)
        run_case(name, view, case)  # the first delivery acts (outcome and AWS state asserted there)
        monkeypatch.setattr(Runtime, "process", plain)
        runtime, genuine, remediations = seen[0]

        before = len(recorder.writes)
        for label, event in copies(genuine, view.security).items():
            (result,) = plain(runtime, event, remediations)
            assert result.outcome is Outcome.SKIPPED and "duplicate" in result.reason, (name, case["name"], label, result.reason)
        assert recorder.writes[before:] == []

        later = copy.deepcopy(genuine)
        later["id"] = str(uuid.uuid4())
        later["detail"]["findings"][0]["UpdatedAt"] = "2099-01-01T00:00:00.000Z"
        (result,) = plain(runtime, later, remediations)
        assert "duplicate" not in result.reason and result.outcome is Outcome.ALREADY_COMPLIANT, result.reason


def test_the_finding_key_is_its_id_and_updated_at_whatever_delivered_it():
    finding = {
        "SchemaVersion": "2018-10-08",
        "Id": "arn:aws:securityhub:us-east-1:123456789012:security-control/S3.8/finding/0f1e",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "AwsAccountId": "123456789012",
        "UpdatedAt": "2026-11-22T12:00:00.000Z",
    }
    keys = {
        first_finding(e.detail).idempotency_key
        for account, region in (("123456789012", "us-east-1"), ("888888888888", "us-east-1"), ("888888888888", "eu-west-1"))
        for e in normalise(
            {
                "id": str(uuid.uuid4()),
                "source": "aws.securityhub",
                "detail-type": "Security Hub Findings - Imported",
                "account": account,
                "region": region,
                "detail": {"findings": [finding]},
            }
        )
    }
    assert keys == {f"sh#{finding['Id']}#{finding['UpdatedAt']}"}


@pytest.mark.parametrize("name", [r.name for r in registry.all_remediations()])
def test_no_remediation_keys_a_target_on_the_eventbridge_id(name):
    """Every registered module (a later one too): `event.id` never reaches an idempotency key."""
    source = inspect.getsource(inspect.getmodule(registry.get(name)))
    offenders = [
        ast.unparse(node)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr == "id" and isinstance(node.value, ast.Name) and node.value.id == "event"
    ]
    assert offenders == [], f"{name} uses the EventBridge id: {offenders}"
