"""The blast-radius breaker: a runaway trigger must not let Snapback change a whole account.

Every enforce action is counted, before it is taken, in two scopes: its account and its
remediation. Each scope is one DynamoDB item (`breaker#<scope>`) holding its recent counts in
time buckets (`h<bucket number>`, at most about 60 buckets per window) and, once tripped, its open
state. Admission is one UpdateItem per scope: an atomic `ADD` on the current bucket, conditional
on the scope not being open, returning the whole item (`ALL_NEW`; `ALL_OLD` when the condition
fails, which is how an open scope is seen). Concurrent functions therefore never lose a count and
never both take the last slot: `ADD` hands each of them a distinct total.

The window slides bucket by bucket and errs on the safe side: it counts every bucket that overlaps
the last `window_minutes`, so it may count up to one bucket (a minute, or 1/60 of a longer window)
more than an exact window would, never fewer.

When a scope goes past its limit, the breaker opens: from then on that scope runs in notify mode,
a critical alert goes out, `BreakerTrips` is emitted (see `Runtime`), and only an explicit
`snapback breaker reset SCOPE` closes it again. Opening never expires by itself (an open item has
no TTL): a person decides. An action that a scope holds back is not counted in the other scope.

DynamoDB calls per enforce action: 2 (one per scope); 3 when a scope trips; 1-2 (+1 refund)
while a scope is open. The previous read-then-conditional-put design cost 6.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, classify, error_code
from snapback.config import Breaker as BreakerSettings

BUCKETS_PER_WINDOW = 60
MIN_BUCKET_SECONDS = 60
PRUNE_AFTER = 2 * BUCKETS_PER_WINDOW  # stale buckets an item may collect before a dedicated prune
OPEN_FIELDS = ("scope", "opened_at", "count", "limit")

# Called once per scope that this process opened: (scope, count, limit).
TripHook = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Count:
    """One scope's state after counting (or failing to count) one action."""

    total: int = 0
    bucket: str | None = None  # the attribute incremented; None when nothing was counted
    opened_at: str | None = None


