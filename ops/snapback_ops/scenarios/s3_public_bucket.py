"""Scenario: an attacker's foothold makes a bucket public; an internal bucket changes harmlessly.

Shows the public-policy event remediated, the VPC-endpoint-only policy left alone (SKIPPED), and
Snapback's own call never routed back to it (the loop guard in the pattern). Then the detectors
catch up: GuardDuty reports a second bucket whose block the attacker deleted (remediated from the
finding alone), and AWS Config reports the first bucket NON_COMPLIANT after it was already fixed
(ALREADY_COMPLIANT: events are triggers, the bucket's real state decides).
"""

from __future__ import annotations

import json
from typing import Any

from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit, emit_event, has_no_block

ORDER = 10
FULL_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def public_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


def endpoint_only_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ViaEndpointOnly",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0a1b2c3d4e5f67890"}},
            }
        ],
    }


def guardduty_block_disabled(account: str, bucket: str, when: str) -> dict[str, Any]:
    """A GuardDuty finding as EventBridge delivers it (detail), for a bucket whose block was deleted."""
    finding_id = f"5e1f{account[-4:]}c0de7a1b2c3d4e5f60718293"
    detector = "d6b0a1c2e3f4a5b6c7d8e9f0a1b2c3d4"
    off = {"ignorePublicAcls": False, "restrictPublicBuckets": False, "blockPublicAcls": False, "blockPublicPolicy": False}
    return {
        "schemaVersion": "2.0",
        "accountId": account,
        "region": "us-east-1",
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:us-east-1:{account}:detector/{detector}/finding/{finding_id}",
        "type": "Policy:S3/BucketBlockPublicAccessDisabled",
        "resource": {
            "resourceType": "S3Bucket",
            "accessKeyDetails": {
                "accessKeyId": "ASIAEXAMPLEDEMOKEY01",
                "principalId": "AROAEXAMPLE:developer",
                "userName": "developer",
            },
            "s3BucketDetails": [
                {
                    "arn": f"arn:aws:s3:::{bucket}",
                    "name": bucket,
                    "type": "Destination",
                    "publicAccess": {
                        "permissionConfiguration": {"bucketLevelPermissions": {"blockPublicAccess": off}},
                        "effectivePermission": "NOT_PUBLIC",
                    },
                }
            ],
        },
        "service": {
            "serviceName": "guardduty",
            "detectorId": detector,
            "action": {
                "actionType": "AWS_API_CALL",
                "awsApiCallAction": {"api": "DeleteBucketPublicAccessBlock", "serviceName": "s3.amazonaws.com"},
            },
            "resourceRole": "TARGET",
            "eventFirstSeen": when,
            "eventLastSeen": when,
            "archived": False,
            "count": 1,
        },
        "severity": 2,
        "createdAt": when,
        "updatedAt": when,
        "title": f"Amazon S3 Block Public Access was disabled for S3 bucket {bucket}.",
    }


