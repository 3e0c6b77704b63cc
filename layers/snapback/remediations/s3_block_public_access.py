"""Block public access on an S3 bucket that was just made public.

Trigger: CloudTrail (successful calls only, never Snapback's own): PutBucketPolicy whose policy
    grants access to everyone (an Allow to `*` not pinned by a VPC, VPC endpoint, IP, account or
    organization condition); PutBucketAcl granting AllUsers or AuthenticatedUsers (grants or a
    public canned ACL); DeleteBucketPublicAccessBlock; PutBucketPublicAccessBlock turning any of
    the four settings off.
Action: re-read the bucket's public access block; if any of the four settings is off, turn all
    four on (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets), then
    read it again to verify. Existing policies and ACLs are left in place: the block neutralises
    them, and keeping them preserves evidence.
Undo: put back the previous block exactly, or delete it if the bucket had none.
Permissions: s3:GetBucketPublicAccessBlock, s3:PutBucketPublicAccessBlock (the IAM actions behind
    Get/Put/DeletePublicAccessBlock on a bucket).
Side effects: public readers of the bucket lose access at once; intentionally public buckets
    belong in an exemption (snapback.yaml), never in a tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import NotApplicable
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.policies import load_document, public_statements
from snapback.registry import register
from snapback.remediation import Remediation, Trigger, cloudtrail_pattern

FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
PUBLIC_CANNED = frozenset({"public-read", "public-read-write", "authenticated-read"})
GRANT_HEADERS = (
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def public_acl_grants(request: Mapping[str, Any]) -> list[str]:
    """What a PutBucketAcl request grants to everyone: canned ACL, grant headers, or ACL body."""
    found = []
    canned = _first(request.get("x-amz-acl"))
    if isinstance(canned, str) and canned in PUBLIC_CANNED:
        found.append(f"canned ACL {canned}")
    for header in GRANT_HEADERS:
        value = str(_first(request.get(header)) or "")
        if any(group in value for group in PUBLIC_GROUPS):
            found.append(f"{header} to {value}")
    policy = request.get("AccessControlPolicy")
    acl = policy.get("AccessControlList", {}) if isinstance(policy, Mapping) else {}
    grants = acl.get("Grant", []) if isinstance(acl, Mapping) else []
    for grant in grants if isinstance(grants, list) else [grants]:
        grantee = grant.get("Grantee", {}) if isinstance(grant, Mapping) else {}
        uri = grantee.get("URI") if isinstance(grantee, Mapping) else None
        if uri in PUBLIC_GROUPS:
            found.append(f"{grant.get('Permission', '?')} to {uri.rsplit('/', 1)[-1]}")
    return found


@register
class S3BlockPublicAccess(Remediation):
    name = "s3_block_public_access"
    summary = "S3 bucket made public"
    severity = Severity.HIGH
    finding_type = "Effects/Data Exposure/S3 bucket made public"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Bucket policy, ACL or public access block changed",
            pattern=cloudtrail_pattern(
                "aws.s3",
                "s3.amazonaws.com",
                ["PutBucketPolicy", "PutBucketAcl", "DeleteBucketPublicAccessBlock", "PutBucketPublicAccessBlock"],
            ),
        ),
    )
    permissions = ("s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock")
    gone_codes = frozenset({"NoSuchBucket"})

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        bucket = call.request.get("bucketName")
        if not isinstance(bucket, str) or not bucket:
            raise NotApplicable(f"{call.event_name} names no bucket (requestParameters.bucketName missing)")
        target = Target(
            account=event.account,
            region=call.region or event.region,
            resource_type="AwsS3Bucket",
            resource_id=bucket,
            resource_arn=f"arn:aws:s3:::{bucket}",
            idempotency_key=f"ct#{call.event_id}" if call.event_id else f"s3#{event.account}#{bucket}#{call.event_time}",
            principal_arn=call.actor.arn,
            facts={
                "summary": f"{call.event_name} on bucket {bucket}",
                "event_name": call.event_name,
                "event_id": call.event_id,
                "event_time": call.event_time,
                "actor": call.actor.display,
                "source_ip": call.source_ip,
                "user_agent": call.user_agent,
            },
        )
        try:
            why = self._why_public(call)
        except NotApplicable as err:
            raise NotApplicable(str(err), target) from None
        target.facts["summary"] += f": {why}"
        return target

    def _why_public(self, call: CloudTrailCall) -> str:
        request = call.request
        if call.event_name == "PutBucketPolicy":
            grants = public_statements(load_document(request.get("bucketPolicy")))
            if not grants:
                raise NotApplicable("the new bucket policy grants nothing to the public")
            actions = sorted(
                {str(a) for s in grants for a in (s.get("Action") if isinstance(s.get("Action"), list) else [s.get("Action")])}
            )
            return f"policy allows {', '.join(actions)} to everyone"
        if call.event_name == "PutBucketAcl":
            grants = public_acl_grants(request)
            if not grants:
                raise NotApplicable("the new ACL grants nothing to AllUsers or AuthenticatedUsers")
            return "ACL grants " + "; ".join(grants)
        if call.event_name == "PutBucketPublicAccessBlock":
            config = request.get("PublicAccessBlockConfiguration")
            off = [f for f in FLAGS if isinstance(config, Mapping) and config.get(f) is False]
            if isinstance(config, Mapping) and not off:
                raise NotApplicable("the new public access block keeps every setting on")
            return f"public access block weakened ({', '.join(off) or 'settings unreadable'} off)"
        if call.event_name == "DeleteBucketPublicAccessBlock":
            return "public access block deleted"
        raise NotApplicable(f"{call.event_name} does not expose a bucket")

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        try:
            config = session.client("s3").get_public_access_block(Bucket=target.resource_id)["PublicAccessBlockConfiguration"]
        except ClientError as err:
            if error_code(err) != "NoSuchPublicAccessBlockConfiguration":
                raise
            return {"public_access_block": None}
        return {"public_access_block": {flag: bool(config.get(flag)) for flag in FLAGS}}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        block = state.get("public_access_block")
        return bool(block) and all(block.get(flag) for flag in FLAGS)

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        block = state.get("public_access_block") or {}
        off = [flag for flag in FLAGS if not block.get(flag)]
        return [f"s3:PutPublicAccessBlock on {target.resource_id}: turn on {', '.join(off)}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        session.client("s3").put_public_access_block(
            Bucket=target.resource_id, PublicAccessBlockConfiguration={flag: True for flag in FLAGS}
        )
        return {"previous_block": state.get("public_access_block")}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        s3 = session.client("s3")
        previous = undo_data.get("previous_block")
        if previous is None:
            s3.delete_public_access_block(Bucket=target.resource_id)
            return [f"s3:DeletePublicAccessBlock on {target.resource_id} (it had none)"]
        s3.put_public_access_block(Bucket=target.resource_id, PublicAccessBlockConfiguration=dict(previous))
        return [f"s3:PutPublicAccessBlock on {target.resource_id}: restored {previous}"]
