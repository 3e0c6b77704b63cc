"""Page when a bucket policy, bucket ACL or KMS key policy grants access outside the organization; optionally remove the grant.

Trigger: CloudTrail (successful calls only, never Snapback's own) PutBucketPolicy and PutBucketAcl
    on S3; PutKeyPolicy and CreateKey (with a policy) on KMS. IAM Access Analyzer: ACTIVE
    external-access findings on an AWS::S3::Bucket or an AWS::KMS::Key.
    A policy statement reaches outside when it Allows an AWS principal whose account is not a
    member of the organization (`not in_org`, from an account id or an IAM / STS ARN), or `*`
    without a restricting condition (source VPC / endpoint / IP, principal organization, account
    pinned to a member by aws:PrincipalAccount / aws:SourceAccount / kms:CallerAccount...).
    Statements for members, for AWS services, or pinned to the organization never fire. An ACL
    reaches outside when it grants AllUsers / AuthenticatedUsers, an e-mail grantee or a canonical
    user other than the bucket owner (a canonical id cannot be tied to an account of the
    organization, and AWS recommends no ACLs at all).
Action: re-read the policy (GetBucketPolicy, GetBucketAcl / GetKeyPolicy) and page (HIGH) with
    each outside statement and ACL grant in the `before` state. By default nothing changes: the
    module runs as notify whatever the configured mode, and on-call approves the removal
    (`snapback approve`). With the option `enforce: true` (and the mode enforce), the outside
    principals are taken out of those statements (a statement left with none is dropped; a public
    `*` statement is dropped whole) and the policy is put back (DeleteBucketPolicy when no
    statement is left); the policy is read again to verify. ACL grants are never changed (alert
    only: the page says which grant and where).
Undo: put back the policy as it was, only while the policy is still the one Snapback wrote (a
    policy changed since is not overwritten: the undo fails with the policy to restore).
Permissions: s3:GetBucketPolicy, s3:GetBucketAcl, s3:PutBucketPolicy, s3:DeleteBucketPolicy,
    kms:GetKeyPolicy, kms:PutKeyPolicy; the sweep: s3:ListAllMyBuckets, s3:GetBucketLocation,
    kms:ListKeys.
Sweep (every configured Region): the account's buckets in that Region and its KMS keys; each whose
    policy (or ACL) reaches outside the organization is a violation (paged once a day).
Side effects: with enforce, the outside account loses access at once (an encrypted object it
    cannot decrypt any more, a replication it cannot write). A sanctioned partner belongs in an
    exemption (snapback.yaml), never in a tag.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.policies import load_document, public_statements, statements
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.sharing import (
    ACCESS_ANALYZER_FINDING,
    EVERYONE,
    access_analyzer_pattern,
    account_of,
    live_finding_problem,
    parse_access_analyzer,
    strings,
)
from snapback.triggers import Trigger, cloudtrail_pattern

S3_EVENTS = ("PutBucketAcl", "PutBucketPolicy")
KMS_EVENTS = ("CreateKey", "PutKeyPolicy")
PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
# Keys that pin a `*` grant to one account: inside the organization when every value is a member.
ACCOUNT_KEYS = frozenset({"aws:principalaccount", "aws:sourceaccount", "kms:calleraccount"})
NO_POLICY = frozenset({"NoSuchBucketPolicy"})
# Canned ACLs that grant nobody outside the bucket owner (log-delivery-write grants S3's log delivery group).
PRIVATE_CANNED = frozenset({"private", "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write"})


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return strings(principal.get("AWS"))
    return []


def _pinned_accounts(statement: Mapping[str, Any]) -> list[str]:
    condition = statement.get("Condition")
    found: list[str] = []
    for clauses in condition.values() if isinstance(condition, Mapping) else []:
        for key, value in clauses.items() if isinstance(clauses, Mapping) else []:
            if str(key).lower() in ACCOUNT_KEYS:
                found += strings(value)
    return found


class OutsideReader:
    """Which statements of a policy reach outside the organization (needs `in_org`)."""

    def __init__(self, in_org: Any) -> None:
        self.in_org = in_org

    def outside_principals(self, statement: Mapping[str, Any]) -> list[str]:
        if statement.get("Effect") != "Allow":
            return []
        out = []
        for principal in _principals(statement):
            if principal in EVERYONE:
                pinned = _pinned_accounts(statement)
                if pinned:
                    # `*` limited to named accounts: outside exactly when one of them is.
                    out += [a for a in pinned if not self.in_org(a)]
                    continue
                if public_statements({"Statement": [statement]}):
                    out.append("*")
                continue
            account = account_of(principal)
            if account is not None and not self.in_org(account):
                out.append(principal)
        return sorted(set(out))

    def outside_statements(self, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = []
        for index, statement in enumerate(statements(doc)):
            principals = self.outside_principals(statement)
            if principals:
                found.append({"index": index, "sid": statement.get("Sid"), "outside": principals, "statement": dict(statement)})
        return found

    def strip(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The policy without its outside principals (a statement left with none, or public, is dropped)."""
        kept = []
        for statement in statements(doc):
            outside = self.outside_principals(statement)
            if not outside:
                kept.append(dict(statement))
                continue
            if "*" in outside or _principals(statement) == ["*"]:  # a public grant (pinned or not) goes whole
                continue
            principal = dict(statement["Principal"])
            remaining = [p for p in strings(principal.get("AWS")) if p not in outside]
            others = {k: v for k, v in principal.items() if k != "AWS"}
            if not remaining and not others:
                continue
            if remaining:
                others["AWS"] = remaining if len(remaining) > 1 else remaining[0]
            kept.append({**statement, "Principal": others})
        return {**doc, "Statement": kept}


