"""The audit log and the ledger of claims: one DynamoDB table, partition key `pk`.

- `audit#<id>`: every decision with its before/after state and the data undo needs.
- `idem#<claim>`: the claim of one event (or sweep period, or approval) by one remediation, keyed on
  the event's semantic identity: duplicates of the event find it and do nothing again.
- `lock#<remediation>#<account>#<region>#<resource>`: the resource's lock, so that two different
  events about one resource never act on it at the same time (the second one waits, then sees the
  first one's result and finds the resource compliant).

A claim goes IN_PROGRESS -> RECORDED (the audit item is written, in the same transaction that ends
the lock) -> COMPLETED (reported: Security Hub finding, SNS), or it is deleted (`final` "release":
FAILED outcomes, so that a redrive may try again; sweep claims of fixed resources). Every write of a
run is conditional on its `token`, so that a run that lost its claim to a takeover can change
nothing in the ledger any more, and the audit item and the RECORDED state are one transaction: a
claim is recorded exactly once, whatever is killed when.

Leases. A claim and its lock are held until the holder's own Lambda deadline (the invocation's
remaining time when it started) plus `LEASE_SKEW`: Lambda stops an invocation at its timeout, so
after that the holder is provably gone. A run that finds a live claim or lock waits for it while
its own deadline allows, else raises a retryable error (never a silent SKIPPED), and Lambda runs the
event again. Lambda retries an asynchronous event that raised "two more times, with a one-minute
wait between the first two attempts, and two minutes between the second and third attempts"
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html). With the
remediation functions' 60 s timeout (300 s for the EC2 isolation, stacks/security.py `SLOW`), a
holder killed at once leaves a lease of at most 90 s (330 s): the first retry, a minute after the
kill, waits the rest out within its own timeout (or, for the 300 s function, the second retry three
minutes after the kill does); the last resort is the on-failure destination and `snapback redrive`.
A run interrupted by an exception it sees (not a kill) ends its lease at once (`abandon`).

Before it changes anything, a run writes the state it read and its plan into the resource's lock
(`remember`); a run that takes the lock over (the event's retry, or another event about the same
resource) gets them back (`Held.progress`), so that `apply` and the record's `before` see the state
before the first try, never the half-changed one, and the work is recorded once, by whoever finishes it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, classify, error_code
from snapback.errors import RetryableError
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

# Added to the holder's deadline: clock skew between Lambda hosts, and the time a killed invocation's
# last in-flight request may still take to land.
LEASE_SKEW = 30
# Without a Lambda context (the CLI, tests), a run is assumed to have as long as a remediation function.
DEFAULT_TIMEOUT = 60
# A waiting run gives up (retryable) unless this much of its own time is left once the holder's lease ends.
MIN_WORK_SECONDS = 20
POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 5.0
IDEMPOTENCY_TTL = 7 * 24 * 3600
AUDIT_TTL = 400 * 24 * 3600
LIVE = ("IN_PROGRESS", "RECORDED")


def new_audit_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now or time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:10]}"


def _dynamo(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


@dataclass
class Clock:
    """Time as the ledger sees it; tests replace it to play Lambda's retry schedule without waiting."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Held:
    """A claim (and the resource's lock) this run holds."""

    key: str
    token: str
    lock: str | None = None
    status: str = "IN_PROGRESS"  # RECORDED: an earlier run recorded the outcome; only reporting is left
    progress: dict[str, Any] | None = None  # what an interrupted earlier run remembered
    audit_id: str | None = None
    final: str = "complete"
    takeover: bool = False


@dataclass
class Duplicate:
    """The claim was completed by an earlier run."""

    key: str
    audit_id: str


