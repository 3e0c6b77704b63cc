"""Last known good: state the sweep (or an earlier healthy read) saw, kept in Snapback's table so a
remediation can restore it after the resource was deleted or narrowed with no event to read it from.

One item per remediation, account, Region and key (`lkg#<remediation>#<account>#<region>[#<key>]`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, classify


@dataclass
class KnownGood:
    clients: Clients
    table: str
    remediation: str

    def _key(self, account: str, region: str, key: str) -> dict[str, Any]:
        suffix = f"#{key}" if key else ""
        return {"pk": {"S": f"lkg#{self.remediation}#{account}#{region}{suffix}"}}

    def recall(self, account: str, region: str, key: str = "") -> dict[str, Any] | None:
        """The state remembered for (account, region, key), or None."""
        try:
            item = self.clients.client("dynamodb").get_item(TableName=self.table, Key=self._key(account, region, key)).get("Item")
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        return json.loads(item["state"]["S"]) if item else None

    def remember(self, account: str, region: str, state: Mapping[str, Any], key: str = "") -> None:
        item = {
            **self._key(account, region, key),
            "kind": {"S": "last_known_good"},
            "recorded_at": {"S": datetime.now(UTC).isoformat()},
            "state": {"S": json.dumps(state, sort_keys=True, default=str)},
        }
        try:
            self.clients.client("dynamodb").put_item(TableName=self.table, Item=item)
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
