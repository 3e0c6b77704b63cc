"""cloudtrail_restore_trail under moto: a member's trail, its selectors and bucket, state asserted."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from snapback import pipeline, registry
from snapback.outcomes import Outcome, Severity
from snapback.patterns import matches
from snapback.remediations.cloudtrail_restart_logging import management_gaps
from snapback.remediations.cloudtrail_restore_trail import create_command, narrowing
from snapback_ops.demo import runtime_for
from tests.remediations.helpers import case_event, fill, load_cases

NAME = "cloudtrail_restore_trail"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]


@dataclasses.dataclass
class Setup:
    ct: Any
    s3: Any
    account: str
    bucket: str
    other: str
    key: str


def make_trail(org: Any, member: str = "member-a") -> Setup:
    account = org.members[member]
    session = org.session(account)
    s3, ct = session.client("s3"), session.client("cloudtrail")
    bucket, other = f"trail-{uuid.uuid4().hex[:8]}", f"elsewhere-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=other)
    key = session.client("kms").create_key()["KeyMetadata"]["Arn"]
    ct.create_trail(
        Name="audit",
        S3BucketName=bucket,
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
        KmsKeyId=key,
    )
    ct.put_event_selectors(TrailName="audit", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}])
    ct.start_logging(Name="audit")
    return Setup(ct, s3, account, bucket, other, key)


def names(s: Setup) -> dict[str, str]:
    return {"account": s.account, "bucket": s.bucket, "other": s.other, "key": s.key}


def sweep(runtime: Any, account: str, region: str = "us-east-1") -> list[Any]:
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    return list(remediation.sweep(runtime.clients.member(account, region, NAME), account, region, regions=[region]))


def tamper(s: Setup, setup: str) -> None:
    ct = s.ct
    if setup == "single-region":
        ct.update_trail(Name="audit", IsMultiRegionTrail=False)
    elif setup == "no-validation":
        ct.update_trail(Name="audit", EnableLogFileValidation=False, IncludeGlobalServiceEvents=False)
    elif setup == "no-kms":
        ct.update_trail(Name="audit", KmsKeyId="")
    elif setup == "other-bucket":
        ct.update_trail(Name="audit", S3BucketName=s.other)
    elif setup == "no-management":
        ct.put_event_selectors(
            TrailName="audit", EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": False}]
        )
    elif setup == "read-only-advanced":
        ct.put_event_selectors(
            TrailName="audit",
            AdvancedEventSelectors=[
                {
                    "Name": "ro",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "readOnly", "Equals": ["true"]},
                    ],
                }
            ],
        )
    elif setup == "data-added":
        data = [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payroll/"]}]
        ct.put_event_selectors(
            TrailName="audit", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": data}]
        )
    elif setup == "delete":
        ct.delete_trail(Name="audit")
    elif setup == "lifecycle":
        rule = {"ID": "tidy", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}
        s.s3.put_bucket_lifecycle_configuration(Bucket=s.bucket, LifecycleConfiguration={"Rules": [rule]})


def observed(s: Setup) -> dict[str, Any]:
    try:
        trail = s.ct.get_trail(Name="audit")["Trail"]
    except s.ct.exceptions.TrailNotFoundException:
        return {"exists": False}
    selectors = s.ct.get_event_selectors(TrailName="audit")
    return {
        "exists": True,
        "multi": bool(trail.get("IsMultiRegionTrail")),
        "validation": bool(trail.get("LogFileValidationEnabled")) and bool(trail.get("IncludeGlobalServiceEvents")),
        "kms": trail.get("KmsKeyId") == s.key,
        "bucket": "trail" if trail["S3BucketName"] == s.bucket else "other",
        "management": not management_gaps(selectors.get("EventSelectors") or [], selectors.get("AdvancedEventSelectors") or []),
        "logging": s.ct.get_trail_status(Name="audit")["IsLogging"],
    }


def event_of(case: dict[str, Any], s: Setup) -> dict[str, Any]:
    return case_event(fill(case, **names(s)), s.account).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    s = make_trail(org)
    runtime = runtime_for(org, NAME)
    if case["baseline"]:
        assert sweep(runtime, s.account) == []
    tamper(s, case["setup"])
    event = event_of(case, s)
    assert any(matches(p, event) for p in PATTERNS) == case["routed"]

    (result,) = runtime.process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    assert observed(s) == case["after"]
    if case["expect"] in ("REMEDIATED", "NOTIFIED"):
        assert result.notification_id and result.finding_id and result.audit_id
    if case["event"] in ("DeleteTrail", "PutBucketLifecycle") and case["expect"] != "SKIPPED":
        assert result.severity is Severity.CRITICAL
    if case["expect"] == "NOTIFIED" and case["event"] == "DeleteTrail":
        assert "aws cloudtrail create-trail --region us-east-1 --name audit" in result.reason
    if case["expect"] == "NOTIFIED" and case["event"] == "PutBucketLifecycle":
        assert "trails writing there: audit" in result.reason and '"Days": 1' in result.reason


def test_a_trail_bucket_in_a_log_archive_account_is_named_by_the_option(org):
    s = make_trail(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"trail_buckets": ["elsewhere-*"]}})
    case = BY_NAME["bucket policy on a bucket no trail writes to"]
    (result,) = runtime.process(event_of(case, s), remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED and "named in trail_buckets" in result.reason


def test_undo_restores_the_narrowed_trail_and_it_becomes_the_baseline(org):
    from snapback.operations import undo

    s = make_trail(org)
    runtime = runtime_for(org, NAME)
    sweep(runtime, s.account)
    case = BY_NAME["UpdateTrail removes the KMS key"]
    tamper(s, case["setup"])
    (result,) = runtime.process(event_of(case, s), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and observed(s)["kms"]
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert observed(s)["kms"] is False
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"
    # an operator's undo chose the keyless trail: the same change again is not reverted
    (again,) = runtime.process(event_of(case, s), remediations=[NAME])
    assert again.outcome is Outcome.ALREADY_COMPLIANT and observed(s)["kms"] is False


def test_undo_of_restored_selectors_and_of_a_recreated_trail(org):
    from snapback.operations import undo

    s = make_trail(org)
    runtime = runtime_for(org, NAME)
    sweep(runtime, s.account)
    case = BY_NAME["PutEventSelectors drops management events (Stratus shape)"]
    tamper(s, case["setup"])
    (result,) = runtime.process(event_of(case, s), remediations=[NAME])
    assert observed(s)["management"]
    undo(runtime, result.audit_id)
    assert observed(s)["management"] is False
    s.ct.put_event_selectors(TrailName="audit", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}])
    sweep(runtime, s.account)

    case = BY_NAME["DeleteTrail: recreated from the last known good and started"]
    tamper(s, "delete")
    (result,) = runtime.process(event_of(case, s), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and observed(s)["exists"]
    undo(runtime, result.audit_id)
    assert observed(s) == {"exists": False}


def test_sweep_finds_a_narrowed_trail_only_against_its_baseline(org):
    s = make_trail(org)
    runtime = runtime_for(org, NAME)
    tamper(s, "no-kms")
    assert sweep(runtime, s.account) == []  # first sight: trust on first use, remembered
    s.ct.update_trail(Name="audit", KmsKeyId=s.key)
    assert sweep(runtime, s.account) == []  # wider: the new baseline
    tamper(s, "single-region")
    (found,) = sweep(runtime, s.account)
    assert "multi-Region off" in found.facts["summary"]
    result = pipeline.reconcile(runtime, registry.get(NAME)(), found, period="2026-12-01", run_id="sweep-1")
    assert result.outcome is Outcome.REMEDIATED and observed(s)["multi"]


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing(org, mode, outcome):
    s = make_trail(org)
    runtime = runtime_for(org, NAME)
    sweep(runtime, s.account)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    tamper(s, "other-bucket")
    (result,) = runtime.process(event_of(BY_NAME["UpdateTrail moves logs to another bucket"], s), remediations=[NAME])
    assert result.outcome is outcome and result.actions == ["cloudtrail:UpdateTrail audit: S3BucketName (last known good)"]
    assert observed(s)["bucket"] == "other"


def test_narrowing_rules():
    good = {"settings": {"IsMultiRegionTrail": True, "KmsKeyId": "k", "S3BucketName": "b"}, "selectors": {}}
    assert (
        narrowing({"settings": {"IsMultiRegionTrail": True, "KmsKeyId": "k", "S3BucketName": "b"}, "selectors": {}}, good) == []
    )
    assert narrowing({"settings": {"S3BucketName": "b"}, "selectors": {}}, good) == [
        "multi-Region off",
        "KMS key removed or changed",
    ]
    data = {
        "EventSelectors": [{"IncludeManagementEvents": True, "DataResources": [{"Type": "AWS::S3::Object", "Values": ["x"]}]}]
    }
    assert narrowing({"settings": {}, "selectors": {}}, {"settings": {}, "selectors": data}) == ["data events dropped"]
    assert (
        narrowing({"settings": {"KmsKeyId": "k2"}, "selectors": {}}, {"settings": {}, "selectors": {}}) == []
    )  # a key added widens
    assert "--name 'my trail'" in create_command("my trail", "eu-west-1", {})
