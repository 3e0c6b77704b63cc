"""ebs_snapshot_share_revoke under moto: a snapshot in a member account, its create-volume permissions asserted."""

from __future__ import annotations

from typing import Any

import pytest

from snapback import pipeline, registry
from snapback.outcomes import Outcome
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, inject_error, load_cases
from tests.remediations.sharing_helpers import OUTSIDE, analyzer_event, names, routed

NAME = "ebs_snapshot_share_revoke"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
PUBLIC = BY_NAME["made public (group all)"]
MIXED = BY_NAME["public and an org account in one call: only the public grant goes"]


def make_snapshot(org: Any, member: str = "member-a") -> tuple[Any, str, str]:
    account = org.members[member]
    ec2 = org.session(account).client("ec2")
    volume = ec2.create_volume(Size=8, AvailabilityZone="us-east-1a")["VolumeId"]
    return ec2, account, ec2.create_snapshot(VolumeId=volume, Description="db backup")["SnapshotId"]


def grants(ec2: Any, snapshot: str) -> list[str]:
    perms = ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")["CreateVolumePermissions"]
    return sorted(p.get("Group") or p["UserId"] for p in perms)


def share(ec2: Any, snapshot: str, values: list[str], operation: str = "add") -> None:
    groups = [v for v in values if v == "all"]
    users = [v for v in values if v != "all"]
    if values:
        ec2.modify_snapshot_attribute(
            SnapshotId=snapshot,
            Attribute="createVolumePermission",
            OperationType=operation,
            **({"GroupNames": groups} if groups else {}),
            **({"UserIds": users} if users else {}),
        )


