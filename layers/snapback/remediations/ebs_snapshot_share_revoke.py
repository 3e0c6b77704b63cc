"""Take back an EBS snapshot's create-volume permission given to everyone or to an account outside the organization.

Trigger: CloudTrail ModifySnapshotAttribute (successful calls only, never Snapback's own) whose
    `createVolumePermission.add` names the group `all` (public) or a user id (account) that is not
    a member of the organization (`not in_org(account)`). A share with accounts of the
    organization is SKIPPED. IAM Access Analyzer: an ACTIVE external-access finding on an
    AWS::EC2::Snapshot (the principals it reports; `*` means public).
Action: re-read the snapshot's createVolumePermission (DescribeSnapshotAttribute); remove
    (ModifySnapshotAttribute, operation remove) exactly the grants the trigger named that are
    still present and reach outside the organization - never a grant to an account of the
    organization, never one the event did not add; then read again to verify.
Undo: add the removed grants back (ModifySnapshotAttribute, operation add), only those missing.
Permissions: ec2:DescribeSnapshotAttribute, ec2:ModifySnapshotAttribute; the sweep:
    ec2:DescribeSnapshots.
Sweep (every configured Region): every snapshot the account owns (DescribeSnapshots, owner self)
    is read (DescribeSnapshotAttribute); one shared publicly or with an account outside the
    organization is a violation (every such grant is removed). One read per snapshot: accounts
    with many thousands of snapshots make the sweep long (it is paced per account).
Side effects: the outside account (or everyone) can no longer create volumes from the snapshot;
    volumes it already created are its own and stay. A sanctioned partner share belongs in an
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
from snapback.share_revoke import ShareRevoke, arn_account_region, arn_tail
from snapback.sharing import access_analyzer_pattern, items, strings
from snapback.triggers import Trigger, cloudtrail_pattern

ATTRIBUTE = "createVolumePermission"


def added_grants(request: Any) -> list[str]:
    """The grants a ModifySnapshotAttribute request adds: CloudTrail's createVolumePermission.add
    items ({"group": "all"} / {"userId": ...}), or the flat form (operationType add, userIds, groupNames)."""
    grants: list[str] = []
    permission = request.get(ATTRIBUTE)
    if isinstance(permission, dict):
        for item in items(permission.get("add")):
            grants += strings(item.get("group")) + strings(item.get("userId"))
    if str(request.get("operationType", "")).lower() == "add":
        for key in ("userId", "userIds", "groupName", "groupNames"):
            value = request.get(key)
            grants += strings(value) + [s for i in items(value) for s in strings(i.get("userId")) + strings(i.get("group"))]
    return sorted(set(grants))


@register
class EbsSnapshotShareRevoke(ShareRevoke):
    name = "ebs_snapshot_share_revoke"
    summary = "EBS snapshot shared publicly or outside the organization"
    severity = Severity.HIGH
    finding_type = "Effects/Data Exfiltration/EBS snapshot shared outside the organization"
    noun = "EBS snapshot"
    event_names = ("ModifySnapshotAttribute",)
    event_source = "ec2.amazonaws.com"
    analyzer_types = ("AWS::EC2::Snapshot",)
    triggers = (
        Trigger(
            id="cloudtrail",
            description="EBS snapshot create-volume permission changed",
            pattern=cloudtrail_pattern("aws.ec2", "ec2.amazonaws.com", ["ModifySnapshotAttribute"]),
        ),
        Trigger(
            id="access_analyzer",
            description="IAM Access Analyzer: EBS snapshot shared outside the zone of trust",
            pattern=access_analyzer_pattern(list(analyzer_types)),
        ),
    )
    permissions = ("ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute")
    call_budget = 13
    gone_codes = frozenset({"InvalidSnapshot.NotFound"})
    sweep_scope = "region"
    sweep_permissions = ("ec2:DescribeSnapshots",)

    def requested(self, call: CloudTrailCall) -> tuple[str, list[str]]:
        snapshot = call.request.get("snapshotId")
        if not isinstance(snapshot, str) or not snapshot.startswith("snap-"):
            raise MalformedEvent("ModifySnapshotAttribute names no snapshot (requestParameters.snapshotId)")
        added = added_grants(call.request)
        if not added:
            raise NotApplicable(f"the call adds no create-volume permission to {snapshot}")
        return snapshot, added

    def locate(self, account: str, region: str, resource: str) -> Target:
        snapshot = arn_tail(resource, "snapshot/")
        account, region = arn_account_region(resource, account, region)
        if not snapshot.startswith("snap-"):
            raise MalformedEvent(f"not an EBS snapshot id: {snapshot!r}")
        return Target(
            account=account,
            region=region,
            resource_type="AwsEc2Snapshot",
            resource_id=snapshot,
            resource_arn=f"arn:aws:ec2:{region}:{account}:snapshot/{snapshot}",
            idempotency_key="",
        )

    def read_grants(self, session: MemberSession, target: Target) -> list[str]:
        answer = session.client("ec2").describe_snapshot_attribute(SnapshotId=target.resource_id, Attribute=ATTRIBUTE)
        return sorted({p.get("Group") or p.get("UserId") for p in answer.get("CreateVolumePermissions", [])} - {None})

    def change_grants(self, session: MemberSession, target: Target, grants: list[str], *, add: bool) -> None:
        groups = [g for g in grants if g == self.everyone]
        users = [g for g in grants if g != self.everyone]
        session.client("ec2").modify_snapshot_attribute(
            SnapshotId=target.resource_id,
            Attribute=ATTRIBUTE,
            OperationType="add" if add else "remove",
            **({"GroupNames": groups} if groups else {}),
            **({"UserIds": users} if users else {}),
        )

    def owned(self, session: MemberSession, account: str, region: str) -> Iterable[str]:
        for page in session.client("ec2").get_paginator("describe_snapshots").paginate(OwnerIds=["self"]):
            for snapshot in page.get("Snapshots", []):
                # AWS answers only the account's own; the check keeps a public snapshot of another
                # owner (never ours to change) out even if a listing returned it.
                if snapshot.get("OwnerId") == account:
                    yield snapshot["SnapshotId"]
