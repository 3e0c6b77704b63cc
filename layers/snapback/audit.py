"""The audit log and the idempotency ledger: one DynamoDB table, partition key `pk`.

- `audit#<id>`: every decision with its before/after state and the data undo needs.
- `idem#<remediation>#<semantic key>`: a conditional-write claim so that at-least-once delivery
  gives exactly-once effects. A claim is IN_PROGRESS with a lease; a crashed or timed-out run's
  lease expires, so a retry is never blocked forever. Completed claims expire by TTL.
  Before it changes anything, a run writes the state it read and its plan into its claim
  (`remember`); a retry that takes the claim over gets them back (`recovered`), so a run killed
  between its change and its audit record is finished as REMEDIATED, with the true before state,
  instead of being mistaken for ALREADY_COMPLIANT.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, classify, error_code
from snapback.outcomes import Result

# The audit listing's indexes (sparse: only audit items carry `recorded_at` with these keys), each
# sorted by time so that a Query reads newest first and stops at the limit. The by-time index has
# one partition key value ("audit"): a GSI partition takes about 1,000 writes per second, far above
# Snapback's audit rate (actions are paced by the breaker and the functions' concurrency).
INDEX_BY_ACCOUNT = "by-account"
INDEX_BY_REMEDIATION = "by-remediation"
INDEX_BY_TIME = "by-time"
AUDIT_INDEXES = {INDEX_BY_ACCOUNT: "account", INDEX_BY_REMEDIATION: "remediation", INDEX_BY_TIME: "kind"}
AUDIT_INDEX_SORT_KEY = "recorded_at"

LEASE_SECONDS = 900  # longer than the Lambda timeout
IDEMPOTENCY_TTL = 7 * 24 * 3600
AUDIT_TTL = 400 * 24 * 3600


def new_audit_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now or time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:10]}"


def _dynamo(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


@dataclass
class Ledger:
    clients: Clients
    table: str
    # What an interrupted earlier run of a claim had remembered (`remember`), by claim key.
    recovered: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _client(self) -> Any:
        return self.clients.client("dynamodb")

    def claim(self, key: str, audit_id: str = "pending") -> str | None:
        """Claim `key`; None if claimed now, else the audit id of whoever holds or completed it."""
        now = int(time.time())
        try:
            taken = self._client().put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"idem#{key}"},
                    "status": {"S": "IN_PROGRESS"},
                    "lease_until": {"N": str(now + LEASE_SECONDS)},
                    "expires_at": {"N": str(now + IDEMPOTENCY_TTL)},
                },
                ConditionExpression="attribute_not_exists(pk) OR (#s = :p AND lease_until < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":p": {"S": "IN_PROGRESS"}, ":now": {"N": str(now)}},
                ReturnValues="ALL_OLD",
            )
            earlier = taken.get("Attributes", {}).get("progress", {}).get("S")
            if earlier:
                self.recovered[key] = json.loads(earlier)
            return None
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                item = self._client().get_item(TableName=self.table, Key={"pk": {"S": f"idem#{key}"}}, ConsistentRead=True)
                return item.get("Item", {}).get("audit_id", {}).get("S", "in progress")
            raise classify(err) from err
        except BotoCoreError as err:
            raise classify(err) from err

    def complete(self, key: str, audit_id: str) -> None:
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"idem#{key}"}},
                UpdateExpression="SET #s = :c, audit_id = :a",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": {"S": "COMPLETED"}, ":a": {"S": audit_id}},
            )
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err

    def remember(self, key: str, before: Any, planned: list[str]) -> None:
        """Write what this run read and is about to do into its claim, before it changes anything."""
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"idem#{key}"}},
                UpdateExpression="SET progress = :p",
                ExpressionAttributeValues={":p": {"S": _dynamo({"before": before, "planned": planned})}},
            )
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err

    def abandon(self, key: str) -> None:
        """An exception interrupted this run: end its lease now, keeping what it remembered, so the
        platform's retry takes the claim over at once and can finish the work (best effort)."""
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"idem#{key}"}},
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="#s = :p",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":zero": {"N": "0"}, ":p": {"S": "IN_PROGRESS"}},
            )
        except (ClientError, BotoCoreError):
            pass  # the lease expires by itself

    def release(self, key: str) -> None:
        """Forget the claim so that a later delivery or a redrive starts afresh (best effort)."""
        try:
            self._client().delete_item(TableName=self.table, Key={"pk": {"S": f"idem#{key}"}})
        except (ClientError, BotoCoreError):
            pass  # the lease expires by itself


