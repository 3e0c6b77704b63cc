"""The organization's active accounts, cached in Snapback's table (issue 16, time to containment).

Without it, every cold start of every function paid an STS AssumeRole (the org reader role in the
management account) and ListAccounts pages before it could decide anything. With it, a cold start
with a fresh cache pays one DynamoDB GetItem.

One item, `org#members`: the ids of the ACTIVE accounts (a string set), how many there are, and when
the live read that produced them started (`refreshed_at`, epoch seconds). It is written by every live
read (`snapback.runtime.OrganizationsDirectory`): the sweep's (every run lists the organization
first), the membership rule's (Organizations events: `MEMBERSHIP_EVENTS`, routed to the sweep
function), and any function's that met an unknown account or a stale cache.

Membership stays a security check, so the cache only ever short-cuts a yes:
- an account id that is not in it is looked up live before anything is rejected or acted on;
- an item older than `MAX_AGE` (or unreadable, malformed or oversized) is ignored: live read;
- a write never replaces an item from a later read (conditional on `refreshed_at`), so a slow read
  that started before a removal cannot put the removed account back.

How long a removed account can still be acted on: the membership rule refreshes the item within
about a minute of RemoveAccountFromOrganization / LeaveOrganization / CloseAccount (CloudTrail to
EventBridge delivery), and a warm function re-reads the item every `RECHECK_SECONDS` (5 min). If
that event is lost (CloudTrail events are best effort), the next sweep (`sweep.schedule`, 6 h by
default) refreshes it; if the sweep fails too (its SweepErrors alarm pages), `MAX_AGE` is the last
bound. The departure itself pages on-call (`organization_departure_alert`), and a departed account
cannot put events on the central bus (its policy requires aws:PrincipalOrgID) and loses its member
role with its StackSet instance, so this is defence in depth, not the only wall. The same bound
applies to `Remediation.in_org`: within it, a share or trust granted to a just-removed account still
counts as inside the organization (an unknown id never does: it is read live).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients
from snapback.events import is_account_id

KEY = "org#members"
KIND = "org_membership"
# The last bound on a missed removal (above). 24 h is four default sweep periods: a sweep or two may
# fail before cold starts fall back to live reads; with the sweep off, the functions still read
# Organizations only about once a day (any live read writes the item back).
MAX_AGE = 24 * 3600.0
# A warm function keeps what it read this long (one GetItem per 5 min), so that a refresh reaches it.
RECHECK_SECONDS = 300.0
# An unknown account is looked up live, but not more than once a minute per function instance: a
# stream of events naming a foreign account must not turn into a stream of ListAccounts calls.
LIVE_RECHECK_SECONDS = 60.0
# DynamoDB items are at most 400 KB; 20,000 ids of 12 digits are about 240 KB. A larger organization
# (or an item claiming more) is not cached: every cold start reads live, as before.
MAX_ACCOUNTS = 20_000
# Clock skew between writers: an item dated later than this in the future is not believed.
FUTURE_SKEW = 300.0

# Organizations calls after which the membership (or an account's OU) changed: the membership rule on
# the central bus routes them (successful only) to the sweep function, which refreshes the item. They
# happen in the management account, us-east-1 (Organizations' Region), whose forwarder sends them on.
MEMBERSHIP_CALLS = (
    "AcceptHandshake",
    "CloseAccount",
    "CreateAccount",
    "CreateGovCloudAccount",
    "InviteAccountToOrganization",
    "LeaveOrganization",
    "MoveAccount",
    "RemoveAccountFromOrganization",
)
# What Organizations itself records when an asynchronous change completes (AWS Service Events).
MEMBERSHIP_SERVICE_EVENTS = ("AccountDepartedOrganization", "CreateAccountResult")
MEMBERSHIP_EVENTS = MEMBERSHIP_CALLS + MEMBERSHIP_SERVICE_EVENTS
SOURCE = "aws.organizations"


def rule_pattern() -> dict[str, Any]:
    """The membership rule's pattern: successful membership changes and their completion events."""
    return {
        "source": [SOURCE],
        "detail-type": ["AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"],
        "detail": {
            "eventSource": ["organizations.amazonaws.com"],
            "eventName": list(MEMBERSHIP_EVENTS),
            "errorCode": [{"exists": False}],
        },
    }


def is_membership_event(event: Any) -> bool:
    """An Organizations event as the membership rule delivers it (not a sweep batch or schedule)."""
    if not isinstance(event, dict) or event.get("source") != SOURCE:
        return False
    detail = event.get("detail")
    return isinstance(detail, dict) and detail.get("eventName") in MEMBERSHIP_EVENTS


@dataclass(frozen=True)
class Snapshot:
    accounts: frozenset[str]
    refreshed_at: float  # epoch seconds: when the live read that produced it started

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.refreshed_at


@dataclass
class MembershipCache:
    """The `org#members` item. Every failure here means "no cache": the caller reads live."""

    clients: Clients
    table: str

    def read(self, now: float | None = None) -> Snapshot | None:
        """The cached membership, or None when there is none, or it cannot be trusted as written."""
        try:
            item = (
                self.clients.client("dynamodb")
                .get_item(TableName=self.table, Key={"pk": {"S": KEY}}, ConsistentRead=True)
                .get("Item")
            )
        except (ClientError, BotoCoreError):
            return None  # the table is an optimisation: Organizations is the truth
        return parse(item, time.time() if now is None else now) if item else None

    def write(self, accounts: Collection[str], refreshed_at: float) -> bool:
        """Store a live read that started at `refreshed_at`; False if not stored (a later read was,
        or it cannot be cached). Never raises: the caller already has its answer."""
        ids = sorted(set(accounts))
        if not ids or len(ids) > MAX_ACCOUNTS or not all(is_account_id(a) for a in ids):
            return False
        try:
            self.clients.client("dynamodb").put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": KEY},
                    "kind": {"S": KIND},
                    "accounts": {"SS": ids},
                    "count": {"N": str(len(ids))},
                    "refreshed_at": {"N": repr(float(refreshed_at))},
                },
                # Only over an older read, or over an item whose date cannot be believed (not a number,
                # or from the future): a corrupted item must not lock the cache.
                ConditionExpression=(
                    "attribute_not_exists(refreshed_at) OR NOT attribute_type(refreshed_at, :n) "
                    "OR refreshed_at < :at OR refreshed_at > :future"
                ),
                ExpressionAttributeValues={
                    ":n": {"S": "N"},
                    ":at": {"N": repr(float(refreshed_at))},
                    ":future": {"N": repr(float(refreshed_at) + FUTURE_SKEW)},
                },
            )
        except (ClientError, BotoCoreError):
            return False  # ConditionalCheckFailed: a later read is stored; anything else: no cache
        return True


def parse(item: dict[str, Any], now: float) -> Snapshot | None:
    """The item as a snapshot, or None unless every field is as `write` makes it."""
    try:
        ids = item["accounts"]["SS"]
        count = int(item["count"]["N"])
        refreshed_at = float(item["refreshed_at"]["N"])
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(ids, list) or not 0 < len(ids) <= MAX_ACCOUNTS or count != len(set(ids)):
        return None
    if not all(is_account_id(a) for a in ids):
        return None
    if refreshed_at != refreshed_at or refreshed_at > now + FUTURE_SKEW:  # NaN, or from the future
        return None
    return Snapshot(frozenset(ids), refreshed_at)
