"""Helpers for the "shared outside the organization" tests: IAM Access Analyzer events, routing."""

from __future__ import annotations

import json
import uuid
from typing import Any

from snapback import registry
from snapback.patterns import matches
from snapback.sharing import ACCESS_ANALYZER_FINDING
from tests.remediations.helpers import fill, service_event

OUTSIDE = "999988887777"  # never an account of the test organization


def names(org: Any, account: str, **more: str) -> dict[str, str]:
    return {"account": account, "member_b": org.members["member-b"], "outside": OUTSIDE, **more}


def analyzer_event(
    finding: dict[str, Any], account: str, resource: str, event_account: str | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """An 'Access Analyzer Finding' event as EventBridge delivers it (the EventBridge reference's shape:
    the GetFinding fields plus accountId, region and isDeleted)."""
    detail = {
        "version": "1.0",
        "id": str(uuid.uuid4()),
        "status": "ACTIVE",
        "resource": resource,
        "createdAt": "2026-11-22T11:58:03.496Z",
        "analyzedAt": "2026-11-22T11:58:03.496Z",
        "updatedAt": f"2026-11-22T11:58:0{uuid.uuid4().int % 10}.496Z",
        "accountId": account,
        "region": region,
        "condition": {},
        "isDeleted": False,
        **finding,
    }
    event = service_event("aws.access-analyzer", ACCESS_ANALYZER_FINDING, detail, event_account or account, region).as_dict()
    event["resources"] = [f"arn:aws:access-analyzer:{region}:{event_account or account}:analyzer/ConsoleAnalyzer-0a1b"]
    return event


def routed(name: str, event: dict[str, Any]) -> bool:
    return any(matches(t.pattern, json.loads(json.dumps(event))) for t in registry.get(name).triggers)


def filled(value: Any, **names: str) -> Any:
    return fill(value, **names)
