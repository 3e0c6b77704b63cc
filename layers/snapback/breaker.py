"""The blast-radius breaker: a runaway trigger must not let Snapback change a whole account.

Every enforce action is counted, before it is taken, in two scopes: its account and its
remediation. Each scope keeps the times of its recent actions in one DynamoDB item
(`breaker#hits#<scope>`), updated with optimistic concurrency (a version attribute and a
conditional write), so concurrent functions never lose a count. When a scope goes past its limit
inside the sliding window, the breaker opens (`breaker#open#<scope>`): from then on that scope runs
in notify mode, a critical alert goes out, and only an explicit `snapback breaker reset SCOPE`
closes it again. Opening never expires by itself: a person decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, classify, error_code
from snapback.config import Breaker as BreakerSettings
from snapback.errors import RetryableError

ATTEMPTS = 8


@dataclass
class Breaker:
    clients: Clients
    table: str
    settings: BreakerSettings

    def _client(self) -> Any:
        return self.clients.client("dynamodb")

    @staticmethod
    def scopes(remediation: str, account: str) -> list[str]:
        return [f"account#{account}", f"remediation#{remediation}"]

    def admit(self, remediation: str, account: str, now: float | None = None) -> str | None:
        """Count one enforce action; None when it may go ahead, else why its scope runs in notify mode."""
        if not self.settings.enabled:
            return None
        now = time.time() if now is None else now
        for scope in self.scopes(remediation, account):
            opened = self.opened(scope)
            if opened:
                return f"breaker open for {scope} since {opened['opened_at']} (reset: snapback breaker reset {scope})"
        limits = {
            f"account#{account}": self.settings.max_per_account,
            f"remediation#{remediation}": self.settings.max_per_remediation,
        }
        for scope, limit in limits.items():
            count = self._hit(scope, now)
            if count > limit:
                self._open(scope, now, count, limit)
                return (
                    f"breaker tripped: {count} enforce actions for {scope} within {self.settings.window_minutes} min "
                    f"(limit {limit}); {scope} now runs in notify mode until `snapback breaker reset {scope}`"
                )
        return None

    def _hit(self, scope: str, now: float) -> int:
        window = self.settings.window_minutes * 60
        key = {"pk": {"S": f"breaker#hits#{scope}"}}
        for _ in range(ATTEMPTS):
            try:
                item = self._client().get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
                version = int(item["version"]["N"]) if item else 0
                hits = [float(n) for n in item.get("hits", {}).get("NS", [])] if item else []
                hits = sorted(h for h in hits if h > now - window)
                hits.append(now)
                condition = (
                    {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
                    if item
                    else {"ConditionExpression": "attribute_not_exists(pk)"}
                )
                self._client().put_item(
                    TableName=self.table,
                    Item={
                        **key,
                        "kind": {"S": "breaker-hits"},
                        "version": {"N": str(version + 1)},
                        # Distinct numbers: a number set cannot hold two equal times.
                        "hits": {"NS": [repr(h + i * 1e-6) for i, h in enumerate(hits)]},
                        "expires_at": {"N": str(int(now + window + 86400))},
                    },
                    **condition,
                )
                return len(hits)
            except ClientError as err:
                if error_code(err) == "ConditionalCheckFailedException":
                    continue  # another function counted meanwhile: read again
                raise classify(err) from err
            except BotoCoreError as err:
                raise classify(err) from err
        raise RetryableError(f"breaker: {scope} kept changing under {ATTEMPTS} attempts")

    def _open(self, scope: str, now: float, count: int, limit: int) -> None:
        try:
            self._client().put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"breaker#open#{scope}"},
                    "kind": {"S": "breaker-open"},
                    "scope": {"S": scope},
                    "opened_at": {"S": datetime.fromtimestamp(now, UTC).isoformat()},
                    "count": {"N": str(count)},
                    "limit": {"N": str(limit)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise classify(err) from err

    def opened(self, scope: str) -> dict[str, str] | None:
        try:
            item = self._client().get_item(TableName=self.table, Key={"pk": {"S": f"breaker#open#{scope}"}}).get("Item")
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        return {k: next(iter(v.values())) for k, v in item.items()} if item else None

    def open_scopes(self) -> list[dict[str, str]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "kind = :k",
            "ExpressionAttributeValues": {":k": {"S": "breaker-open"}},
        }
        out: list[dict[str, str]] = []
        while True:
            page = self._client().scan(**kwargs)
            out.extend({k: next(iter(v.values())) for k, v in item.items()} for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(out, key=lambda i: i["scope"])
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def reset(self, scope: str) -> bool:
        """Close the breaker of `scope` and forget its count; True if it was open."""
        was_open = self.opened(scope) is not None
        for pk in (f"breaker#open#{scope}", f"breaker#hits#{scope}"):
            self._client().delete_item(TableName=self.table, Key={"pk": {"S": pk}})
        return was_open