def config_non_compliant(account: str, bucket: str, rule: str, when: str) -> dict[str, Any]:
    """An AWS Config compliance change as EventBridge delivers it (detail)."""
    qualifier = {"configRuleName": rule, "resourceType": "AWS::S3::Bucket", "resourceId": bucket}
    return {
        "resourceId": bucket,
        "awsRegion": "us-east-1",
        "awsAccountId": account,
        "configRuleName": rule,
        "recordVersion": "1.0",
        "configRuleARN": f"arn:aws:config:us-east-1:{account}:config-rule/aws-service-rule/securityhub.amazonaws.com/config-rule-q1w2e3",
        "messageType": "ComplianceChangeNotification",
        "newEvaluationResult": {
            "evaluationResultIdentifier": {"evaluationResultQualifier": qualifier, "orderingTimestamp": when},
            "complianceType": "NON_COMPLIANT",
            "resultRecordedTime": when,
            "configRuleInvokedTime": when,
        },
        "notificationCreationTime": when,
        "resourceType": "AWS::S3::Bucket",
    }


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """An attacker's foothold makes buckets public in member-a; CloudTrail, GuardDuty and Config all report it."""
    from datetime import UTC, datetime

    account = org.members["member-a"]
    member = org.session(account)
    s3 = member.client("s3")
    exposed, internal = f"acme-customer-exports-{account}", f"acme-internal-reports-{account}"
    dropbox = f"acme-partner-drop-{account}"
    for bucket in (exposed, internal, dropbox):
        s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(Bucket=dropbox, PublicAccessBlockConfiguration=FULL_BLOCK)

    s3.put_bucket_policy(Bucket=exposed, Policy=json.dumps(public_policy(exposed)))
    timeline.add("attack", f"member-a ({account}): bucket {exposed} policy now allows s3:GetObject to everyone")
    emit(
        member,
        cloudtrail_record(
            account,
            "s3.amazonaws.com",
            "PutBucketPolicy",
            {
                "bucketName": exposed,
                "bucketPolicy": public_policy(exposed),
                "host": [f"{exposed}.s3.amazonaws.com"],
                "policy": [""],
            },
        ),
    )
    timeline.add("event", "CloudTrail PutBucketPolicy (public) -> member default bus")

    s3.put_bucket_policy(Bucket=internal, Policy=json.dumps(endpoint_only_policy(internal)))
    timeline.add("change", f"member-a: bucket {internal} policy allows reads only through a VPC endpoint")
    emit(
        member,
        cloudtrail_record(
            account,
            "s3.amazonaws.com",
            "PutBucketPolicy",
            {"bucketName": internal, "bucketPolicy": endpoint_only_policy(internal)},
        ),
    )
    timeline.add("event", "CloudTrail PutBucketPolicy (VPC-endpoint only) -> member default bus")

    emit(
        member,
        cloudtrail_record(
            account, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", {"bucketName": exposed}, actor="snapback-remediator"
        ),
    )
    timeline.add("event", "CloudTrail DeleteBucketPublicAccessBlock by snapback-remediator (a loop) -> member default bus")

    results = deliver(org, account, timeline, expect=2, only="s3_block_public_access")

    block = s3.get_public_access_block(Bucket=exposed)["PublicAccessBlockConfiguration"]
    fixed = all(block.values()) and len(block) == 4
    timeline.add("verify", f"{exposed} public access block read back as member-a: {block}")
    internal_untouched = has_no_block(s3, internal)
    timeline.add("verify", f"{internal}: {'untouched (no block added)' if internal_untouched else 'CHANGED'}")
    outcomes = {r.target.resource_id if r.target else "-": r.outcome.value for r in results}

    # The detectors catch up: GuardDuty on a bucket CloudTrail never showed us, Config on a fixed one.
    s3.delete_public_access_block(Bucket=dropbox)
    timeline.add("attack", f"member-a: block public access deleted on {dropbox} (its CloudTrail event never arrives)")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    emit_event(member, "aws.guardduty", "GuardDuty Finding", guardduty_block_disabled(account, dropbox, now))
    timeline.add("event", "GuardDuty Policy:S3/BucketBlockPublicAccessDisabled -> member default bus")
    rule = "securityhub-s3-bucket-public-read-prohibited-7c2b1a9e"
    emit_event(member, "aws.config", "Config Rules Compliance Change", config_non_compliant(account, exposed, rule, now))
    timeline.add("event", f"AWS Config {rule}: {exposed} NON_COMPLIANT (evaluated before the fix) -> member default bus")

    detected = deliver(org, account, timeline, expect=2, only="s3_block_public_access")
    by_detector = {
        ("guardduty" if r.target.facts.get("finding_type") else "config") + f":{r.target.resource_id}": r.outcome.value
        for r in detected
        if r.target
    }
    dropbox_block = s3.get_public_access_block(Bucket=dropbox)["PublicAccessBlockConfiguration"]
    timeline.add("verify", f"{dropbox} public access block read back as member-a: {dropbox_block}")
    return {
        "name": "public_bucket",
        "account": account,
        "outcomes": outcomes,
        "detector_outcomes": by_detector,
        "passed": fixed
        and internal_untouched
        and outcomes.get(exposed) == Outcome.REMEDIATED.value
        and outcomes.get(internal) == Outcome.SKIPPED.value
        and len(results) == 2
        and dropbox_block == FULL_BLOCK
        and by_detector
        == {f"guardduty:{dropbox}": Outcome.REMEDIATED.value, f"config:{exposed}": Outcome.ALREADY_COMPLIANT.value},
        "results": [r.as_dict() for r in results + detected],
    }
