"""Bad input: a corpus of malformed events through `Runtime.process` and the Lambda handler
(functions/remediate/handler.py) of EVERY registered remediation. Each gives REJECTED with a reason,
recorded in the audit table, no exception and no member-account write; and an oversize free-text
field (a 1 MB user agent) never stops a real event from being acted on.

Profiles: `full` (SNAPBACK_RELIABILITY_PROFILE=full, `make fuzz`) sends every input through both
`process` and the handler of every remediation. `ci` (default) sends every input through `process`
of every remediation, and through the handler a deterministic rotation (`handler_inputs`): the
handler wraps `process` identically for every remediation (it reads SNAPBACK_REMEDIATION and hands
the raw input on), so each remediation's handler gets every HANDLER_EVERY-th input, offset by its
place in the registry: every input goes through the handler of several remediations (27 / 9 = 3),
and every remediation's handler gets inputs of several kinds.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from snapback import runtime as runtime_module
from snapback.events import MAX_DEPTH
from snapback.outcomes import Outcome
from snapback_ops.demo import REGION, runtime_for
from tests.adversarial.support import WriteRecorder
from tests.reliability.support import NAMES, PROFILE

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


def envelope(detail: Any, **fields: Any) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-22T12:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }
    event.update(fields)
    return event


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def finding(finding_id: str) -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id,
        "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/securityhub",
        "AwsAccountId": ACCOUNT,
        "UpdatedAt": "2026-11-22T12:00:00Z",
        "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
        "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Region": REGION}],
    }


def sqs(body: Any) -> dict[str, Any]:
    return {"Records": [{"eventSource": "aws:sqs", "messageId": "m-1", "body": body}]}


GOOD_RECORD = {
    "eventVersion": "1.09",
    "eventSource": "s3.amazonaws.com",
    "eventName": "DeleteBucketPublicAccessBlock",
    "awsRegion": REGION,
    "recipientAccountId": ACCOUNT,
    "requestParameters": {"bucketName": "b"},
}
DEEP_TEXT = '{"a":' * 200_000 + "1" + "}" * 200_000

CORPUS: dict[str, Any] = {
    "deep nesting (object)": nested(5_000),
    "deep nesting just over the bound": envelope(nested(MAX_DEPTH + 1)),
    "deep nesting (JSON text)": DEEP_TEXT,
    "deep nesting in an SQS body": sqs(DEEP_TEXT),
    "deep nesting in an SNS message": {"Records": [{"Sns": {"Message": "[" * 100_000 + "]" * 100_000}}]},
    "500 KB Security Hub finding id": envelope(
        {"findings": [finding("f" * 500_000)]}, source="aws.securityhub", **{"detail-type": "Security Hub Findings - Imported"}
    ),
    "500 KB finding id, bare ASFF in SQS": sqs(json.dumps(finding("x" * 500_000))),
    "500 KB GuardDuty id": envelope(
        {"schemaVersion": "2.0", "accountId": ACCOUNT, "id": "g" * 500_000, "type": "Backdoor:EC2/C&CActivity.B"},
        source="aws.guardduty",
        **{"detail-type": "GuardDuty Finding"},
    ),
    "500 KB CloudTrail eventID": envelope({**GOOD_RECORD, "eventID": "e" * 500_000}),
    "500 KB event source": envelope(GOOD_RECORD, source="aws." + "s" * 500_000),
    "input over the size bound": "{" + " " * (65 * 1024 * 1024) + "}",
    "SQS body over the SQS maximum": sqs(json.dumps({"padding": "p" * (1024 * 1024 + 1)})),
    "invalid UTF-8 bytes": b'{"detail-type": "x", "source": "aws.s3", "detail": {"k": "\xff\xfe"}}',
    "gzipped bytes": gzip.compress(json.dumps(envelope(GOOD_RECORD)).encode()),
    "empty Records": {"Records": []},
    "empty string": "",
    "empty bytes": b"",
    "JSON null": "null",
    "None": None,
    "a list": [envelope(GOOD_RECORD)],
    "a number": 42,
    "not JSON": "{'single': 'quotes'}",
    "detail is a list": envelope([GOOD_RECORD]),
    "detail is a string": envelope("detail"),
    "source is an object": envelope(GOOD_RECORD, source={"aws": "s3"}),
    "account is a number": envelope(GOOD_RECORD, account=123456789012),
    "account is not 12 digits": envelope(GOOD_RECORD, account="12345"),
    "region is an object": envelope(GOOD_RECORD, region={"r": 1}),
    "region is not a Region": envelope(GOOD_RECORD, region="../../etc"),
    "resources is a string": envelope(GOOD_RECORD, resources="arn:aws:s3:::b"),
    "Records is an object": {"Records": {"0": GOOD_RECORD}},
    "Records holds numbers": {"Records": [1, 2]},
    "eventName is a list": envelope({**GOOD_RECORD, "eventName": ["DeleteBucketPublicAccessBlock"]}),
    "CloudTrail record without eventName": {"Records": [{"eventSource": "s3.amazonaws.com", "recipientAccountId": ACCOUNT}]},
    "bare record naming a non-account": {**GOOD_RECORD, "recipientAccountId": "not-an-account"},
    "findings is an object": envelope(
        {"findings": {"0": finding("f")}}, source="aws.securityhub", **{"detail-type": "Security Hub Findings - Imported"}
    ),
    "findings holds strings": envelope(
        {"findings": ["f"]}, source="aws.securityhub", **{"detail-type": "Security Hub Findings - Imported"}
    ),
    "ASFF account is a number": envelope(
        {"findings": [{**finding("f"), "AwsAccountId": 123456789012}]},
        source="aws.securityhub",
        **{"detail-type": "Security Hub Findings - Imported"},
    ),
    "GuardDuty finding without accountId": envelope(
        {"schemaVersion": "2.0", "type": "Backdoor:EC2/C&CActivity.B"},
        source="aws.guardduty",
        **{"detail-type": "GuardDuty Finding"},
    ),
    "SNS notification whose message is not JSON": {"Type": "Notification", "Message": "hello"},
    "SQS body that is a number": sqs(7),
    "unknown shape": {"hello": "world"},
}


# `ci`: each remediation's handler gets every HANDLER_EVERY-th corpus input (see the module docstring).
HANDLER_EVERY = 9


def handler_inputs(name: str) -> set[str]:
    """The corpus labels that go through `name`'s Lambda handler: all in `full`, a rotation in `ci`."""
    labels = list(CORPUS)
    if PROFILE == "full":
        return set(labels)
    offset = NAMES.index(name) % HANDLER_EVERY
    return set(labels[offset::HANDLER_EVERY])


