"""Test helpers shared by the remediation tests: fixtures as events, fault injection."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from snapback.events import CLOUDTRAIL_API, Envelope
from snapback_ops.demo import cloudtrail_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load_cases(remediation: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / f"{remediation}.json").read_text())["cases"]


def fill(value: Any, **names: str) -> Any:
    text = json.dumps(value)
    for key, replacement in names.items():
        text = text.replace("{" + key + "}", replacement)
    return json.loads(text)


def envelope(record: dict[str, Any], account: str | None = None) -> Envelope:
    service = record["eventSource"].split(".")[0]
    return Envelope(
        id=record["eventID"],
        source=f"aws.{service}",
        detail_type=CLOUDTRAIL_API,
        account=account or record["recipientAccountId"],
        region=record["awsRegion"],
        time=record["eventTime"],
        resources=(),
        detail=record,
    )


def eventbridge_event(record: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail record as EventBridge delivers it to a rule target (the raw envelope dict)."""
    return {
        "version": "0",
        "id": uuid.uuid4().hex,
        "detail-type": CLOUDTRAIL_API,
        "source": f"aws.{record['eventSource'].split('.')[0]}",
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


def case_event(case: dict[str, Any], account: str, **names: str) -> Envelope:
    record = cloudtrail_record(
        account,
        case.get("event_source", "s3.amazonaws.com"),
        case["event"],
        fill(case["request"], **names),
        actor=case.get("actor", "developer"),
        error_code=case.get("error_code"),
    )
    return envelope(record)


def inject_error(client: Any, operation: str, code: str, status: int = 403) -> None:
    """Make `operation` on this client fail with `code`, as AWS would answer (fault injection)."""

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        response = AWSResponse("https://fault.invalid", status, {}, None)
        return response, {"Error": {"Code": code, "Message": f"injected {code}"}, "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(f"before-call.*.{operation}", answer)


def service_event(source: str, detail_type: str, detail: dict[str, Any], account: str, region: str = "us-east-1") -> Envelope:
    """An EventBridge envelope for a non-CloudTrail service event (GuardDuty, Security Hub, Config)."""
    import uuid

    return Envelope(
        id=str(uuid.uuid4()),
        source=source,
        detail_type=detail_type,
        account=account,
        region=region,
        time="2026-11-22T12:00:00Z",
        resources=(),
        detail=detail,
    )


def set_path(detail: Any, path: str, value: Any) -> None:
    """Set `a.0.b` in a nested event (list indexes as numbers), creating missing objects on the way."""
    *parents, last = path.split(".")
    node = detail
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
