"""s3_kms_external_grant_alert under moto: bucket and key policies in a member account, paged or stripped, asserted."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest

from snapback import registry
from snapback.errors import PermanentError
from snapback.outcomes import Outcome
from snapback.remediations.s3_kms_external_grant_alert import OutsideReader
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases
from tests.remediations.sharing_helpers import OUTSIDE, analyzer_event, names, routed

NAME = "s3_kms_external_grant_alert"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
BUCKET_OUTSIDE = BY_NAME["bucket policy grants an outside account, enforce on: that principal removed"]
KEY_OUTSIDE = BY_NAME["key policy grants an outside account, enforce on: statement dropped, root stays"]


def runtime(org: Any, options: dict[str, Any] | None = None) -> Any:
    rt = runtime_for(org, NAME)
    if options:
        rt.config = dataclasses.replace(rt.config, options={NAME: options})
    return rt


def make(org: Any, case: dict[str, Any]) -> tuple[Any, str, str]:
    """The case's bucket or key in member-a, its policy and ACL applied; (client, account, name or key id)."""
    account = org.members["member-a"]
    session = org.session(account)
    if case["resource"] == "bucket":
        s3, bucket = session.client("s3"), f"acme-exports-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        if case.get("policy"):
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(fill(case["policy"], **names(org, account, bucket=bucket))))
        if case.get("acl"):
            s3.put_bucket_acl(Bucket=bucket, ACL=case["acl"])
        return s3, account, bucket
    kms = session.client("kms")
    policy = fill(case["policy"], **names(org, account)) if case.get("policy") else None
    key = kms.create_key(**({"Policy": json.dumps(policy)} if policy else {}))["KeyMetadata"]["KeyId"]
    return kms, account, key


def policy_of(client: Any, case: dict[str, Any], name: str) -> dict[str, Any] | None:
    if case["resource"] == "bucket":
        try:
            return json.loads(client.get_bucket_policy(Bucket=name)["Policy"])
        except client.exceptions.ClientError:
            return None
    return json.loads(client.get_key_policy(KeyId=name, PolicyName="default")["Policy"])


