"""`snapback audit` at scale: a paginated Query on the audit indexes, never a Scan of the table
(issue 15: "audit reads the whole table with Scan; a year of org data won't list")."""

from __future__ import annotations

import itertools

import boto3
import pytest

from snapback import audit as audit_module
from snapback.audit import AuditLog
from snapback.clients import Clients
from snapback.outcomes import Outcome, Result, Target
from snapback_ops.demo import create_table

ACCOUNTS = ("111111111111", "222222222222", "333333333333")
REMEDIATIONS = ("s3_block_public_access", "kms_enable_key_rotation")
OUTCOMES = (Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.NOTIFIED, Outcome.REMEDIATED, Outcome.FAILED)


class Calls:
    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, model, **_):  # noqa: ANN001 - botocore event hook
        self.operations.append(model.name)


@pytest.fixture(scope="module")
def written():
    """300 audit items over three accounts and two remediations, one second apart: written once for
    the module (its tests only read them; writing them was most of each test's time)."""
    from moto import mock_aws

    from snapback_ops.demo import share_default_session

    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        share_default_session()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, "audit-test")
        log = AuditLog(Clients(region="us-east-1"), "audit-test")
        clock = itertools.count(1_780_000_000)
        patch.setattr(audit_module.time, "time", lambda: float(next(clock)))
        items = []
        for i in range(300):
            account, remediation = ACCOUNTS[i % 3], REMEDIATIONS[(i // 3) % 2]
            target = Target(account, "us-east-1", "AwsS3Bucket", f"b{i}", f"arn:aws:s3:::bucket-{i}", f"k{i}")
            result = Result(OUTCOMES[i % 5], f"r{i}", remediation=remediation, target=target, mode="enforce")
            log.write(result, f"id-{i:04d}")
            items.append(
                {"audit_id": f"id-{i:04d}", "account": account, "remediation": remediation, "outcome": OUTCOMES[i % 5].value}
            )
        patch.undo()
        yield log, items


@pytest.fixture
def listed(written, monkeypatch):
    """The module's audit log, read through a client whose every call is counted (per test)."""
    log, items = written
    calls = Calls()
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.meta.events.register("before-call.dynamodb.*", calls)
    monkeypatch.setattr(AuditLog, "_client", lambda self: client)
    return log, list(reversed(items)), calls


def ids(items):
    return [i["audit_id"] for i in items]


def test_the_newest_are_listed_first_with_queries_only(listed):
    log, newest_first, calls = listed
    assert ids(log.scan(10)) == ids(newest_first[:10])
    assert set(calls.operations) == {"Query"} and len(calls.operations) == 1  # stops at the limit


@pytest.mark.parametrize(
    "filters",
    [
        {"account": "222222222222"},
        {"remediation": "kms_enable_key_rotation"},
        {"account": "333333333333", "remediation": "s3_block_public_access", "outcome": "FAILED"},
        {"outcome": "NOTIFIED"},
        {"resource": "bucket-29"},
    ],
)
def test_filters_match_exactly_what_a_full_read_would(listed, filters):
    log, newest_first, calls = listed
    want = [
        w
        for w in newest_first
        if all(w[k] == v for k, v in filters.items() if k != "resource")
        and ("resource" not in filters or filters["resource"] in f"arn:aws:s3:::bucket-{int(w['audit_id'][3:])}")
    ]
    assert ids(log.scan(1000, **filters)) == ids(want)
    assert "Scan" not in calls.operations


def test_a_rare_match_is_found_across_pages(listed):
    log, newest_first, calls = listed
    want = [w for w in newest_first if w["account"] == "111111111111" and w["outcome"] == "FAILED"]
    got = log.scan(30, account="111111111111", outcome="FAILED")  # 20 of the account's 100: pages of 60
    assert len(want) == 20 and ids(got) == ids(want)
    assert calls.operations.count("Query") > 1 and "Scan" not in calls.operations


def test_since_bounds_the_query_by_time(listed):
    log, newest_first, calls = listed
    items = log.scan(1000)
    cut = items[49]["recorded_at"]
    assert ids(log.scan(1000, since=cut)) == ids(newest_first[:50])
    assert ids(log.scan(1000, account="111111111111", since=cut)) == ids(
        [w for w in newest_first[:50] if w["account"] == "111111111111"]
    )


def test_a_table_deployed_before_the_indexes_still_lists(written):  # (in the module's moto)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="old",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    log = AuditLog(Clients(region="us-east-1"), "old")
    target = Target("111111111111", "us-east-1", "AwsS3Bucket", "b", "arn:aws:s3:::b", "k")
    log.write(Result(Outcome.REMEDIATED, "r", remediation="x", target=target), "only")
    assert ids(log.scan(5, account="111111111111")) == ["only"]


def test_the_security_stack_declares_the_indexes_the_listing_queries():
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "stacks" / "security.py").read_text()
    assert "AUDIT_INDEXES.items()" in source and "AUDIT_INDEX_SORT_KEY" in source
    assert set(audit_module.AUDIT_INDEXES) == {"by-account", "by-remediation", "by-time"}
