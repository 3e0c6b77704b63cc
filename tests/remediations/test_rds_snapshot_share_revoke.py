"""rds_snapshot_share_revoke under moto: DB and DB cluster snapshots in a member account, restore values asserted."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from snapback import registry
from snapback.outcomes import Outcome
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases
from tests.remediations.sharing_helpers import analyzer_event, names, routed

NAME = "rds_snapshot_share_revoke"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}


def make_snapshot(org: Any, cluster: bool = False, member: str = "member-a") -> tuple[Any, str, str]:
    account = org.members[member]
    rds = org.session(account).client("rds")
    tag = uuid.uuid4().hex[:8]
    if cluster:
        rds.create_db_cluster(
            DBClusterIdentifier=f"c-{tag}", Engine="aurora-postgresql", MasterUsername="admin", MasterUserPassword="password123"
        )
        rds.create_db_cluster_snapshot(DBClusterIdentifier=f"c-{tag}", DBClusterSnapshotIdentifier=f"cs-{tag}")
        return rds, account, f"cs-{tag}"
    rds.create_db_instance(
        DBInstanceIdentifier=f"db-{tag}",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    rds.create_db_snapshot(DBInstanceIdentifier=f"db-{tag}", DBSnapshotIdentifier=f"s-{tag}")
    return rds, account, f"s-{tag}"


def restore_values(rds: Any, name: str, cluster: bool) -> list[str]:
    if cluster:
        result = rds.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=name)[
            "DBClusterSnapshotAttributesResult"
        ]
        attributes = result["DBClusterSnapshotAttributes"]
    else:
        attributes = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=name)["DBSnapshotAttributesResult"][
            "DBSnapshotAttributes"
        ]
    return sorted(v for a in attributes if a["AttributeName"] == "restore" for v in a["AttributeValues"])


def share(rds: Any, name: str, cluster: bool, values: list[str]) -> None:
    if not values:
        return
    if cluster:
        rds.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier=name, AttributeName="restore", ValuesToAdd=values)
    else:
        rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=name, AttributeName="restore", ValuesToAdd=values)


def case_event(org: Any, case: dict[str, Any], rds: Any, account: str, name: str) -> dict[str, Any]:
    cluster = bool(case.get("cluster"))
    named = names(org, account, name=name)
    share(rds, name, cluster, fill(case["setup"], **named))
    if case.get("kind") == "analyzer":
        arn = f"arn:aws:rds:us-east-1:{account}:{'cluster-snapshot' if cluster else 'snapshot'}:{name}"
        return analyzer_event(fill(case["finding"], **named), account, arn)
    record = cloudtrail_record(
        account,
        "rds.amazonaws.com",
        case["event"],
        fill(case["request"], **named),
        actor=case.get("actor", "developer"),
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    cluster = bool(case.get("cluster"))
    rds, account, name = make_snapshot(org, cluster)
    event = case_event(org, case, rds, account, name)
    assert routed(NAME, event) == case["routed"]
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    assert restore_values(rds, name, cluster) == sorted(fill(case["after"], **names(org, account)))


@pytest.mark.parametrize("cluster", [False, True], ids=["db-snapshot", "cluster-snapshot"])
def test_undo_restores_the_removed_values(org, cluster):
    from snapback.operations import undo

    rds, account, name = make_snapshot(org, cluster)
    case = BY_NAME["cluster snapshot shared with an outside account" if cluster else "DB snapshot made public"]
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(org, case, rds, account, name), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and restore_values(rds, name, cluster) == []
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert restore_values(rds, name, cluster) == (["999988887777"] if cluster else ["all"])


def test_sweep_finds_db_and_cluster_snapshots_shared_outside(org):
    rds, account, public = make_snapshot(org)
    _, _, internal = make_snapshot(org)
    _, _, cluster = make_snapshot(org, cluster=True)
    share(rds, public, False, ["all"])
    share(rds, internal, False, [org.members["member-b"]])
    share(rds, cluster, True, ["999988887777"])
    runtime = runtime_for(org, NAME)
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    session = runtime.clients.member(account, "us-east-1", NAME)
    found = sorted(t.resource_id for t in remediation.sweep(session, account, "us-east-1", regions=["us-east-1"]))
    assert found == sorted([public, cluster])


def test_declared_permissions_are_exactly_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    runtime = runtime_for(org, NAME)
    for cluster in (False, True):
        rds, account, name = make_snapshot(org, cluster)
        client = runtime.clients.member(account, "us-east-1", NAME).client("rds")
        client.meta.events.register("before-call.rds.*", lambda model, **_: calls.add(model.name))
        case = BY_NAME["cluster snapshot shared with an outside account" if cluster else "DB snapshot made public"]
        (result,) = runtime.process(case_event(org, case, rds, account, name), remediations=[NAME])
        undo(runtime, result.audit_id)
    assert {f"rds:{c}" for c in calls} == set(registry.get(NAME).permissions)
