"""The organization membership cache (snapback.membership) under moto, across accounts through STS.

Each test proves where an answer came from by state, not by counting calls: a "blind" reader role
(an account with no organization: a live read finds no accounts at all) can only say yes from the
cache; a fabricated id in the cache that a live read would drop shows whether a live read happened.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from typing import Any

import pytest

from snapback import membership
from snapback.clients import Clients
from snapback.member_role import SWEEP_ROLE
from snapback.membership import KEY, MembershipCache
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback.runtime import OrganizationsDirectory
from snapback.sweep import Sweeper
from snapback_ops.demo import ORG_READER_ROLE, REGION, cloudtrail_record, create_table, runtime_for, session_in
from tests.conftest import ROOT
from tests.remediations.helpers import eventbridge_event

NOT_A_MEMBER = "999999999999"  # never in the test organization: only a cache can vouch for it
BLIND_READER = "arn:aws:iam::000000000000:role/no-organization-here"


@pytest.fixture
def table(org: Any) -> str:
    """A table of its own per test (the organization, and its `snapback` table, are shared by the module)."""
    name = f"snapback-{uuid.uuid4().hex[:8]}"
    create_table(org.session(org.security).client("dynamodb"), name)
    return name


def clients_of(org: Any) -> Clients:
    """The sweep function's role in the security account (the remediation roles are alike)."""
    return Clients(region=REGION, member_role_name=org.config.member_role_name, session=session_in(org.security, SWEEP_ROLE))


def directory(org: Any, table: str | None, reader: str | None = None) -> OrganizationsDirectory:
    """A cold start's directory: nothing read yet."""
    return OrganizationsDirectory(clients_of(org), reader or f"arn:aws:iam::{org.management}:role/{ORG_READER_ROLE}", table=table)


def everyone(org: Any) -> set[str]:
    accounts = org.session(org.management).client("organizations").get_paginator("list_accounts").paginate()
    return {a["Id"] for page in accounts for a in page["Accounts"] if a["Status"] == "ACTIVE"}


def item(org: Any, table: str) -> dict[str, Any] | None:
    got = org.session(org.security).client("dynamodb").get_item(TableName=table, Key={"pk": {"S": KEY}}, ConsistentRead=True)
    return got.get("Item")


def put(org: Any, table: str, fields: dict[str, Any]) -> None:
    org.session(org.security).client("dynamodb").put_item(TableName=table, Item={"pk": {"S": KEY}, **fields})


def seed(org: Any, table: str, accounts: set[str], age: float = 0.0) -> None:
    assert MembershipCache(clients_of(org), table).write(accounts, time.time() - age)


def test_a_fresh_cache_answers_a_cold_start_without_reading_organizations(org, table):
    a = org.members["member-a"]
    live = directory(org, table)
    assert live.contains(a)  # a live read (cold, no item yet) writes the item
    cached = item(org, table)
    assert cached is not None and set(cached["accounts"]["SS"]) == everyone(org)
    # the next cold start reads the item: its reader sees no organization at all, yet every member is known
    cold = directory(org, table, reader=BLIND_READER)
    assert cold.contains(a) and cold.accounts() == everyone(org)
    assert cold.refresh() == set()  # what the blind reader would have said