@dataclass
class Ledger:
    clients: Clients
    table: str
    clock: Clock = field(default_factory=Clock)

    def _client(self) -> Any:
        return self.clients.client("dynamodb")

    # -- taking a claim ------------------------------------------------------------------------------
    def acquire(self, key: str, lock: str | None, *, deadline: float) -> Held | Duplicate:
        """Claim `key` and lock `lock` (one transaction), taking over a claim whose holder is gone.

        Returns a `Duplicate` when the claim was completed; waits for a live holder while this run's
        own `deadline` allows, then raises `RetryableError` so that the platform runs the event again.
        """
        token = uuid.uuid4().hex
        seen_claim: dict[str, Any] | None = None
        seen_lock: dict[str, Any] | None = None
        waited = 0
        while True:
            now = self.clock.now()
            lease = str(int(deadline + LEASE_SKEW))
            if seen_claim is not None and seen_claim.get("status", {}).get("S") == "RECORDED":
                # The outcome is recorded (and the lock gone): only the reporting is left to take over.
                holder = self._live(seen_claim, now)
                if holder is None and self._put_claim(key, token, lease, seen_claim, now):
                    return Held(
                        key,
                        token,
                        status="RECORDED",
                        audit_id=seen_claim.get("audit_id", {}).get("S"),
                        final=seen_claim.get("final", {}).get("S", "complete"),
                        takeover=True,
                    )
                if holder is not None:
                    self._wait(holder, deadline, waited)
                    waited += 1
                seen_claim = self._read(f"idem#{key}")
                if seen_claim is not None and seen_claim.get("status", {}).get("S") == "COMPLETED":
                    return Duplicate(key, seen_claim.get("audit_id", {}).get("S", "-"))
                continue
            items: list[dict[str, Any]] = [self._claim_put(key, token, lease, now, seen_claim)]
            if lock:
                items.append(self._lock_put(lock, key, token, lease, now, seen_lock))
            try:
                self._client().transact_write_items(TransactItems=items)
            except ClientError as err:
                if error_code(err) != "TransactionCanceledException":
                    raise classify(err) from err
                reasons = err.response.get("CancellationReasons") or []
                claim_failed = _failed(reasons, 0)
                lock_failed = _failed(reasons, 1) if lock else None
                if not claim_failed and not lock_failed:
                    raise classify(err) from err  # a conflict with a concurrent transaction: retryable
                if claim_failed:
                    seen_claim = claim_failed.get("Item") or None
                if lock_failed:
                    seen_lock = lock_failed.get("Item") or None
                if seen_claim is not None and seen_claim.get("status", {}).get("S") == "COMPLETED":
                    return Duplicate(key, seen_claim.get("audit_id", {}).get("S", "-"))
                holder = self._live(seen_claim, now) or self._live(seen_lock, now)
                if holder is None:
                    continue  # expired or just gone: try again (conditional on what was seen)
                self._wait(holder, deadline, waited)
                waited += 1
                continue
            except BotoCoreError as err:
                raise classify(err) from err
            # The remembered state lives on the RESOURCE's lock, not on the event's claim: whichever run
            # takes the lock over after a crash (this event's retry, or another event about the same
            # resource) finishes from it; once recorded, the lock and what it remembered are gone.
            progress = None
            if lock and seen_lock is not None and "progress" in seen_lock:
                progress = json.loads(seen_lock["progress"]["S"])
            elif not lock and seen_claim is not None and "progress" in seen_claim:
                progress = json.loads(seen_claim["progress"]["S"])
            return Held(key, token, lock=lock, progress=progress, takeover=seen_claim is not None or seen_lock is not None)

    def _live(self, item: Mapping[str, Any] | None, now: float) -> tuple[str, float] | None:
        """(what holds it, until when) if `item` is held by a run that may still be alive."""
        if item is None:
            return None
        until = float(item.get("lease_until", {}).get("N", "0"))
        if until < int(now):  # (the same test as the condition of the takeover)
            return None
        name = item.get("claim", item.get("pk", {})).get("S", "?")
        return name, until

    def _wait(self, holder: tuple[str, float], deadline: float, attempt: int) -> None:
        """Wait a little for a live holder (it may finish any moment; its lease ends at the latest),
        or raise a retryable error when this run's own deadline leaves no time to wait and then act."""
        name, until = holder
        now = self.clock.now()
        pause = min(POLL_SECONDS * 2**attempt, MAX_POLL_SECONDS, max(0.0, until - now) + 0.01)
        if now + pause > deadline - MIN_WORK_SECONDS:
            raise RetryableError(
                f"in progress: {name} is held by a run whose lease ends in {max(0, until - now):.0f} s; retry later"
            )
        self.clock.sleep(pause)

    def _claim_put(self, key: str, token: str, lease: str, now: float, seen: Mapping[str, Any] | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": f"idem#{key}"},
            "status": {"S": "IN_PROGRESS"},
            "token": {"S": token},
            "lease_until": {"N": lease},
            "expires_at": {"N": str(int(now) + IDEMPOTENCY_TTL)},
        }
        if seen is not None and "progress" in seen:
            item["progress"] = seen["progress"]
        return {
            "Put": {
                "TableName": self.table,
                "Item": item,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **_if_same(seen, now),
            }
        }

    def _lock_put(
        self, lock: str, key: str, token: str, lease: str, now: float, seen: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        item = {
            "pk": {"S": f"lock#{lock}"},
            "claim": {"S": key},
            "token": {"S": token},
            "lease_until": {"N": lease},
            "expires_at": {"N": str(int(now) + IDEMPOTENCY_TTL)},
        }
        if seen is not None and "progress" in seen:
            item["progress"] = seen["progress"]  # what the gone holder remembered, for whoever finishes its work
        return {
            "Put": {
                "TableName": self.table,
                "Item": item,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **_if_same(seen, now),
            }
        }

    def _put_claim(self, key: str, token: str, lease: str, seen: Mapping[str, Any], now: float) -> bool:
        """Take over a RECORDED claim whose holder is gone; False if it changed meanwhile."""
        item = dict(seen)
        item.update({"token": {"S": token}, "lease_until": {"N": lease}})
        try:
            self._client().put_item(TableName=self.table, Item=item, **_if_same(seen, now))
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return False
            raise classify(err) from err
        except BotoCoreError as err:
            raise classify(err) from err
        return True

    def _read(self, pk: str) -> dict[str, Any] | None:
        try:
            item = self._client().get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        return item or None

    # -- while holding it ----------------------------------------------------------------------------
    def remember(self, held: Held, before: Any, planned: list[str]) -> None:
        """Write what this run read and is about to do into the resource's lock (its claim, without a
        lock), before it changes anything."""
        pk = f"lock#{held.lock}" if held.lock else f"idem#{held.key}"
        self._update_claim(held, "SET progress = :p", {":p": {"S": _dynamo({"before": before, "planned": planned})}}, pk)

    def record(self, held: Held, audit_item: dict[str, Any], *, final: str, also: list[dict[str, Any]] | None = None) -> None:
        """Write the audit item, mark the claim RECORDED and end the lock: one transaction, exactly once
        (`also`: more writes that must happen with it, e.g. the undone record's `undone_by`)."""
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": audit_item, "ConditionExpression": "attribute_not_exists(pk)"}},
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": f"idem#{held.key}"}},
                    "UpdateExpression": "SET #s = :r, audit_id = :a, #f = :f",
                    "ConditionExpression": "#t = :t",
                    "ExpressionAttributeNames": {"#s": "status", "#t": "token", "#f": "final"},
                    "ExpressionAttributeValues": {
                        ":r": {"S": "RECORDED"},
                        ":a": audit_item["audit_id"],
                        ":f": {"S": final},
                        ":t": {"S": held.token},
                    },
                }
            },
        ]
        if held.lock:
            items.append(self._lock_delete(held))
        items.extend(also or [])
        self._transact(items, held, "record")
        held.status, held.audit_id, held.final = "RECORDED", audit_item["audit_id"]["S"], final

    def finish(self, held: Held, audit_id: str, fields: Mapping[str, str]) -> None:
        """Reported: complete (or release) the claim and note what reporting produced on the audit item."""
        cond = {
            "ConditionExpression": "#t = :t",
            "ExpressionAttributeNames": {"#t": "token"},
            "ExpressionAttributeValues": {":t": {"S": held.token}},
        }
        claim_key = {"pk": {"S": f"idem#{held.key}"}}
        if held.final == "release":
            claim_op: dict[str, Any] = {"Delete": {"TableName": self.table, "Key": claim_key, **cond}}
        else:
            claim_op = {
                "Update": {
                    "TableName": self.table,
                    "Key": claim_key,
                    "UpdateExpression": "SET #s = :c REMOVE progress, lease_until",
                    **cond,
                    "ExpressionAttributeNames": {"#t": "token", "#s": "status"},
                    "ExpressionAttributeValues": {":t": {"S": held.token}, ":c": {"S": "COMPLETED"}},
                }
            }
        items = [claim_op]
        if fields:
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": f"audit#{audit_id}"}},
                        "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in fields),
                        "ExpressionAttributeNames": {f"#{k}": k for k in fields},
                        "ExpressionAttributeValues": {f":{k}": {"S": v} for k, v in fields.items()},
                    }
                }
            )
        self._transact(items, held, "finish")
        held.status = "COMPLETED"

    def abandon(self, held: Held) -> None:
        """An exception interrupted this run: end its lease now, keeping what it remembered, so that
        the platform's retry takes the claim over at once (best effort; a kill leaves it to the lease)."""
        for pk in (f"idem#{held.key}", *((f"lock#{held.lock}",) if held.lock and held.status == "IN_PROGRESS" else ())):
            try:
                self._client().update_item(
                    TableName=self.table,
                    Key={"pk": {"S": pk}},
                    UpdateExpression="SET lease_until = :zero",
                    ConditionExpression="#t = :t",
                    ExpressionAttributeNames={"#t": "token"},
                    ExpressionAttributeValues={":zero": {"N": "0"}, ":t": {"S": held.token}},
                )
            except (ClientError, BotoCoreError):
                pass  # the lease expires by itself

    def state(self, key: str) -> dict[str, Any] | None:
        """The claim as stored (operators, tests)."""
        try:
            item = self._client().get_item(TableName=self.table, Key={"pk": {"S": f"idem#{key}"}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        return _plain(item["Item"]) if "Item" in item else None

    # -- helpers -------------------------------------------------------------------------------------
    def _lock_delete(self, held: Held) -> dict[str, Any]:
        return {
            "Delete": {
                "TableName": self.table,
                "Key": {"pk": {"S": f"lock#{held.lock}"}},
                "ConditionExpression": "#t = :t",
                "ExpressionAttributeNames": {"#t": "token"},
                "ExpressionAttributeValues": {":t": {"S": held.token}},
            }
        }

    def _update_claim(self, held: Held, expression: str, values: dict[str, Any], pk: str | None = None) -> None:
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": pk or f"idem#{held.key}"}},
                UpdateExpression=expression,
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={**values, ":t": {"S": held.token}},
            )
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                raise RetryableError(f"claim {held.key} was taken over by another run; this one stops") from err
            raise classify(err) from err
        except BotoCoreError as err:
            raise classify(err) from err

    def _transact(self, items: list[dict[str, Any]], held: Held, what: str) -> None:
        try:
            self._client().transact_write_items(TransactItems=items)
        except ClientError as err:
            if error_code(err) == "TransactionCanceledException" and any(
                r.get("Code") == "ConditionalCheckFailed" for r in err.response.get("CancellationReasons") or []
            ):
                codes = [r.get("Code") for r in err.response.get("CancellationReasons") or []]
                raise RetryableError(
                    f"claim {held.key} was taken over by another run before {what} ({codes}); this one stops"
                ) from err
            raise classify(err) from err
        except BotoCoreError as err:
            raise classify(err) from err


def _if_same(seen: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    """The condition of a put over `seen` (the item as this run last read it): still that item, and
    its lease over (a live holder is never overwritten, however long this run waited), or nothing."""
    if seen is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    same = "#t = :seen" if "token" in seen else "attribute_not_exists(#t)"  # (written by an older version)
    values = {":now": {"N": str(int(now))}}
    if "token" in seen:
        values[":seen"] = seen["token"]
    return {
        "ConditionExpression": f"{same} AND lease_until < :now",
        "ExpressionAttributeNames": {"#t": "token"},
        "ExpressionAttributeValues": values,
    }


def _failed(reasons: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    if index < len(reasons) and reasons[index].get("Code") == "ConditionalCheckFailed":
        return reasons[index]
    return None


@dataclass
class AuditLog:
    clients: Clients
    table: str
    ttl_seconds: int = AUDIT_TTL

    def _client(self) -> Any:
        return self.clients.client("dynamodb")

    def item(self, result: Result, audit_id: str) -> dict[str, Any]:
        """The audit item of `result` (DynamoDB form), for `write` or the ledger's recording transaction."""
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
            "severity": {"S": result.severity.value},
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
                    "idempotency_key": {"S": target.idempotency_key},
                    "facts": {"S": _dynamo(target.facts)},
                }
            )
        for key in ("finding_id", "notification_id"):
            value = getattr(result, key)
            if value:
                item[key] = {"S": value}
        return item

    def write(self, result: Result, audit_id: str) -> None:
        """Write one audit item that no claim records (undo, rejected input, skipped events)."""
        item = self.item(result, audit_id)
        try:
            self._client().put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
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
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"audit#{audit_id}"}},
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err

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
