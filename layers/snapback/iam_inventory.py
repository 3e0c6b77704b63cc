"""One account's IAM as the reconciliation sweep reads it: GetAccountAuthorizationDetails, once.

Every IAM check of the sweep (admin-equivalent grants, outside-org trust, the management
account's permission boundary) reads the same snapshot: the paginated
GetAccountAuthorizationDetails of the account, made once per sweep run and shared by the checks
that run in it. The snapshot is kept on the sweep's client factory (`session.clients`), so it
lives exactly as long as one sweep run (a new run, or an event, reads IAM afresh) and its pages
are paced like every other sweep call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snapback.clients import MemberSession
from snapback.policies import load_document

_CACHE_ATTRIBUTE = "_snapback_iam_inventory"


@dataclass
class IamInventory:
    users: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # managed policy ARN -> detail
    calls: int = 0  # pages read (GetAccountAuthorizationDetails calls)
    _documents: dict[str, Any] = field(default_factory=dict)

    def default_document(self, session: MemberSession, policy_arn: str) -> Mapping[str, Any]:
        """The default version's document of a managed policy: from the snapshot, else read once
        (an AWS managed policy that the snapshot did not list)."""
        if policy_arn in self._documents:
            return self._documents[policy_arn]
        detail = self.policies.get(policy_arn)
        document: Any = None
        if detail:
            document = next((v.get("Document") for v in detail.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
        if document is None:
            iam = session.client("iam")
            version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
        self._documents[policy_arn] = load_document(document)
        return self._documents[policy_arn]


def read(session: MemberSession) -> IamInventory:
    """The account's IAM snapshot for this sweep run: read on first use, shared afterwards."""
    cache: dict[str, IamInventory] | None = getattr(session.clients, _CACHE_ATTRIBUTE, None)
    if cache is None:
        cache = {}
        # The sweep's client factory lives for one run; an attribute on it is a cache of that lifetime.
        object.__setattr__(session.clients, _CACHE_ATTRIBUTE, cache)
    if session.account not in cache:
        inventory = IamInventory()
        for page in session.client("iam").get_paginator("get_account_authorization_details").paginate():
            inventory.calls += 1
            inventory.users += page.get("UserDetailList", [])
            inventory.groups += page.get("GroupDetailList", [])
            inventory.roles += page.get("RoleDetailList", [])
            inventory.policies.update({p["Arn"]: p for p in page.get("Policies", []) if p.get("Arn")})
        cache[session.account] = inventory
    return cache[session.account]
