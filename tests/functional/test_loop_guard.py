"""Loop guard: Snapback's own calls, its own findings and the StackSets deployment never trigger a remediation.

For every registered CloudTrail trigger, the call it selects is replayed as CloudTrail records it
when Snapback's remediator role (or the StackSets execution role) makes it: no pattern selects it,
in process and in moto's EventBridge, and the run-time guard skips it if it arrives anyway.
"""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern

from snapback import registry
from snapback.events import CLOUDTRAIL_API
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback_ops.demo import cloudtrail_record, runtime_for

PATTERNS = [(r.name, t.pattern) for r in registry.all_remediations() for t in r.triggers]
CALLS = sorted(
    {
        (t.pattern["detail"]["eventSource"][0], name)
        for r in registry.all_remediations()
        for t in r.triggers
        if CLOUDTRAIL_API in t.pattern.get("detail-type", [])
        for name in t.pattern["detail"]["eventName"]
    }
)


def envelope(record: dict) -> dict:
    return {
        "version": "0",
        "id": record["eventID"],
        "source": f"aws.{record['eventSource'].split('.')[0]}",
        "detail-type": CLOUDTRAIL_API,
        "account": record["recipientAccountId"],
        "region": record["awsRegion"],
        "time": record["eventTime"],
        "resources": [],
        "detail": record,
    }


@pytest.mark.parametrize("actor", ["snapback-remediator", "stacksets-exec-5f1b2c3d4e"])
@pytest.mark.parametrize(("event_source", "event_name"), CALLS)
def test_snapback_and_stacksets_calls_match_no_pattern(actor, event_source, event_name):
    ordinary = envelope(cloudtrail_record("123456789012", event_source, event_name, {}, actor="developer"))
    if not any(matches(p, ordinary) for _, p in PATTERNS):
        pytest.skip(f"{event_name} triggers only when the root user makes it; no role can")
    own = envelope(cloudtrail_record("123456789012", event_source, event_name, {}, actor=actor))
    for name, pattern in PATTERNS:
        assert not matches(pattern, own), (name, event_name)
        assert not EventPattern.load(json.dumps(pattern)).matches_event(json.loads(json.dumps(own))), (name, event_name)


def test_the_run_time_guard_skips_them_if_they_arrive_anyway(org):
    account = org.members["member-a"]
    for actor in ("snapback-remediator", "stacksets-exec-5f1b2c3d4e"):
        record = cloudtrail_record(account, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", {"bucketName": "b"}, actor=actor)
        (result,) = runtime_for(org, "s3_block_public_access").process(envelope(record), remediations=["s3_block_public_access"])
        assert result.outcome is Outcome.SKIPPED and "loop guard" in result.reason


def test_findings_snapback_imports_select_no_remediation(org):
    """Snapback's own ASFF findings come back as 'Security Hub Findings - Imported' events."""
    from snapback_ops.demo import cloudtrail_record as record_of
    from snapback_ops.scenarios.s3_public_bucket import public_policy

    account = org.members["member-a"]
    org.session(account).client("s3").create_bucket(Bucket="loop")
    runtime = runtime_for(org, "s3_block_public_access")
    call = record_of(
        account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": "loop", "bucketPolicy": public_policy("loop")}
    )
    (result,) = runtime.process(envelope(call), remediations=["s3_block_public_access"])
    finding = next(
        f for f in org.session(org.security).client("securityhub").get_findings()["Findings"] if f["Id"] == result.finding_id
    )
    # Make it look like a failed control as well: the product ARN alone must keep it out.
    finding = {**finding, "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"}, "Workflow": {"Status": "NEW"}}
    imported = {
        "version": "0",
        "id": "sh-1",
        "source": "aws.securityhub",
        "detail-type": "Security Hub Findings - Imported",
        "account": org.security,
        "region": "us-east-1",
        "time": finding["UpdatedAt"],
        "resources": [finding["ProductArn"]],
        "detail": {"findings": [finding]},
    }
    assert not [name for name, pattern in PATTERNS if matches(pattern, imported)]
