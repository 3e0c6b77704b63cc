"""FindingWorkflow wraps BatchUpdateFindings, which moto lacks: tested with botocore's Stubber."""

import boto3
import pytest
from botocore.stub import Stubber

from snapback.errors import PermanentError
from snapback.securityhub import FindingWorkflow

GD = "arn:aws:securityhub:us-east-1::product/aws/guardduty"


def stubbed():
    client = boto3.client("securityhub", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_batches_of_100_with_a_truncated_note():
    client, stub = stubbed()
    ids = [{"Id": f"f-{i}", "ProductArn": GD} for i in range(150)]
    note = "x" * 600
    for chunk in (ids[:100], ids[100:]):
        stub.add_response(
            "batch_update_findings",
            {"ProcessedFindings": chunk, "UnprocessedFindings": []},
            {
                "FindingIdentifiers": chunk,
                "Workflow": {"Status": "RESOLVED"},
                "Note": {"Text": "x" * 511 + "…", "UpdatedBy": "snapback"},
            },
        )
    with stub:
        assert len(FindingWorkflow(client).update(ids, "RESOLVED", note)) == 150
    stub.assert_no_pending_responses()


def test_throttling_is_retried_then_unprocessed_findings_fail_loudly(monkeypatch):
    monkeypatch.setattr("snapback.securityhub.time.sleep", lambda _: None)
    client, stub = stubbed()
    ids = [{"Id": "f-1", "ProductArn": GD}]
    stub.add_client_error("batch_update_findings", "TooManyRequestsException", http_status_code=429)
    stub.add_response(
        "batch_update_findings",
        {
            "ProcessedFindings": [],
            "UnprocessedFindings": [{"FindingIdentifier": ids[0], "ErrorCode": "FindingNotFound", "ErrorMessage": "gone"}],
        },
    )
    with stub, pytest.raises(PermanentError, match="FindingNotFound"):
        FindingWorkflow(client).update(ids, "NOTIFIED", "started")
    stub.assert_no_pending_responses()
