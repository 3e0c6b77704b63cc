"""Block public access on an S3 bucket that was just made public.

Trigger: CloudTrail (successful calls only, never Snapback's own): PutBucketPolicy whose policy
    grants access to everyone (an Allow to `*` not pinned by a VPC, VPC endpoint, IP, account or
    organization condition); PutBucketAcl granting AllUsers or AuthenticatedUsers (grants or a
    public canned ACL); DeleteBucketPublicAccessBlock; PutBucketPublicAccessBlock turning any of
    the four settings off (a setting the request leaves out is off: the put replaces the block).
    AWS Config: a NON_COMPLIANT compliance change of `s3-bucket-public-read-prohibited`,
    `s3-bucket-public-write-prohibited` or `s3-bucket-level-public-access-prohibited`, matched
    anywhere in the rule name, because Security Hub, conformance packs and organization rules
    deploy them with a prefix or suffix (`securityhub-...-a1b2c3`, `...-conformance-pack-x`).
    GuardDuty: Policy:S3/BucketBlockPublicAccessDisabled, Policy:S3/BucketAnonymousAccessGranted,
    Policy:S3/BucketPublicAccessGranted (the bucket named in resource.s3BucketDetails; sample
    findings never act). Security Hub: FAILED controls S3.2, S3.3 and S3.8 from AWS's own products.
Action: re-read the bucket's public access block; if any of the four settings is off, turn all
    four on (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets), then
    read it again to verify. Existing policies and ACLs are left in place: the block neutralises
    them, and keeping them preserves evidence.
Undo: put back the previous block exactly, or delete it if the bucket had none.
Permissions: s3:GetBucketPublicAccessBlock, s3:PutBucketPublicAccessBlock (the IAM actions behind
    Get/Put/DeletePublicAccessBlock on a bucket); the sweep: s3:GetAccountPublicAccessBlock,
    s3:ListAllMyBuckets, s3:GetBucketLocation.
Sweep (once per account: the bucket list is global): first the account-level block (s3control
    GetPublicAccessBlock): when all four settings are on there, no bucket can be public, so the
    buckets are not walked (option `sweep_buckets_under_account_block: true` walks them anyway;
    the account block itself is s3_account_block_public_access's invariant). Otherwise every bucket
    of the account whose Region is a configured one (ListBuckets, GetBucketLocation) is inspected
    like an event's bucket; one whose block is missing or has a setting off is a violation.
Side effects: public readers of the bucket lose access at once; intentionally public buckets
    belong in an exemption (snapback.yaml), never in a tag.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import MalformedEvent, NotApplicable
from snapback.events import CONFIG_COMPLIANCE, GUARDDUTY_FINDING, CloudTrailCall, Envelope, is_account_id, parse_config_compliance
from snapback.findings import AsffFinding, parse_guardduty, stale_finding, updated_at
from snapback.outcomes import Severity, Target
from snapback.policies import load_document, public_statements
from snapback.registry import register
from snapback.s3_blocks import PublicAccessBlockRemediation, complete, flags_turned_off, read_block
from snapback.triggers import Trigger, cloudtrail_pattern, config_compliance_pattern, guardduty_pattern

PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
PUBLIC_CANNED = frozenset({"public-read", "public-read-write", "authenticated-read"})
GRANT_HEADERS = (
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)
CONFIG_RULES = (
    "s3-bucket-public-read-prohibited",
    "s3-bucket-public-write-prohibited",
    "s3-bucket-level-public-access-prohibited",
)
GUARDDUTY_TYPES = (
    "Policy:S3/BucketBlockPublicAccessDisabled",
    "Policy:S3/BucketAnonymousAccessGranted",
    "Policy:S3/BucketPublicAccessGranted",
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
class S3BlockPublicAccess(PublicAccessBlockRemediation):
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
        Trigger(
            id="config",
            description="AWS Config found a bucket publicly readable or writable",
            pattern=config_compliance_pattern(list(CONFIG_RULES), ["AWS::S3::Bucket"]),
        ),
        Trigger(
            id="guardduty",
            description="GuardDuty: bucket block public access disabled or public access granted",
            pattern=guardduty_pattern(list(GUARDDUTY_TYPES)),
        ),
    )
    controls = ("S3.2", "S3.3", "S3.8")
    state_key = "public_access_block"
    service = "s3"
    permissions = ("s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock")
    call_budget = 13
    gone_codes = frozenset({"NoSuchBucket"})
    sweep_scope = "account"
    sweep_permissions = ("s3:GetAccountPublicAccessBlock", "s3:GetBucketLocation", "s3:ListAllMyBuckets")
    defaults = {"sweep_buckets_under_account_block": False}

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is not None:
            return self._resolve_call(event, call)
        if event.detail_type == CONFIG_COMPLIANCE:
            return self._resolve_config(event)
        if event.detail_type == GUARDDUTY_FINDING:
            return self._resolve_guardduty(event)
        raise NotApplicable(f"{event.detail_type} is not an event this remediation reads")

    def _target(
        self, account: str, region: str, bucket: str, key: str, facts: dict[str, Any], actor: str | None = None
    ) -> Target:
        return Target(
            account=account,
            region=region,
            resource_type="AwsS3Bucket",
            resource_id=bucket,
            resource_arn=f"arn:aws:s3:::{bucket}",
            idempotency_key=key,
            principal_arn=actor,
            facts=facts,
        )

    def _resolve_call(self, event: Envelope, call: CloudTrailCall) -> Target:
        bucket = call.request.get("bucketName")
        if not isinstance(bucket, str) or not bucket:
            raise NotApplicable(f"{call.event_name} names no bucket (requestParameters.bucketName missing)")
        target = self._target(
            event.account,
            call.region or event.region,
            bucket,
            call.idempotency_key(f"s3#{event.account}#{bucket}#{call.event_time}"),
            {
                "summary": f"{call.event_name} on bucket {bucket}",
                **call.facts(),
            },
            actor=call.actor.arn,
        )
        try:
            why = self._why_public(call)
        except NotApplicable as err:
            raise NotApplicable(str(err), target) from None
        target.facts["summary"] += f": {why}"
        return target

    def _resolve_config(self, event: Envelope) -> Target:
        change = parse_config_compliance(event.detail)
        target = self._target(
            change.account or event.account,
            change.region or event.region,
            change.resource_id,
            change.idempotency_key,
            {
                "summary": f"AWS Config rule {change.rule_name}: bucket {change.resource_id} is {change.compliance or 'unknown'}",
                "config_rule": change.rule_name,
                "compliance": change.compliance,
                "recorded_at": change.recorded_at,
            },
        )
        if not any(rule in change.rule_name for rule in CONFIG_RULES):
            raise NotApplicable(f"Config rule {change.rule_name} is not one this remediation answers", target)
        if change.compliance != "NON_COMPLIANT":
            raise NotApplicable(f"Config reports {change.compliance or 'no compliance type'}, not NON_COMPLIANT", target)
        if change.resource_type and change.resource_type != "AWS::S3::Bucket":
            raise NotApplicable(f"Config evaluated a {change.resource_type}, not a bucket", target)
        return target

    def _resolve_guardduty(self, event: Envelope) -> Target:
        finding = parse_guardduty(event.detail)
        if not finding.bucket_names:
            raise NotApplicable(f"GuardDuty {finding.type} names no bucket (resource.s3BucketDetails empty)")
        bucket = finding.bucket_names[0]
        target = self._target(
            finding.account,
            finding.region or event.region,
            bucket,
            f"{finding.idempotency_key}#{updated_at(event.detail)}",
            {
                "summary": f"GuardDuty {finding.type} on bucket {bucket}: {finding.title}",
                "finding_type": finding.type,
                "finding_id": finding.id,
                "severity": finding.severity,
                "actor": finding.user_name or finding.principal_id,
            },
        )
        if finding.type not in GUARDDUTY_TYPES:
            raise NotApplicable(f"GuardDuty {finding.type} is not a bucket exposure finding", target)
        return target

    def resolve_finding(self, event: Envelope, finding: AsffFinding) -> Target:
        bucket_arns = [r.id for r in finding.resources if r.type == "AwsS3Bucket" and r.id.startswith("arn:")]
        if not bucket_arns:
            raise NotApplicable(f"Security Hub {finding.control_id or finding.title} names no AwsS3Bucket resource")
        bucket = bucket_arns[0].split(":", 5)[-1].split("/", 1)[0]
        region = next((r.region for r in finding.resources if r.region), None) or finding.region or event.region
        if not bucket or not is_account_id(finding.account):
            raise MalformedEvent(f"Security Hub finding {finding.id} names no usable bucket or account")
        target = self._target(
            finding.account,
            region,
            bucket,
            f"{finding.idempotency_key}#{updated_at(event.detail)}",
            {
                "summary": f"Security Hub control {finding.control_id} FAILED for bucket {bucket}: {finding.title}",
                "control": finding.control_id,
                "finding_id": finding.id,
            },
        )
        if finding.control_id not in self.controls:
            raise NotApplicable(f"control {finding.control_id} is not one this remediation fixes", target)
        stale = stale_finding(event, finding)
        if stale:
            raise NotApplicable(stale, target)
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
            off = flags_turned_off(request.get("PublicAccessBlockConfiguration"))
            if off == []:
                raise NotApplicable("the new public access block keeps every setting on")
            return f"public access block weakened ({', '.join(off or ['settings unreadable'])} off)"
        if call.event_name == "DeleteBucketPublicAccessBlock":
            return "public access block deleted"
        raise NotApplicable(f"{call.event_name} does not expose a bucket")

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        if not self.options.get("sweep_buckets_under_account_block") and complete(
            read_block(session.client("s3control"), AccountId=account)
        ):
            return  # the account-level block overrides every bucket's own settings
        s3 = session.client("s3", region)
        for bucket in s3.list_buckets().get("Buckets", []):
            name = str(bucket["Name"])
            try:
                where = bucket.get("BucketRegion") or s3.get_bucket_location(Bucket=name, ExpectedBucketOwner=account).get(
                    "LocationConstraint"
                )
            except ClientError as err:
                if error_code(err) in self.gone_codes:
                    continue  # deleted between the listing and now
                raise
            home = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(where, where)
            if home not in regions:
                continue
            target = self._target(
                account,
                home,
                name,
                self.sweep_key(account, home, name),
                {"summary": f"bucket {name} has no complete public access block"},
            )
            if not self.is_compliant(self.inspect(session, target)):
                yield target

    def where(self, target: Target) -> dict[str, str]:
        # ExpectedBucketOwner: S3 refuses (403) a bucket another account owns, so an event that names
        # a bucket of another account can never change it through this account's session.
        return {"Bucket": target.resource_id, "ExpectedBucketOwner": target.account}

    def label(self, target: Target) -> str:
        return target.resource_id