def test_a_fresh_cache_carries_a_whole_event_through_the_pipeline(org, table):
    """The cold path of a remediation function: membership from the item, the fix in the member account."""
    a = org.members["member-a"]
    seed(org, table, everyone(org))
    runtime = runtime_for(org, "s3_block_public_access")
    runtime.org = OrganizationsDirectory(runtime.clients, BLIND_READER, table=table)
    s3 = org.session(a).client("s3")
    s3.create_bucket(Bucket=f"cached-{table}")
    record = cloudtrail_record(a, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock", {"bucketName": f"cached-{table}"})
    event = eventbridge_event(record)
    (result,) = runtime.process(event, remediations=["s3_block_public_access"])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert all(s3.get_public_access_block(Bucket=f"cached-{table}")["PublicAccessBlockConfiguration"].values())


def test_an_account_the_cache_lacks_is_looked_up_live_then_accepted_and_cached(org, table):
    a = org.members["member-a"]
    seed(org, table, {org.management, org.security}, age=60)
    before = float(item(org, table)["refreshed_at"]["N"])
    cold = directory(org, table)
    assert cold.contains(a)
    after = item(org, table)
    assert a in after["accounts"]["SS"] and float(after["refreshed_at"]["N"]) > before


def test_an_unknown_account_is_still_rejected_after_the_live_read(org, table):
    seed(org, table, everyone(org))
    cold = directory(org, table)
    assert not cold.contains(NOT_A_MEMBER)
    assert NOT_A_MEMBER not in item(org, table)["accounts"]["SS"]


def test_a_removed_account_is_refused_once_the_membership_event_refreshes_the_cache(org, table, monkeypatch):
    """RemoveAccountFromOrganization -> the membership rule -> the sweep function refreshes the item: no
    cold start trusts the account any more, and a warm one stops within RECHECK_SECONDS."""
    from snapback import runtime as runtime_module

    a = org.members["member-a"]
    warm = directory(org, table)
    assert warm.contains(a)  # cached, and remembered by this warm instance
    org.session(org.management).client("organizations").remove_account_from_organization(AccountId=a)
    assert directory(org, table, reader=BLIND_READER).contains(a), "until the refresh, the cache still says yes"

    # the sweep function as the membership rule invokes it, with the event the rule matches
    record = cloudtrail_record(org.management, "organizations.amazonaws.com", "RemoveAccountFromOrganization", {"accountId": a})
    event = {
        "version": "0",
        "id": uuid.uuid4().hex,
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.organizations",
        "account": org.management,
        "time": record["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }
    assert matches(membership.rule_pattern(), event)
    assert not matches(membership.rule_pattern(), {**event, "detail": {**record, "errorCode": "AccessDenied"}})
    runtime = runtime_for(org, "s3_block_public_access")
    runtime.clients = clients_of(org)
    runtime.org = directory(org, table)
    monkeypatch.setattr(runtime_module, "_LAMBDA_RUNTIME", runtime)
    spec = importlib.util.spec_from_file_location("sweep_handler", ROOT / "functions" / "sweep" / "handler.py")
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    assert handler.handler(event, None) == {"membership": "RemoveAccountFromOrganization", "accounts": len(everyone(org))}

    assert a not in item(org, table)["accounts"]["SS"]
    assert not directory(org, table, reader=BLIND_READER).contains(a)  # a cold start: refused
    warm.max_age = 0  # a warm instance once RECHECK_SECONDS have passed: it reads the item again
    assert not warm.contains(a)


def test_a_cache_older_than_the_maximum_age_is_read_live(org, table):
    seed(org, table, everyone(org) | {NOT_A_MEMBER}, age=membership.MAX_AGE + 60)
    cold = directory(org, table)
    assert NOT_A_MEMBER not in cold.accounts() and cold.accounts() == everyone(org)
    fresh = item(org, table)
    assert NOT_A_MEMBER not in fresh["accounts"]["SS"] and time.time() - float(fresh["refreshed_at"]["N"]) < 60
    # the same item within the maximum age is believed (what the live read would drop, it vouches for)
    seed(org, table, everyone(org) | {NOT_A_MEMBER}, age=-1)
    assert directory(org, table, reader=BLIND_READER).contains(NOT_A_MEMBER)


def test_the_sweep_writes_the_cache_after_it_lists_the_organization(org, table):
    runtime = runtime_for(org, "s3_block_public_access")
    runtime.clients = clients_of(org)
    runtime.org = directory(org, table)
    summary = Sweeper(runtime, regions=["nowhere-1"], remediations=["s3_block_public_access"], dry_run=True).run()
    assert set(summary.accounts) == everyone(org)
    cached = item(org, table)
    assert set(cached["accounts"]["SS"]) == everyone(org) and int(cached["count"]["N"]) == len(everyone(org))
    assert time.time() - float(cached["refreshed_at"]["N"]) < 60


def _corrupted(org: Any) -> list[dict[str, Any]]:
    now = str(time.time())
    ids = sorted({org.management, org.security, NOT_A_MEMBER})
    return [
        {"accounts": {"S": ",".join(ids)}, "count": {"N": str(len(ids))}, "refreshed_at": {"N": now}},  # not a set
        {"accounts": {"SS": [*ids, "12345"]}, "count": {"N": str(len(ids) + 1)}, "refreshed_at": {"N": now}},  # bad id
        {"accounts": {"SS": ids}, "count": {"N": "2"}, "refreshed_at": {"N": now}},  # count does not match
        {"accounts": {"SS": ids}, "count": {"N": str(len(ids))}, "refreshed_at": {"S": now}},  # date not a number
        {"accounts": {"SS": ids}, "count": {"N": str(len(ids))}, "refreshed_at": {"N": str(time.time() + 86400)}},  # future
        {"accounts": {"SS": ids}, "count": {"N": str(len(ids))}},  # no date
    ]


@pytest.mark.parametrize("case", range(6))
def test_a_corrupted_cache_item_is_ignored_read_live_and_replaced(org, table, case):
    put(org, table, _corrupted(org)[case])
    cold = directory(org, table)
    assert not cold.contains(NOT_A_MEMBER) and cold.accounts() == everyone(org)
    assert set(item(org, table)["accounts"]["SS"]) == everyone(org), "a corrupted item never locks the cache"


def test_an_oversized_cache_item_is_ignored_and_an_oversized_organization_is_not_cached(org, table, monkeypatch):
    ids = everyone(org) | {NOT_A_MEMBER}
    seed(org, table, ids)
    monkeypatch.setattr(membership, "MAX_ACCOUNTS", len(ids) - 1)  # the item now holds more than a cache may
    cold = directory(org, table)
    assert not cold.contains(NOT_A_MEMBER)
    monkeypatch.setattr(membership, "MAX_ACCOUNTS", len(everyone(org)) - 1)  # the organization outgrew the cache
    assert not MembershipCache(clients_of(org), table).write(everyone(org), time.time())
    assert directory(org, table).accounts() == everyone(org)  # live, every time


def test_a_slow_read_never_replaces_a_later_one(org, table):
    """A read that started before a removal must not put the removed account back over a later read."""
    cache = MembershipCache(clients_of(org), table)
    now = time.time()
    assert cache.write({org.management, org.security}, now)
    assert not cache.write({org.management, org.security, NOT_A_MEMBER}, now - 5)
    assert NOT_A_MEMBER not in item(org, table)["accounts"]["SS"]


def test_an_unreadable_cache_falls_back_to_a_live_read(org):
    cold = directory(org, "no-such-table")
    assert cold.contains(org.members["member-a"]) and cold.accounts() == everyone(org)


def test_an_account_moved_to_another_ou_is_seen_there_once_the_cached_chain_is_older_than_max_age(org):
    """OU chains decide OU-scoped exemptions and targets: a process that read an account under an
    exempt OU must not believe it there forever after the account moved out."""
    a = org.members["member-a"]
    orgs = org.session(org.management).client("organizations")
    root = orgs.list_roots()["Roots"][0]["Id"]
    warm = directory(org, None)
    assert warm.ous_of(a) == (org.ou, root)
    orgs.move_account(AccountId=a, SourceParentId=org.ou, DestinationParentId=root)
    try:
        assert warm.ous_of(a) == (org.ou, root)  # within max_age the read stands
        warm.max_age = 0  # as once RECHECK_SECONDS have passed
        assert warm.ous_of(a) == (root,)
    finally:
        orgs.move_account(AccountId=a, SourceParentId=root, DestinationParentId=org.ou)