def test_the_ci_handler_rotation_sends_every_input_through_several_handlers():
    if PROFILE == "full":
        pytest.skip("full: every input through every handler")
    through = Counter(label for name in NAMES for label in handler_inputs(name))
    assert set(through) == set(CORPUS), set(CORPUS) - set(through)
    assert min(through.values()) >= min(3, len(NAMES) // HANDLER_EVERY), through
    assert all(len(handler_inputs(name)) >= 4 for name in NAMES)


def load_handler() -> Any:
    spec = importlib.util.spec_from_file_location("remediate_handler", ROOT / "functions" / "remediate" / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def assert_rejected(results: list[Any], label: str, runtime: Any) -> None:
    assert results, f"{label}: no result at all (nothing recorded)"
    for result in results:
        outcome = result["outcome"] if isinstance(result, dict) else result.outcome.value
        reason = result["reason"] if isinstance(result, dict) else result.reason
        audit_id = result["audit_id"] if isinstance(result, dict) else result.audit_id
        assert outcome == Outcome.REJECTED.value, (label, outcome, reason)
        assert reason and len(reason) < 1_000, (label, reason[:200] if reason else reason)
        assert audit_id and runtime.audit.get(audit_id) is not None, f"{label}: not recorded"


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_rejected_and_recorded_through_process_and_the_lambda_handler(org, monkeypatch, name):
    recorder = WriteRecorder().install(monkeypatch)
    runtime = runtime_for(org, name)
    monkeypatch.setattr(runtime_module, "_LAMBDA_RUNTIME", runtime)
    monkeypatch.setenv("SNAPBACK_REMEDIATION", name)
    handler = load_handler()
    through_handler = handler_inputs(name)
    for label, raw in CORPUS.items():
        assert_rejected(runtime.process(raw, remediations=[name]), f"process {name}: {label}", runtime)
        if label in through_handler:
            assert_rejected(handler(raw, None), f"handler {name}: {label}", runtime)
    assert recorder.writes == []


def test_a_long_user_agent_is_cut_never_a_reason_to_drop_the_event(org):
    """An attacker cannot make Snapback drop a real event by sending a 1 MB header: it is acted on,
    and what people read of the user agent is cut with a note."""
    from snapback_ops.demo import cloudtrail_record

    account = org.members["member-a"]
    s3 = org.session(account).client("s3")
    s3.create_bucket(Bucket="long-agent")
    record = cloudtrail_record(account, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", {"bucketName": "long-agent"})
    record["userAgent"] = "A" * 1_000_000
    event = envelope(record, account=account)
    (result,) = runtime_for(org, "s3_block_public_access").process(event, remediations=["s3_block_public_access"])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert s3.get_public_access_block(Bucket="long-agent")["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    agent = result.target.facts["user_agent"]
    assert len(agent) < 1_100 and agent.endswith("more characters cut by Snapback]")
