"""Scenario: an attacker's foothold makes a bucket public; an internal bucket changes harmlessly.

Shows the public-policy event remediated, the VPC-endpoint-only policy left alone (SKIPPED), and
Snapback's own call never routed back to it (the loop guard in the pattern).
"""

from __future__ import annotations

import json
from typing import Any

from snapback.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit, has_no_block
from snapback.outcomes import Outcome

ORDER = 10


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


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """An attacker's foothold makes a bucket public in member-a; an internal bucket stays untouched."""
    account = org.members["member-a"]
    member = org.session(account)
    s3 = member.client("s3")
    exposed, internal = f"acme-customer-exports-{account}", f"acme-internal-reports-{account}"
    for bucket in (exposed, internal):
        s3.create_bucket(Bucket=bucket)

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

    results = deliver(org, account, timeline, expect=2)

    block = s3.get_public_access_block(Bucket=exposed)["PublicAccessBlockConfiguration"]
    fixed = all(block.values()) and len(block) == 4
    timeline.add("verify", f"{exposed} public access block read back as member-a: {block}")
    internal_untouched = has_no_block(s3, internal)
    timeline.add("verify", f"{internal}: {'untouched (no block added)' if internal_untouched else 'CHANGED'}")
    outcomes = {r.target.resource_id if r.target else "-": r.outcome.value for r in results}
    return {
        "name": "public_bucket",
        "account": account,
        "outcomes": outcomes,
        "passed": fixed
        and internal_untouched
        and outcomes.get(exposed) == Outcome.REMEDIATED.value
        and outcomes.get(internal) == Outcome.SKIPPED.value
        and len(results) == 2,
        "results": [r.as_dict() for r in results],
    }
