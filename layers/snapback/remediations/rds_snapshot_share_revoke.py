"""Take back an RDS DB snapshot's or DB cluster snapshot's `restore` share with everyone or an account outside the organization.

Trigger: CloudTrail ModifyDBSnapshotAttribute and ModifyDBClusterSnapshotAttribute (successful calls
    only, never Snapback's own) with attributeName `restore` whose valuesToAdd hold `all` (public)
    or an account that is not a member of the organization. A share with accounts of the
    organization is SKIPPED. IAM Access Analyzer: an ACTIVE external-access finding on an
    AWS::RDS::DBSnapshot or AWS::RDS::DBClusterSnapshot (the principals it reports; `*` is public).
Action: re-read the snapshot's attributes (DescribeDBSnapshotAttributes /
    DescribeDBClusterSnapshotAttributes); remove from `restore` (ModifyDB[Cluster]SnapshotAttribute
    valuesToRemove) exactly the values the trigger named that are still present and reach outside
    the organization; then read again to verify.
Undo: add the removed values back (valuesToAdd), only those missing.
Permissions: rds:DescribeDBSnapshotAttributes, rds:ModifyDBSnapshotAttribute,
    rds:DescribeDBClusterSnapshotAttributes, rds:ModifyDBClusterSnapshotAttribute; the sweep:
    rds:DescribeDBSnapshots, rds:DescribeDBClusterSnapshots.
Sweep (every configured Region): every manual DB snapshot and DB cluster snapshot of the account
    (automated ones cannot be shared) is read; one restorable by everyone or by an outside account
    is a violation (every such value is removed).
Side effects: the outside account (or everyone) can no longer restore or copy the snapshot;
    copies it already made are its own and stay. A sanctioned partner share belongs in an
    exemption (snapback.yaml), never in a tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from snapback.clients import MemberSession
from snapback.errors import MalformedEvent, NotApplicable
from snapback.events import CloudTrailCall
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.share_revoke import ShareRevoke, arn_account_region
from snapback.sharing import access_analyzer_pattern, strings
from snapback.triggers import Trigger, cloudtrail_pattern

RESTORE = "restore"
DB = "AwsRdsDbSnapshot"
CLUSTER = "AwsRdsDbClusterSnapshot"
EVENTS = {"ModifyDBSnapshotAttribute": DB, "ModifyDBClusterSnapshotAttribute": CLUSTER}


def _kind_and_name(resource: str) -> tuple[str, str]:
    """(ASFF type, snapshot name) of an RDS snapshot ARN (`:snapshot:` or `:cluster-snapshot:`)."""
    parts = resource.split(":", 6)
    if len(parts) == 7 and parts[2] == "rds" and parts[5] in ("snapshot", "cluster-snapshot") and parts[6]:
        return (DB if parts[5] == "snapshot" else CLUSTER), parts[6]
    raise MalformedEvent(f"not an RDS snapshot ARN: {resource!r}")


@register
class RdsSnapshotShareRevoke(ShareRevoke):
    name = "rds_snapshot_share_revoke"
    summary = "RDS snapshot shared publicly or outside the organization"
    severity = Severity.HIGH
    finding_type = "Effects/Data Exfiltration/RDS snapshot shared outside the organization"
    noun = "RDS snapshot"
    event_names = tuple(EVENTS)
    event_source = "rds.amazonaws.com"
    analyzer_types = ("AWS::RDS::DBClusterSnapshot", "AWS::RDS::DBSnapshot")
    triggers = (
        Trigger(
            id="cloudtrail",
            description="RDS DB (cluster) snapshot attribute changed",
            pattern=cloudtrail_pattern("aws.rds", "rds.amazonaws.com", list(EVENTS)),
        ),
        Trigger(
            id="access_analyzer",
            description="IAM Access Analyzer: RDS snapshot shared outside the zone of trust",
            pattern=access_analyzer_pattern(list(analyzer_types)),
        ),
    )
    permissions = (
        "rds:DescribeDBClusterSnapshotAttributes",
        "rds:DescribeDBSnapshotAttributes",
        "rds:ModifyDBClusterSnapshotAttribute",
        "rds:ModifyDBSnapshotAttribute",
    )
    call_budget = 13
    gone_codes = frozenset({"DBSnapshotNotFound", "DBSnapshotNotFoundFault", "DBClusterSnapshotNotFoundFault"})
    sweep_scope = "region"
    sweep_permissions = ("rds:DescribeDBClusterSnapshots", "rds:DescribeDBSnapshots")

    def requested(self, call: CloudTrailCall) -> tuple[str, list[str]]:
        kind = EVENTS[call.event_name]
        key = "dBSnapshotIdentifier" if kind == DB else "dBClusterSnapshotIdentifier"
        name = call.request.get(key)
        if not isinstance(name, str) or not name:
            raise MalformedEvent(f"{call.event_name} names no snapshot (requestParameters.{key})")
        if str(call.request.get("attributeName", "")).lower() != RESTORE:
            raise NotApplicable(f"attribute {call.request.get('attributeName')!r} is not the restore (share) attribute")
        added = sorted(set(strings(call.request.get("valuesToAdd"))))
        if not added:
            raise NotApplicable(f"the call adds no restore value to {name}")
        if name.startswith("arn:"):
            return name, added
        segment = "snapshot" if kind == DB else "cluster-snapshot"
        return f"arn:aws:rds:{call.region}:{call.recipient_account or call.actor.account_id}:{segment}:{name}", added

    def locate(self, account: str, region: str, resource: str) -> Target:
        account, region = arn_account_region(resource, account, region)
        kind, name = _kind_and_name(resource)
        segment = "snapshot" if kind == DB else "cluster-snapshot"
        return Target(
            account=account,
            region=region,
            resource_type=kind,
            resource_id=name,
            resource_arn=f"arn:aws:rds:{region}:{account}:{segment}:{name}",
            idempotency_key="",
        )

    def read_grants(self, session: MemberSession, target: Target) -> list[str]:
        rds = session.client("rds")
        if target.resource_type == DB:
            answer = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=target.resource_id)
            attributes = answer["DBSnapshotAttributesResult"].get("DBSnapshotAttributes", [])
        else:
            answer = rds.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=target.resource_id)
            attributes = answer["DBClusterSnapshotAttributesResult"].get("DBClusterSnapshotAttributes", [])
        return sorted({v for a in attributes if a.get("AttributeName") == RESTORE for v in a.get("AttributeValues", [])})

    def change_grants(self, session: MemberSession, target: Target, grants: list[str], *, add: bool) -> None:
        values: dict[str, Any] = {"AttributeName": RESTORE, ("ValuesToAdd" if add else "ValuesToRemove"): grants}
        rds = session.client("rds")
        if target.resource_type == DB:
            rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=target.resource_id, **values)
        else:
            rds.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier=target.resource_id, **values)

    def owned(self, session: MemberSession, account: str, region: str) -> Iterable[str]:
        rds = session.client("rds")
        for page in rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
            for snapshot in page.get("DBSnapshots", []):
                yield (
                    snapshot.get("DBSnapshotArn") or f"arn:aws:rds:{region}:{account}:snapshot:{snapshot['DBSnapshotIdentifier']}"
                )
        for page in rds.get_paginator("describe_db_cluster_snapshots").paginate(SnapshotType="manual"):
            for snapshot in page.get("DBClusterSnapshots", []):
                yield snapshot.get("DBClusterSnapshotArn") or (
                    f"arn:aws:rds:{region}:{account}:cluster-snapshot:{snapshot['DBClusterSnapshotIdentifier']}"
                )