def case_event(org: Any, case: dict[str, Any], ec2: Any, account: str, snapshot: str) -> dict[str, Any]:
    """Perform the case's share in moto (what really happened), then return its event."""
    values = names(org, account, snapshot=snapshot)
    share(ec2, snapshot, fill(case["setup"], **values))
    if case.get("kind") == "analyzer":
        finding = fill(case["finding"], **values)
        arn = f"arn:aws:ec2:us-east-1:{account}:snapshot/{snapshot}"
        if finding["resourceType"] == "AWS::S3::Bucket":
            arn = "arn:aws:s3:::acme-exports"
        return analyzer_event(finding, account, arn)
    record = cloudtrail_record(
        account,
        "ec2.amazonaws.com",
        case["event"],
        fill(case["request"], **values),
        actor=case.get("actor", "developer"),
        response={"requestId": "5f2c8a1e-7f1b-4c35-9d2e-0c2f1a8b9e10", "_return": True},
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    ec2, account, snapshot = make_snapshot(org)
    event = case_event(org, case, ec2, account, snapshot)
    assert routed(NAME, event) == case["routed"]

    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    assert grants(ec2, snapshot) == sorted(fill(case["after"], **names(org, account)))
    if case["expect"] == "REMEDIATED":
        assert result.undo["revoked"] and set(result.undo["revoked"]).isdisjoint(grants(ec2, snapshot))
        assert result.after["offending"] == [] and result.finding_id and result.audit_id
        assert result.source_identity == f"snapback@{NAME}"


def test_undo_restores_exactly_the_revoked_grants_and_is_idempotent(org):
    from snapback.operations import undo

    ec2, account, snapshot = make_snapshot(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(org, MIXED, ec2, account, snapshot), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and grants(ec2, snapshot) == [org.members["member-b"]]

    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert grants(ec2, snapshot) == sorted(["all", org.members["member-b"]])
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"
    session = runtime.clients.member(account, "us-east-1", NAME)
    actions = registry.get(NAME)().undo(session, result.target, result.undo)
    assert "already shared" in actions[0] and grants(ec2, snapshot) == sorted(["all", org.members["member-b"]])


def test_a_grant_from_before_the_event_is_not_its_doing(org):
    """An outside share that predates the event stays for the sweep to report; the event's own grant goes."""
    ec2, account, snapshot = make_snapshot(org)
    share(ec2, snapshot, ["111122223333"])
    (result,) = runtime_for(org, NAME).process(case_event(org, PUBLIC, ec2, account, snapshot), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and result.undo["revoked"] == ["all"]
    assert grants(ec2, snapshot) == ["111122223333"]


def test_sweep_finds_outside_shares_only_of_own_snapshots_and_they_are_revoked(org):
    ec2, account, public = make_snapshot(org)
    _, _, internal = make_snapshot(org)
    _, _, private = make_snapshot(org)
    share(ec2, public, ["all", org.members["member-b"]])
    share(ec2, internal, [org.members["member-b"]])
    runtime = runtime_for(org, NAME)
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    session = runtime.clients.member(account, "us-east-1", NAME)
    found = list(remediation.sweep(session, account, "us-east-1", regions=["us-east-1"]))
    assert [t.resource_id for t in found] == [public]
    result = pipeline.reconcile(runtime, remediation, found[0], period="2026-11-22", run_id="sweep-1")
    assert result.outcome is Outcome.REMEDIATED
    assert grants(ec2, public) == [org.members["member-b"]] and grants(ec2, internal) == [org.members["member-b"]]
    assert grants(ec2, private) == []


def test_delegated_admin_analyzer_names_member_resources_but_a_member_cannot_name_another(org):
    ec2, account, snapshot = make_snapshot(org)
    share(ec2, snapshot, [OUTSIDE])
    finding = {"resourceType": "AWS::EC2::Snapshot", "principal": {"AWS": OUTSIDE}, "isPublic": False}
    arn = f"arn:aws:ec2:us-east-1:{account}:snapshot/{snapshot}"
    spoof = analyzer_event(finding, account, arn, event_account=org.members["member-b"])
    (skipped,) = runtime_for(org, NAME).process(spoof, remediations=[NAME])
    assert skipped.outcome is Outcome.SKIPPED and grants(ec2, snapshot) == [OUTSIDE]
    from_admin = analyzer_event(finding, account, arn, event_account=org.security)
    (result,) = runtime_for(org, NAME).process(from_admin, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and grants(ec2, snapshot) == []


def test_forged_source_is_not_acted_on(org):
    ec2, account, snapshot = make_snapshot(org)
    share(ec2, snapshot, ["all"])
    event = analyzer_event(
        {"resourceType": "AWS::EC2::Snapshot", "isPublic": True}, account, f"arn:aws:ec2:us-east-1:{account}:snapshot/{snapshot}"
    )
    event["source"] = "acme.access-analyzer"
    assert not routed(NAME, event)
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and grants(ec2, snapshot) == ["all"]


def test_notify_mode_changes_nothing(org):
    import dataclasses

    ec2, account, snapshot = make_snapshot(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: "notify"})
    (result,) = runtime.process(case_event(org, PUBLIC, ec2, account, snapshot), remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED and grants(ec2, snapshot) == ["all"]


def test_access_denied_fails_and_changes_nothing(org):
    ec2, account, snapshot = make_snapshot(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("ec2")
    inject_error(client, "ModifySnapshotAttribute", "UnauthorizedOperation")
    (result,) = runtime.process(case_event(org, PUBLIC, ec2, account, snapshot), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "UnauthorizedOperation" in result.reason
    assert grants(ec2, snapshot) == ["all"]


def test_a_snapshot_deleted_meanwhile_is_nothing_to_fix(org):
    ec2, account, snapshot = make_snapshot(org)
    event = case_event(org, PUBLIC, ec2, account, snapshot)
    ec2.delete_snapshot(SnapshotId=snapshot)
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT and "InvalidSnapshot.NotFound" in result.reason


def test_declared_permissions_are_exactly_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    ec2, account, snapshot = make_snapshot(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("ec2")
    client.meta.events.register("before-call.ec2.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(case_event(org, PUBLIC, ec2, account, snapshot), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert {f"ec2:{c}" for c in calls} == set(registry.get(NAME).permissions)