def outside_acl_grants(acl: Mapping[str, Any]) -> list[str]:
    owner = (acl.get("Owner") or {}).get("ID")
    found = []
    for grant in acl.get("Grants", []):
        grantee = grant.get("Grantee", {})
        permission = grant.get("Permission", "?")
        if grantee.get("URI") in PUBLIC_GROUPS:
            found.append(f"{permission} to {grantee['URI'].rsplit('/', 1)[-1]}")
        elif grantee.get("Type") == "CanonicalUser" and grantee.get("ID") and grantee.get("ID") != owner:
            found.append(f"{permission} to canonical user {grantee['ID']} (account not resolvable)")
        elif grantee.get("Type") == "AmazonCustomerByEmail" or grantee.get("EmailAddress"):
            found.append(f"{permission} to {grantee.get('EmailAddress')}")
    return sorted(set(found))


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@register
class S3KmsExternalGrantAlert(Remediation):
    name = "s3_kms_external_grant_alert"
    summary = "Bucket or KMS key policy grants access outside the organization"
    severity = Severity.HIGH
    finding_type = "Effects/Data Exfiltration/Resource policy grants access outside the organization"
    triggers = (
        Trigger(
            id="cloudtrail_s3",
            description="Bucket policy or ACL changed",
            pattern=cloudtrail_pattern("aws.s3", "s3.amazonaws.com", list(S3_EVENTS)),
        ),
        Trigger(
            id="cloudtrail_kms",
            description="KMS key created or its policy changed",
            pattern=cloudtrail_pattern("aws.kms", "kms.amazonaws.com", list(KMS_EVENTS)),
        ),
        Trigger(
            id="access_analyzer",
            description="IAM Access Analyzer: bucket or KMS key shared outside the zone of trust",
            pattern=access_analyzer_pattern(["AWS::KMS::Key", "AWS::S3::Bucket"]),
        ),
    )
    permissions = (
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "s3:DeleteBucketPolicy",
        "s3:GetBucketAcl",
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
    )
    call_budget = 12
    gone_codes = frozenset({"NoSuchBucket", "NotFoundException"})
    defaults = {"enforce": False}
    sweep_scope = "region"
    sweep_permissions = ("kms:ListKeys", "s3:GetBucketLocation", "s3:ListAllMyBuckets")

    # -- targets -------------------------------------------------------------------------------
    @staticmethod
    def _bucket(account: str, region: str, bucket: str, key: str, facts: dict[str, Any]) -> Target:
        return Target(account, region, "AwsS3Bucket", bucket, f"arn:aws:s3:::{bucket}", key, facts=facts)

    @staticmethod
    def _key(account: str, region: str, key_ref: str, key: str, facts: dict[str, Any]) -> Target:
        if key_ref.startswith("arn:"):
            parts = key_ref.split(":", 5)
            if len(parts) != 6 or parts[2] != "kms" or not parts[5].startswith("key/"):
                raise MalformedEvent(f"not a KMS key ARN: {key_ref!r}")
            account, region, key_id = parts[4], parts[3], parts[5][len("key/") :]
        else:
            key_id = key_ref
        return Target(account, region, "AwsKmsKey", key_id, f"arn:aws:kms:{region}:{account}:key/{key_id}", key, facts=facts)

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if event.detail_type == ACCESS_ANALYZER_FINDING:
            return self._resolve_analyzer(event)
        if call is None:
            raise NotApplicable(f"{event.detail_type} is not an event this remediation reads")
        region = call.region or event.region
        key = call.idempotency_key(f"grant#{event.account}#{call.event_name}#{call.event_time}")
        facts = {"summary": f"{call.event_name}", **call.facts()}
        reader = OutsideReader(self.in_org)
        if call.event_source == "s3.amazonaws.com" and call.event_name in S3_EVENTS:
            bucket = call.request.get("bucketName")
            if not isinstance(bucket, str) or not bucket:
                raise NotApplicable(f"{call.event_name} names no bucket (requestParameters.bucketName)")
            target = self._bucket(event.account, region, bucket, key, facts)
            if call.event_name == "PutBucketAcl":
                facts["summary"] = f"PutBucketAcl on bucket {bucket}"
                target = replace(target, principal_arn=call.actor.arn)
                canned = strings(call.request.get("x-amz-acl"))
                others = [k for k in call.request if k.startswith("x-amz-grant-") or k == "AccessControlPolicy"]
                if canned and set(canned) <= PRIVATE_CANNED and not others:
                    raise NotApplicable(f"canned ACL {canned[0]} grants no other account", target)
                return target  # the grantees are read live: canonical ids and groups
            doc = load_document(call.request.get("bucketPolicy"))
        elif call.event_source == "kms.amazonaws.com" and call.event_name in KMS_EVENTS:
            key_ref = call.request.get("keyId") or ((call.response or {}).get("keyMetadata") or {}).get("arn")
            if not isinstance(key_ref, str) or not key_ref:
                raise NotApplicable(f"{call.event_name} names no key")
            target = self._key(event.account, region, key_ref, key, facts)
            policy = call.request.get("policy")
            if policy is None:
                raise NotApplicable("the key was created with the default key policy (the account only)", target)
            doc = load_document(policy)
        else:
            raise NotApplicable(f"{call.event_name} does not change a bucket or key policy")
        target = replace(target, principal_arn=call.actor.arn)
        outside = reader.outside_statements(doc)
        grantees = sorted({p for s in outside for p in s["outside"]})
        facts["summary"] = (
            f"{call.event_name} on {target.resource_type} {target.resource_id}: grants {', '.join(grantees) or 'nobody outside'}"
        )
        facts["outside_statements"] = outside
        if not outside:
            raise NotApplicable("the new policy grants nothing outside the organization", target)
        return target

    def _resolve_analyzer(self, event: Envelope) -> Target:
        finding = parse_access_analyzer(event.detail, event.account, event.region)
        facts = {
            "summary": f"IAM Access Analyzer: {finding.resource} shared with {', '.join(finding.grants()) or 'unknown'}",
            **finding.facts(),
        }
        if finding.resource_type == "AWS::S3::Bucket":
            bucket = finding.resource.split(":::", 1)[-1].split("/", 1)[0]
            target = self._bucket(finding.account, finding.region, bucket, finding.idempotency_key, facts)
        elif finding.resource_type == "AWS::KMS::Key":
            target = self._key(finding.account, finding.region, finding.resource, finding.idempotency_key, facts)
        else:
            raise NotApplicable(f"Access Analyzer finding on a {finding.resource_type}, not a bucket or key")
        problem = live_finding_problem(finding)
        if problem:
            raise NotApplicable(problem, target)
        grants = finding.grants()
        if grants and all(g not in EVERYONE and (a := account_of(g)) is not None and self.in_org(a) for g in grants):
            raise NotApplicable(f"the finding names only accounts of the organization ({', '.join(grants)})", target)
        return target

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        s3 = session.client("s3")
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            where = bucket.get("BucketRegion") or s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
            if where != region:
                continue
            target = self._bucket(
                account,
                region,
                name,
                self.sweep_key(account, region, name),
                {"summary": f"bucket {name} grants access outside the organization"},
            )
            if not self.is_compliant(self.inspect(session, target)):
                yield target
        for page in session.client("kms").get_paginator("list_keys").paginate():
            for key in page.get("Keys", []):
                target = self._key(
                    account,
                    region,
                    key["KeyArn"],
                    self.sweep_key(account, region, key["KeyArn"]),
                    {"summary": f"KMS key {key['KeyId']} grants use outside the organization"},
                )
                try:
                    state = self.inspect(session, target)
                except ClientError as err:
                    if error_code(err) in ("AccessDeniedException", "NotFoundException"):
                        continue  # an AWS managed key's policy, or a key deleted meanwhile
                    raise
                if not self.is_compliant(state):
                    yield target

    # -- mode: alert unless the team opted in -----------------------------------------------------
    def needs_approval(self, session: MemberSession, target: Target) -> str | None:
        # Removing a statement from a resource policy can break a partner integration nobody wrote
        # down: unless the team set `enforce: true`, enforce mode only pages, and a person's approval
        # removes the grant.
        if not self.options.get("enforce"):
            return "grant to an account outside the organization: on-call paged (option enforce is off)"
        return None

    def _read_policy(self, session: MemberSession, target: Target) -> dict[str, Any] | None:
        if target.resource_type == "AwsKmsKey":
            text = session.client("kms").get_key_policy(KeyId=target.resource_arn, PolicyName="default")["Policy"]
            return json.loads(text)
        try:
            return json.loads(session.client("s3").get_bucket_policy(Bucket=target.resource_id)["Policy"])
        except ClientError as err:
            if error_code(err) in NO_POLICY:
                return None
            raise

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        doc = self._read_policy(session, target)
        state: dict[str, Any] = {"policy": doc, "outside_statements": OutsideReader(self.in_org).outside_statements(doc or {})}
        if target.resource_type == "AwsS3Bucket":
            state["outside_acl_grants"] = outside_acl_grants(session.client("s3").get_bucket_acl(Bucket=target.resource_id))
        return state

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return not state.get("outside_statements") and not state.get("outside_acl_grants")

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        actions = [
            f"remove {', '.join(s['outside'])} from statement {s.get('sid') or '#' + str(s['index'])} of {target.resource_id}'s policy"
            for s in state.get("outside_statements") or target.facts.get("outside_statements") or []
        ]
        actions += [
            f"alert only: ACL of {target.resource_id} grants {g} (never changed by Snapback)"
            for g in state.get("outside_acl_grants") or []
        ]
        return actions or [f"re-read {target.resource_id} and remove what it grants outside the organization"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        if state.get("outside_acl_grants") and not state.get("outside_statements"):
            raise PermanentError(
                f"the ACL of {target.resource_id} grants {', '.join(state['outside_acl_grants'])}: ACLs are never changed; "
                f"review with `aws s3api get-bucket-acl --bucket {target.resource_id}`"
            )
        before = state["policy"]
        after = OutsideReader(self.in_org).strip(before)
        self._write(session, target, after)
        return {"policy_before": before, "policy_after": after}

    def _write(self, session: MemberSession, target: Target, doc: Mapping[str, Any] | None) -> None:
        if target.resource_type == "AwsKmsKey":
            session.client("kms").put_key_policy(KeyId=target.resource_arn, PolicyName="default", Policy=json.dumps(doc))
        elif doc is None or not statements(doc):
            session.client("s3").delete_bucket_policy(Bucket=target.resource_id)
        else:
            session.client("s3").put_bucket_policy(Bucket=target.resource_id, Policy=json.dumps(doc))

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        before, written = undo_data.get("policy_before"), undo_data.get("policy_after")
        current = self._read_policy(session, target)
        if _same(current, before):
            return [f"{target.resource_id}'s policy is already the one from before: nothing to restore"]
        if not (_same(current, written) or (current is None and not statements(written or {}))):
            raise PermanentError(
                f"{target.resource_id}'s policy changed after Snapback's fix; not overwritten. Policy before the fix: {json.dumps(before, sort_keys=True)}"
            )
        self._write(session, target, before)
        return [f"{target.resource_id}: policy from before the fix put back"]