def case_event(org: Any, case: dict[str, Any], account: str, name: str) -> dict[str, Any]:
    named = names(org, account, bucket=name, key=name)
    if case.get("kind") == "analyzer":
        finding = fill(case["finding"], **named)
        arn = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::KMS::Key": f"arn:aws:kms:us-east-1:{account}:key/{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/partner-access",
        }[finding["resourceType"]]
        return analyzer_event(finding, account, arn)
    policy = fill(case["policy"], **named) if case.get("policy") else None
    response = None
    if case["event"] == "PutBucketPolicy":
        source = "s3.amazonaws.com"
        request = {"bucketName": name, "bucketPolicy": policy, "host": [f"{name}.s3.amazonaws.com"], "policy": [""]}
    elif case["event"] == "PutBucketAcl":
        source = "s3.amazonaws.com"
        request = {"bucketName": name, "x-amz-acl": [case["acl"]], "acl": [""], "host": [f"{name}.s3.amazonaws.com"]}
    elif case["event"] == "PutKeyPolicy":
        source = "kms.amazonaws.com"
        request = {"keyId": name, "policyName": "default", "policy": json.dumps(policy), "bypassPolicyLockoutSafetyCheck": False}
    else:
        source = "kms.amazonaws.com"
        request = {
            "keySpec": "SYMMETRIC_DEFAULT",
            "keyUsage": "ENCRYPT_DECRYPT",
            "origin": "AWS_KMS",
            "bypassPolicyLockoutSafetyCheck": False,
        }
        if policy:
            request["policy"] = json.dumps(policy)
        arn = f"arn:aws:kms:us-east-1:{account}:key/{name}"
        response = {"keyMetadata": {"aWSAccountId": account, "keyId": name, "arn": arn, "keyState": "Enabled"}}
    record = cloudtrail_record(
        account,
        source,
        case["event"],
        request,
        actor=case.get("actor", "developer"),
        response=response,
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


def outside_count(org: Any, doc: dict[str, Any] | None) -> int:
    members = set(org.members.values()) | {org.management, org.security}
    return len(OutsideReader(lambda a: a in members).outside_statements(doc or {}))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    client, account, name = make(org, case)
    before = policy_of(client, case, name)
    event = case_event(org, case, account, name)
    assert routed(NAME, event) == case["routed"]

    (result,) = runtime(org, case.get("options")).process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    after = policy_of(client, case, name)
    assert outside_count(org, after) == case["outside_after"]
    if case["expect"] != "REMEDIATED":
        assert after == before  # paging changes nothing
    if case["expect"] == "NOTIFIED":
        assert result.before["outside_statements"] or result.before["outside_acl_grants"]  # the page carries the grant
        assert result.actions and result.notification_id


def test_enforce_keeps_the_org_principal_and_every_other_statement(org):
    s3, account, bucket = make(org, BUCKET_OUTSIDE)
    (result,) = runtime(org, {"enforce": True}).process(case_event(org, BUCKET_OUTSIDE, account, bucket), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    (statement,) = policy_of(s3, BUCKET_OUTSIDE, bucket)["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{org.members['member-b']}:root"}


def test_key_enforce_drops_only_the_outside_statement_and_undo_puts_it_back(org):
    from snapback.operations import undo

    kms, account, key = make(org, KEY_OUTSIDE)
    before = policy_of(kms, KEY_OUTSIDE, key)
    rt = runtime(org, {"enforce": True})
    (result,) = rt.process(case_event(org, KEY_OUTSIDE, account, key), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    assert [s["Sid"] for s in policy_of(kms, KEY_OUTSIDE, key)["Statement"]] == ["Root"]
    assert undo(rt, result.audit_id)["outcome"] == "UNDONE"
    assert policy_of(kms, KEY_OUTSIDE, key) == before


def test_undo_never_overwrites_a_policy_changed_since(org):
    s3, account, bucket = make(org, BUCKET_OUTSIDE)
    rt = runtime(org, {"enforce": True})
    (result,) = rt.process(case_event(org, BUCKET_OUTSIDE, account, bucket), remediations=[NAME])
    newer = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "New",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(newer))
    session = rt.clients.member(account, "us-east-1", NAME)
    with pytest.raises(PermanentError, match="changed after"):
        registry.get(NAME)().undo(session, result.target, result.undo)
    assert policy_of(s3, BUCKET_OUTSIDE, bucket) == newer


def test_a_public_only_bucket_policy_is_deleted_under_enforce_and_restored_by_undo(org):
    from snapback.operations import undo

    case = dict(BY_NAME["bucket policy public to everyone"], options={"enforce": True})
    s3, account, bucket = make(org, case)
    before = policy_of(s3, case, bucket)
    rt = runtime(org, {"enforce": True})
    (result,) = rt.process(case_event(org, case, account, bucket), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and policy_of(s3, case, bucket) is None
    assert undo(rt, result.audit_id)["outcome"] == "UNDONE" and policy_of(s3, case, bucket) == before


def test_human_approval_removes_the_grant_the_page_reported(org):
    from snapback.operations import approve

    case = BY_NAME["bucket policy grants an outside account: paged, nothing changed"]
    s3, account, bucket = make(org, case)
    rt = runtime(org)
    (paged,) = rt.process(case_event(org, case, account, bucket), remediations=[NAME])
    assert paged.outcome is Outcome.NOTIFIED
    approved = approve(rt, paged.audit_id, "alice@example.com")
    assert approved.outcome is Outcome.REMEDIATED and policy_of(s3, case, bucket) is None


def test_sweep_finds_the_bucket_and_the_key_granting_outside(org):
    s3, account, bucket = make(org, BY_NAME["bucket policy grants an outside account: paged, nothing changed"])
    make(org, BY_NAME["bucket policy grants an account of the organization"])
    kms, _, key = make(org, BY_NAME["key policy grants an outside account: paged"])
    make(org, BY_NAME["key policy * pinned to the account (kms:CallerAccount)"])
    rt = runtime(org)
    remediation = registry.get(NAME)()
    remediation.configure(rt)
    session = rt.clients.member(account, "us-east-1", NAME)
    found = {t.resource_id for t in remediation.sweep(session, account, "us-east-1", regions=["us-east-1"])}
    assert found == {bucket, key}


def test_outside_reader_judges_principal_forms():
    members = {"111111111111"}
    reader = OutsideReader(lambda a: a in members)
    allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    assert reader.outside_principals({**allow, "Principal": {"AWS": "arn:aws:sts::999988887777:assumed-role/x/y"}}) == [
        "arn:aws:sts::999988887777:assumed-role/x/y"
    ]
    assert reader.outside_principals({**allow, "Principal": {"AWS": "111111111111"}}) == []
    assert reader.outside_principals({**allow, "Effect": "Deny", "Principal": {"AWS": OUTSIDE}}) == []
    pinned_out = {**allow, "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": OUTSIDE}}}
    assert reader.outside_principals(pinned_out) == [OUTSIDE]  # `*` pinned to an outside account still reaches it
    pinned_in = {**allow, "Principal": "*", "Condition": {"StringEquals": {"kms:CallerAccount": "111111111111"}}}
    assert reader.outside_principals(pinned_in) == []
    ip_only = {**allow, "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}
    assert reader.outside_principals(ip_only) == ["*"]


def test_declared_permissions_cover_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    rt = runtime(org, {"enforce": True})
    for case in (BUCKET_OUTSIDE, KEY_OUTSIDE, BY_NAME["bucket policy public to everyone"]):
        client, account, name = make(org, case)
        for service in ("s3", "kms"):
            member = rt.clients.member(account, "us-east-1", NAME).client(service)
            member.meta.events.register(
                f"before-call.{service}.*", lambda model, _s=service, **_: calls.add(f"{_s}:{model.name}")
            )
        (result,) = rt.process(case_event(org, case, account, name), remediations=[NAME])
        undo(rt, result.audit_id)
    assert calls == set(registry.get(NAME).permissions)