@dataclass
class AuditLog:
    clients: Clients
    table: str
    ttl_seconds: int = AUDIT_TTL

    def _client(self) -> Any:
        return self.clients.client("dynamodb")

    def write(self, result: Result, audit_id: str) -> None:
        target = result.target
        now = time.time()
        item = {
            "pk": {"S": f"audit#{audit_id}"},
            "kind": {"S": "audit"},
            "audit_id": {"S": audit_id},
            "recorded_at": {"S": datetime.fromtimestamp(now, UTC).isoformat()},
            "expires_at": {"N": str(int(now) + self.ttl_seconds)},
            "outcome": {"S": result.outcome.value},
            "reason": {"S": result.reason or "-"},
            "event_id": {"S": result.event_id or "-"},
            "remediation": {"S": result.remediation or "-"},
            "mode": {"S": result.mode or "-"},
            "actions": {"S": _dynamo(result.actions)},
            "before": {"S": _dynamo(result.before)},
            "after": {"S": _dynamo(result.after)},
            "undo": {"S": _dynamo(result.undo)},
            "source_identity": {"S": result.source_identity or "-"},
        }
        if target:
            item.update(
                {
                    "account": {"S": target.account},
                    "region": {"S": target.region or "-"},
                    "resource_arn": {"S": target.resource_arn},
                    "resource_id": {"S": target.resource_id},
                    "resource_type": {"S": target.resource_type},
                    "actor": {"S": target.principal_arn or "-"},
                    "facts": {"S": _dynamo(target.facts)},
                }
            )
        for key in ("finding_id", "notification_id"):
            value = getattr(result, key)
            if value:
                item[key] = {"S": value}
        try:
            self._client().put_item(TableName=self.table, Item=item)
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err

    def get(self, audit_id: str) -> dict[str, Any] | None:
        try:
            item = self._client().get_item(TableName=self.table, Key={"pk": {"S": f"audit#{audit_id}"}}).get("Item")
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        return _plain(item) if item else None

    def update(self, audit_id: str, **fields: str) -> None:
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": {"S": v} for k, v in fields.items()}
        self._client().update_item(
            TableName=self.table,
            Key={"pk": {"S": f"audit#{audit_id}"}},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def scan(
        self,
        limit: int = 1000,
        *,
        remediation: str | None = None,
        account: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        resource: str | None = None,
    ) -> list[dict[str, Any]]:
        """Audit items matching every given filter, newest first, at most `limit`.

        A paginated Query on the narrowest audit index (by account, by remediation, else by time),
        newest first, that stops as soon as `limit` items matched: the cost follows what is listed,
        not the size of the table. A table deployed before the indexes falls back to a Scan.
        """
        if account:
            index, key, value = INDEX_BY_ACCOUNT, "account", account
        elif remediation:
            index, key, value = INDEX_BY_REMEDIATION, "remediation", remediation
        else:
            index, key, value = INDEX_BY_TIME, "kind", "audit"
        names = {"#key": key}
        values: dict[str, Any] = {":key": {"S": value}}
        condition = "#key = :key"
        if since:
            names["#at"] = AUDIT_INDEX_SORT_KEY
            condition += " AND #at >= :since"
            values[":since"] = {"S": since}
        clauses = []
        for attribute, wanted in (("remediation", remediation), ("outcome", outcome), ("kind", "audit")):
            if wanted and attribute != key:
                names[f"#{attribute}"] = attribute
                values[f":{attribute}"] = {"S": wanted}
                clauses.append(f"#{attribute} = :{attribute}")
        if resource:
            values[":resource"] = {"S": resource}
            clauses.append("contains(resource_arn, :resource)")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            # A filtered page may match few items: read pages of a bounded size until `limit` matched.
            "Limit": max(25, min(1000, 2 * limit)),
        }
        if clauses:
            kwargs["FilterExpression"] = " AND ".join(clauses)
        items: list[dict[str, Any]] = []
        try:
            while len(items) < limit:
                page = self._client().query(**kwargs)
                items.extend(_plain(i) for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except ClientError as err:
            # AWS answers ValidationException ("does not have the specified index"); moto ResourceNotFound.
            if error_code(err) in ("ValidationException", "ResourceNotFoundException") and "index" in str(err).lower():
                return self._scan_all(limit, remediation, account, outcome, since, resource)
            raise classify(err) from err
        except BotoCoreError as err:
            raise classify(err) from err
        return items[:limit]

    def _scan_all(
        self,
        limit: int,
        remediation: str | None,
        account: str | None,
        outcome: str | None,
        since: str | None,
        resource: str | None,
    ) -> list[dict[str, Any]]:
        """The whole-table Scan, for a table without the audit indexes (deployed before them)."""
        clauses = ["kind = :kind"]
        values: dict[str, Any] = {":kind": {"S": "audit"}}
        names: dict[str, str] = {}
        for key, op, value in (
            ("remediation", "=", remediation),
            ("account", "=", account),
            ("outcome", "=", outcome),
            ("recorded_at", ">=", since),
        ):
            if value:
                names[f"#{key}"] = key
                values[f":{key}"] = {"S": value}
                clauses.append(f"#{key} {op} :{key}")
        if resource:
            values[":resource"] = {"S": resource}
            clauses.append("contains(resource_arn, :resource)")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": " AND ".join(clauses),
            "ExpressionAttributeValues": values,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        items: list[dict[str, Any]] = []
        try:
            while True:
                page = self._client().scan(**kwargs)
                items.extend(_plain(i) for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        items.sort(key=lambda i: str(i.get("recorded_at", "")), reverse=True)
        return items[:limit]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, typed in item.items():
        ((kind, value),) = typed.items()
        if kind == "N":
            out[key] = Decimal(value)
        elif key in ("actions", "before", "after", "undo", "facts"):
            out[key] = json.loads(value)
        else:
            out[key] = value
    return out
