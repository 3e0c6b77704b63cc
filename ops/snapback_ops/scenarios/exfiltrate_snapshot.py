"""Scenario: an intruder shares an EBS snapshot with the world to copy the disk out; a team shares one inside the org.

Shows the public share revoked (only that grant: a share with member-b on the same snapshot stays),
an org-internal share left alone (SKIPPED), an IAM Access Analyzer finding on a second snapshot
shared with an account outside the organization revoked from the finding alone, and the first
revocation undone by a human (the public grant is back exactly as it was).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from snapback.outcomes import Outcome
from snapback.sharing import ACCESS_ANALYZER_FINDING, ACCESS_ANALYZER_SOURCE
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit, emit_event, runtime_for

ORDER = 45
NAME = "ebs_snapshot_share_revoke"
OUTSIDE = "999988887777"  # the attacker's own account: no member of the organization


def grants(ec2: Any, snapshot: str) -> list[str]:
    perms = ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")["CreateVolumePermissions"]
    return sorted(p.get("Group") or p["UserId"] for p in perms)


def share_request(snapshot: str, items: list[dict[str, str]]) -> dict[str, Any]:
    """requestParameters as CloudTrail records ModifySnapshotAttribute."""
    return {
        "snapshotId": snapshot,
        "createVolumePermission": {"add": {"items": items}},
        "attributeType": "CREATE_VOLUME_PERMISSION",
    }


def analyzer_finding(account: str, snapshot: str, principal: str) -> dict[str, Any]:
    """An external-access finding as IAM Access Analyzer sends it to EventBridge (detail)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "version": "1.0",
        "id": str(uuid.uuid4()),
        "status": "ACTIVE",
        "resourceType": "AWS::EC2::Snapshot",
        "resource": f"arn:aws:ec2:us-east-1:{account}:snapshot/{snapshot}",
        "createdAt": now,
        "analyzedAt": now,
        "updatedAt": now,
        "accountId": account,
        "region": "us-east-1",
        "principal": {"AWS": principal},
        "action": ["ec2:CreateVolume"],
        "condition": {},
        "isPublic": False,
        "isDeleted": False,
    }


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """Snapshot exfiltration in member-a, answered from CloudTrail and from Access Analyzer, then undone."""
    from snapback.operations import undo

    account, partner = org.members["member-a"], org.members["member-b"]
    member = org.session(account)
    ec2 = member.client("ec2")
    volume = ec2.create_volume(Size=100, AvailabilityZone="us-east-1a")["VolumeId"]
    database, reports = (ec2.create_snapshot(VolumeId=volume, Description=d)["SnapshotId"] for d in ("orders-db", "reports"))
    internal = ec2.create_snapshot(VolumeId=volume, Description="golden-build")["SnapshotId"]
    timeline.add("setup", f"member-a ({account}): snapshots {database} (orders DB), {reports}, {internal}")

    ec2.modify_snapshot_attribute(SnapshotId=database, Attribute="createVolumePermission", OperationType="add", UserIds=[partner])
    ec2.modify_snapshot_attribute(
        SnapshotId=database, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    emit(
        member,
        cloudtrail_record(account, "ec2.amazonaws.com", "ModifySnapshotAttribute", share_request(database, [{"group": "all"}])),
    )
    timeline.add("attack", f"member-a: {database} made public (createVolumePermission group all) -> member default bus")

    ec2.modify_snapshot_attribute(SnapshotId=internal, Attribute="createVolumePermission", OperationType="add", UserIds=[partner])
    emit(
        member,
        cloudtrail_record(
            account, "ec2.amazonaws.com", "ModifySnapshotAttribute", share_request(internal, [{"userId": partner}])
        ),
    )
    timeline.add("change", f"member-a: {internal} shared with member-b ({partner}), inside the organization")

    ec2.modify_snapshot_attribute(SnapshotId=reports, Attribute="createVolumePermission", OperationType="add", UserIds=[OUTSIDE])
    emit_event(member, ACCESS_ANALYZER_SOURCE, ACCESS_ANALYZER_FINDING, analyzer_finding(account, reports, OUTSIDE))
    timeline.add(
        "attack",
        f"member-a: {reports} shared with {OUTSIDE} (its CloudTrail event never arrives); IAM Access Analyzer reports it",
    )

    results = deliver(org, account, timeline, expect=3)
    outcomes = {r.target.resource_id if r.target else "-": r.outcome.value for r in results}
    after = {s: grants(ec2, s) for s in (database, reports, internal)}
    timeline.add("verify", f"create-volume permissions read back as member-a: {after}")

    revoked = next((r for r in results if r.target and r.target.resource_id == database and r.audit_id), None)
    restored: list[str] = []
    if revoked is not None:
        answer = undo(runtime_for(org, NAME), revoked.audit_id)
        restored = grants(ec2, database)
        timeline.add("undo", f"on-call undoes audit {revoked.audit_id}: {answer['outcome']}; {database} grants now {restored}")
    return {
        "name": "exfiltrate_snapshot",
        "account": account,
        "outcomes": outcomes,
        "passed": outcomes
        == {database: Outcome.REMEDIATED.value, reports: Outcome.REMEDIATED.value, internal: Outcome.SKIPPED.value}
        and after == {database: [partner], reports: [], internal: [partner]}
        and restored == sorted(["all", partner]),
        "results": [r.as_dict() for r in results],
    }
