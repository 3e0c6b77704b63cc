"""A bucket of another account is never changed: every S3 bucket call Snapback makes carries
`ExpectedBucketOwner` = the target's account, so that S3 itself refuses a bucket another account
owns (403) even when an event names one. moto ignores the parameter, so botocore's Stubber asserts
that it is sent on every call (inspect, apply, verify, undo and the sweep), with the exact value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from snapback import registry
from snapback.outcomes import Target

ACCOUNT = "123456789012"
BUCKET = "app-data"
ALL_ON = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
PARTIAL = {**ALL_ON, "BlockPublicPolicy": False}


@dataclass
class StubSession:
    """A MemberSession whose clients are the stubbed ones."""

    clients: dict[str, Any]
    account: str = ACCOUNT
    region: str = "us-east-1"
    source_identity: str = "snapback@s3_block_public_access"

    def client(self, service: str, region: str | None = None) -> Any:
        return self.clients[service]


@pytest.fixture
def stubbed() -> Any:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    control = boto3.client("s3control", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as s3_stub, Stubber(control) as control_stub:
        yield StubSession({"s3": s3, "s3control": control}), s3_stub, control_stub
        s3_stub.assert_no_pending_responses()
        control_stub.assert_no_pending_responses()


def target() -> Target:
    return Target(ACCOUNT, "us-east-1", "AwsS3Bucket", BUCKET, f"arn:aws:s3:::{BUCKET}", "k")


OWNED = {"Bucket": BUCKET, "ExpectedBucketOwner": ACCOUNT}


def test_inspect_apply_verify_and_undo_send_expected_bucket_owner(stubbed):
    session, s3, _ = stubbed
    remediation = registry.get("s3_block_public_access")()
    s3.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": PARTIAL}, OWNED)
    s3.add_response("put_public_access_block", {}, {**OWNED, "PublicAccessBlockConfiguration": ALL_ON})
    s3.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": ALL_ON}, OWNED)
    s3.add_response("put_public_access_block", {}, {**OWNED, "PublicAccessBlockConfiguration": PARTIAL})
    s3.add_response("delete_public_access_block", {}, OWNED)

    before = remediation.inspect(session, target())
    undo = remediation.apply(session, target(), before)
    assert remediation.is_compliant(remediation.inspect(session, target()))
    remediation.undo(session, target(), undo)
    remediation.undo(session, target(), {"previous_block": None})


def test_a_bucket_of_another_account_is_refused_by_s3_not_changed(stubbed):
    """What S3 answers when ExpectedBucketOwner is not the bucket's owner: the apply fails, nothing is put."""
    session, s3, _ = stubbed
    remediation = registry.get("s3_block_public_access")()
    s3.add_client_error(
        "put_public_access_block",
        "AccessDenied",
        http_status_code=403,
        expected_params={**OWNED, "PublicAccessBlockConfiguration": ALL_ON},
    )
    with pytest.raises(Exception, match="AccessDenied"):
        remediation.apply(session, target(), {"public_access_block": PARTIAL})


def test_the_sweep_sends_expected_bucket_owner(stubbed):
    session, s3, control = stubbed
    remediation = registry.get("s3_block_public_access")()
    remediation.options = {"sweep_buckets_under_account_block": False}
    control.add_client_error(
        "get_public_access_block", "NoSuchPublicAccessBlockConfiguration", expected_params={"AccountId": ACCOUNT}
    )
    s3.add_response("list_buckets", {"Buckets": [{"Name": BUCKET}]}, {})
    s3.add_response("get_bucket_location", {"LocationConstraint": "us-west-2"}, OWNED)
    s3.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": PARTIAL}, OWNED)
    found = list(remediation.sweep(session, ACCOUNT, "us-east-1", regions=("us-west-2",)))
    assert [t.resource_id for t in found] == [BUCKET]
