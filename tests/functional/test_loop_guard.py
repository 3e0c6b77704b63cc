"""Loop guard: Snapback's own calls, its own findings and StackSets deploying Snapback never trigger
a remediation, and nothing else a member admin controls looks like them.

Snapback is recognised only by the exact remediator role ARN of the event's account as the session
issuer plus its session naming; never by a SourceIdentity (any caller allowed
`sts:SetSourceIdentity` picks any string) or a name alone. The StackSets execution role is excepted
only while it changes Snapback's own resources. (The spoof matrix in tests/adversarial runs the
same look-alikes through every remediation's must-fire events.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from snapback import guards, registry
from snapback.events import CLOUDTRAIL_API, normalise, parse_cloudtrail
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback.runtime import StaticDirectory
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.adversarial.support import genuine_snapback, identity

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
ACCOUNT, OTHER = "123456789012", "210987654321"
STACKSETS = "stacksets-exec-5f1b2c3d4e6a7b8c9d0e1f2a3b4c5d6e"


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


def with_identity(record: dict[str, Any], ident: dict[str, Any]) -> dict[str, Any]:
    return {**record, "userIdentity": ident}


def routed(event: dict) -> list[str]:
    return [name for name, pattern in PATTERNS if matches(pattern, event)]


@pytest.mark.parametrize(("event_source", "event_name"), CALLS)
def test_snapback_sessions_match_no_pattern_and_stacksets_is_not_excluded_by_name(event_source, event_name):
    ordinary = envelope(cloudtrail_record(ACCOUNT, event_source, event_name, {}, actor="developer"))
    if not routed(ordinary):
        pytest.skip(f"{event_name} triggers only when the root user makes it; no role can")
    record = cloudtrail_record(ACCOUNT, event_source, event_name, {})
    own = envelope(with_identity(record, genuine_snapback(ACCOUNT, "s3_block_public_access")))
    for name, pattern in PATTERNS:
        assert not matches(pattern, own), (name, event_name)
        assert not EventPattern.load(json.dumps(pattern)).matches_event(json.loads(json.dumps(own))), (name, event_name)
    # No pattern excludes a name any member admin can create: the guard decides for StackSets.
    for role in (STACKSETS, "stacksets-exec-evil"):
        stacksets = envelope(with_identity(record, identity(ACCOUNT, role, "session")))
        assert routed(stacksets) == routed(ordinary), (role, event_name)


def skip(record: dict[str, Any], org: StaticDirectory | None = None) -> str | None:
    registry.all_remediations()  # the allow-list is the loaded remediations' triggers
    (event,) = normalise(envelope(record))
    config = _config()
    return guards.skip_reason(
        event, parse_cloudtrail(event.detail), config=config, org=org or StaticDirectory(frozenset({ACCOUNT}))
    )


def _config():  # noqa: ANN202 - Config
    from snapback.config import Config

    return Config(
        organization_id="o-abcdefghij",
        management_account="999999999999",
        security_account="888888888888",
        home_region="us-east-1",
        regions=("us-east-1",),
        target_ous=("ou-abcd-12345678",),
    )


S3_CALL = cloudtrail_record(ACCOUNT, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", {"bucketName": "app-data"})
SNAPBACK_ROLE_POLICY = cloudtrail_record(
    ACCOUNT,
    "iam.amazonaws.com",
    "PutRolePolicy",
    {"roleName": "snapback-remediator", "policyName": "snapback-remediations", "policyDocument": "{}"},
)


@pytest.mark.parametrize(
    ("label", "record"),
    [
        ("the genuine remediator session", with_identity(S3_CALL, genuine_snapback(ACCOUNT, "s3_block_public_access"))),
        (
            "the remediator session in aws-cn",
            {
                **with_identity(
                    S3_CALL,
                    identity(ACCOUNT, "snapback-remediator", "snapback-x", partition="aws-cn", source_identity="snapback@x"),
                ),
                "awsRegion": "cn-north-1",
            },
        ),
        (
            "StackSets updating Snapback's role",
            with_identity(SNAPBACK_ROLE_POLICY, identity(ACCOUNT, STACKSETS, "stacksets-session")),
        ),
    ],
)
def test_the_guard_skips_snapback_and_stacksets_deploying_snapback(label, record):
    assert "loop guard" in (skip(record) or ""), label


@pytest.mark.parametrize(
    ("label", "record", "owned"),
    [
        ("Snapback's role", SNAPBACK_ROLE_POLICY, ["role/snapback-remediator"]),
        (
            "Snapback's forwarding rule",
            cloudtrail_record(ACCOUNT, "events.amazonaws.com", "PutRule", {"name": "snapback-forward-cloudtrail"}),
            ["rule/snapback-forward-cloudtrail"],
        ),
        (
            "the StackSet's stack instance",
            cloudtrail_record(
                ACCOUNT, "cloudformation.amazonaws.com", "UpdateStack", {"stackName": "StackSet-snapback-member-0a1b"}
            ),
            ["stack/StackSet-snapback-member-0a1b"],
        ),
        ("a customer role", cloudtrail_record(ACCOUNT, "iam.amazonaws.com", "PutRolePolicy", {"roleName": "app"}), []),
        ("a customer rule", cloudtrail_record(ACCOUNT, "events.amazonaws.com", "PutRule", {"name": "app-rule"}), []),
        ("another service", cloudtrail_record(ACCOUNT, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": "snapback-x"}), []),
        ("a call naming no resource", cloudtrail_record(ACCOUNT, "iam.amazonaws.com", "CreatePolicyVersion", {}), []),
    ],
)
def test_what_counts_as_snapback_s_own_resources(label, record, owned):
    assert guards.snapback_resources_changed(parse_cloudtrail(record)) == owned, label


@pytest.mark.parametrize(
    ("label", "ident", "record"),
    [
        (
            "SourceIdentity snapback@ on an attacker's session",
            identity(ACCOUNT, "dev", "snapback-x", source_identity="snapback@x"),
            S3_CALL,
        ),
        ("look-alike snapback-remediator-x", identity(ACCOUNT, "snapback-remediator-x", "snapback-x"), S3_CALL),
        ("look-alike snapback-remediatorx", identity(ACCOUNT, "snapback-remediatorx", "snapback-x"), S3_CALL),
        ("the real role name in another account", identity(OTHER, "snapback-remediator", "snapback-x"), S3_CALL),
        ("the real role, someone else's session", identity(ACCOUNT, "snapback-remediator", "break-glass"), S3_CALL),
        (
            "the real role, a foreign SourceIdentity",
            identity(ACCOUNT, "snapback-remediator", "snapback-x", source_identity="me"),
            S3_CALL,
        ),
        (
            "the real role name in another partition",
            identity(ACCOUNT, "snapback-remediator", "snapback-x", partition="aws-us-gov"),
            S3_CALL,
        ),
        ("stacksets-exec-evil on a customer bucket", identity(ACCOUNT, "stacksets-exec-evil", "stacksets-session"), S3_CALL),
        ("the StackSets role on a customer bucket", identity(ACCOUNT, STACKSETS, "stacksets-session"), S3_CALL),
        (
            "stacksets-exec-* attaching a policy to a user",
            identity(ACCOUNT, STACKSETS, "stacksets-session"),
            cloudtrail_record(
                ACCOUNT,
                "iam.amazonaws.com",
                "AttachUserPolicy",
                {"userName": "snapback-x", "policyArn": "arn:aws:iam::aws:policy/A"},
            ),
        ),
        (
            "stacksets-exec-* on a role whose name only contains snapback",
            identity(ACCOUNT, STACKSETS, "stacksets-session"),
            cloudtrail_record(ACCOUNT, "iam.amazonaws.com", "PutRolePolicy", {"roleName": "app-snapback-remediator"}),
        ),
        (
            "stacksets-exec-* on Snapback's role and a customer role at once",
            identity(ACCOUNT, STACKSETS, "stacksets-session"),
            {**SNAPBACK_ROLE_POLICY, "resources": [{"ARN": f"arn:aws:iam::{ACCOUNT}:role/app", "accountId": ACCOUNT}]},
        ),
        (
            "an IAM user named like the role",
            {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/snapback-remediator", "accountId": ACCOUNT},
            S3_CALL,
        ),
    ],
)
def test_nothing_a_member_admin_controls_passes_for_snapback(label, ident, record):
    assert skip(with_identity(record, ident)) is None, label


def test_the_run_time_guard_skips_snapback_through_the_runtime(org):
    account = org.members["member-a"]
    org.session(account).client("s3").create_bucket(Bucket="loop-guard-bucket")
    record = cloudtrail_record(account, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", {"bucketName": "loop-guard-bucket"})
    own = with_identity(record, genuine_snapback(account, "s3_block_public_access"))
    (result,) = runtime_for(org, "s3_block_public_access").process(envelope(own), remediations=["s3_block_public_access"])
    assert result.outcome is Outcome.SKIPPED and "loop guard" in result.reason
    # The same call by a StackSets-named role on a customer bucket is acted on.
    spoof = with_identity(record, identity(account, "stacksets-exec-evil", "stacksets-session"))
    (result,) = runtime_for(org, "s3_block_public_access").process(envelope(spoof), remediations=["s3_block_public_access"])
    assert result.outcome is Outcome.REMEDIATED, result.reason


def test_findings_snapback_imports_select_no_remediation(org):
    """Snapback's own ASFF findings come back as 'Security Hub Findings - Imported' events."""
    from snapback_ops.scenarios.s3_public_bucket import public_policy

    account = org.members["member-a"]
    org.session(account).client("s3").create_bucket(Bucket="loop")
    runtime = runtime_for(org, "s3_block_public_access")
    call = cloudtrail_record(
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
    assert not routed(imported)


def test_the_session_snapback_really_opens_is_the_one_the_guard_recognises(org):
    """Bound to the real naming: the ARN STS gives Snapback's own member session passes as Snapback."""
    import boto3

    account = org.members["member-a"]
    runtime = runtime_for(org, "kms_enable_key_rotation")
    creds = runtime.clients.member_credentials(account, "kms_enable_key_rotation")
    arn = boto3.client("sts", region_name="us-east-1", **creds).get_caller_identity()["Arn"]
    role, session = arn.split(":assumed-role/", 1)[1].split("/", 1)
    assert role == org.config.member_role_name
    record = cloudtrail_record(account, "kms.amazonaws.com", "DisableKeyRotation", {"keyId": "k"})
    record["userIdentity"] = identity(account, role, session, source_identity="snapback@kms_enable_key_rotation")
    record["userIdentity"]["arn"] = arn
    (result,) = runtime.process(envelope(record), remediations=["kms_enable_key_rotation"])
    assert result.outcome is Outcome.SKIPPED and "loop guard" in result.reason