@dataclass
class Breaker:
    clients: Clients
    table: str
    settings: BreakerSettings
    on_trip: TripHook | None = None
    _stale: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def _client(self) -> Any:
        return self.clients.client("dynamodb")

    @staticmethod
    def scopes(remediation: str, account: str) -> list[str]:
        return [f"account#{account}", f"remediation#{remediation}"]

    @staticmethod
    def key(scope: str) -> dict[str, Any]:
        return {"pk": {"S": f"breaker#{scope}"}}

    def bucket_seconds(self) -> int:
        return max(MIN_BUCKET_SECONDS, math.ceil(self.settings.window_minutes * 60 / BUCKETS_PER_WINDOW))

    def admit(self, remediation: str, account: str, now: float | None = None) -> str | None:
        """Count one enforce action; None when it may go ahead, else why its scope runs in notify mode."""
        if not self.settings.enabled:
            return None
        now = time.time() if now is None else now
        limits = {
            f"account#{account}": self.settings.max_per_account,
            f"remediation#{remediation}": self.settings.max_per_remediation,
        }
        counted: list[tuple[str, str]] = []
        held: str | None = None
        for scope, limit in limits.items():
            state = self._count(scope, now)
            if state.opened_at is not None:
                held = f"breaker open for {scope} since {state.opened_at} (reset: snapback breaker reset {scope})"
                break
            if state.total > limit:
                self._open(scope, now, state.total, limit)
                held = (
                    f"breaker tripped: {state.total} enforce actions for {scope} within {self.settings.window_minutes} min "
                    f"(limit {limit}); {scope} now runs in notify mode until `snapback breaker reset {scope}`"
                )
                break
            if state.bucket is not None:
                counted.append((scope, state.bucket))
        if held is not None:
            for scope, bucket in counted:  # the action is not taken: give its slot back to the other scope
                self._refund(scope, bucket)
        return held

    # -- one call per scope ------------------------------------------------------------------------
    def _count(self, scope: str, now: float) -> Count:
        size = self.bucket_seconds()
        bucket = f"h{int(now // size)}"
        stale = sorted(self._stale.get(scope, set()) - {bucket})
        names = {"#b": bucket, "#k": "kind", "#s": "scope"}
        names.update({f"#x{i}": name for i, name in enumerate(stale)})
        expression = "ADD #b :one SET #k = :kind, #s = :scope, expires_at = :exp"
        if stale:
            expression += " REMOVE " + ", ".join(f"#x{i}" for i in range(len(stale)))
        window = self.settings.window_minutes * 60
        try:
            item = self._client().update_item(
                TableName=self.table,
                Key=self.key(scope),
                UpdateExpression=expression,
                ConditionExpression="attribute_not_exists(opened_at)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":kind": {"S": "breaker"},
                    ":scope": {"S": scope},
                    ":exp": {"N": str(int(now + window + 86400))},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )["Attributes"]
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                old = err.response.get("Item") or {}
                return Count(opened_at=old.get("opened_at", {}).get("S", "an earlier trip"))
            raise classify(err) from err
        except BotoCoreError as err:
            raise classify(err) from err
        oldest = math.floor((now - window) / size)  # every bucket overlapping the window counts
        total = 0
        stale_now: set[str] = set()
        for name, value in item.items():
            if name[:1] == "h" and name[1:].isdigit():
                if int(name[1:]) >= oldest:
                    total += int(value["N"])
                else:
                    stale_now.add(name)
        self._stale[scope] = stale_now
        if len(stale_now) > PRUNE_AFTER:
            self._prune(scope)
        return Count(total=total, bucket=bucket)

    def _prune(self, scope: str) -> None:
        stale = sorted(self._stale.pop(scope, set()))
        try:
            self._client().update_item(
                TableName=self.table,
                Key=self.key(scope),
                UpdateExpression="REMOVE " + ", ".join(f"#x{i}" for i in range(len(stale))),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={f"#x{i}": name for i, name in enumerate(stale)},
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise classify(err) from err

    def _refund(self, scope: str, bucket: str) -> None:
        try:
            self._client().update_item(
                TableName=self.table,
                Key=self.key(scope),
                UpdateExpression="ADD #b :minus",
                ConditionExpression="attribute_exists(pk)",  # never recreate a scope that was reset meanwhile
                ExpressionAttributeNames={"#b": bucket},
                ExpressionAttributeValues={":minus": {"N": "-1"}},
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise classify(err) from err
        except BotoCoreError as err:
            raise classify(err) from err

    def _open(self, scope: str, now: float, count: int, limit: int) -> bool:
        """Open `scope`; True if this call opened it (a racing trip finds it open and reports nothing)."""
        try:
            self._client().update_item(
                TableName=self.table,
                Key=self.key(scope),
                UpdateExpression="SET #k = :open, opened_at = :at, #c = :count, #l = :limit REMOVE expires_at",
                ConditionExpression="attribute_not_exists(opened_at)",
                ExpressionAttributeNames={"#k": "kind", "#c": "count", "#l": "limit"},
                ExpressionAttributeValues={
                    ":open": {"S": "breaker-open"},
                    ":at": {"S": datetime.fromtimestamp(now, UTC).isoformat()},
                    ":count": {"N": str(count)},
                    ":limit": {"N": str(limit)},
                },
            )
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return False
            raise classify(err) from err
        except BotoCoreError as err:
            raise classify(err) from err
        if self.on_trip is not None:
            self.on_trip(scope, count, limit)
        return True

    # -- operator views ----------------------------------------------------------------------------
    def opened(self, scope: str) -> dict[str, str] | None:
        try:
            item = self._client().get_item(TableName=self.table, Key=self.key(scope), ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        return _open_view(item) if item and "opened_at" in item else None

    def open_scopes(self) -> list[dict[str, str]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "#k = :k",
            "ExpressionAttributeNames": {"#k": "kind"},
            "ExpressionAttributeValues": {":k": {"S": "breaker-open"}},
        }
        out: list[dict[str, str]] = []
        while True:
            try:
                page = self._client().scan(**kwargs)
            except (ClientError, BotoCoreError) as err:
                raise classify(err) from err
            out.extend(_open_view(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(out, key=lambda i: i["scope"])
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def reset(self, scope: str) -> bool:
        """Close the breaker of `scope` and forget its count; True if it was open."""
        try:
            old = self._client().delete_item(TableName=self.table, Key=self.key(scope), ReturnValues="ALL_OLD").get("Attributes")
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        self._stale.pop(scope, None)
        return bool(old and "opened_at" in old)


def _open_view(item: dict[str, Any]) -> dict[str, str]:
    return {k: next(iter(item[k].values())) for k in OPEN_FIELDS if k in item}
