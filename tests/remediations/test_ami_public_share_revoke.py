"""ami_public_share_revoke under moto: an AMI in a member account, its launch permissions asserted."""

from __future__ import annotations

from typing import Any

import pytest

from snapback import pipeline, registry
from snapback.outcomes import Outcome
from snapback_ops.demo import base_image, cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases
from tests.remediations.sharing_helpers import names, routed

NAME = "ami_public_share_revoke"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
FOREIGN_ORG = "arn:aws:organizations::999988887777:organization/o-forgn12345"
KEYS = ("Group", "UserId", "OrganizationArn", "OrganizationalUnitArn")


def make_image(org: Any, member: str = "member-a") -> tuple[Any, str, str]:
    account = org.members[member]
    ec2 = org.session(account).client("ec2")
    base = base_image(ec2)
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    return ec2, account, ec2.create_image(InstanceId=instance, Name=f"golden-{instance}")["ImageId"]


def grants(ec2: Any, image: str) -> list[str]:
    perms = ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"]
    return sorted(next(p[k] for k in KEYS if p.get(k)) for p in perms)


def permission(grant: str) -> dict[str, str]:
    if grant == "all":
        return {"Group": "all"}
    return {"OrganizationArn": grant} if ":organization/" in grant else {"UserId": grant}


def values(org: Any, account: str, image: str) -> dict[str, str]:
    org_arn = f"arn:aws:organizations::{org.management}:organization/{org.org_id}"
    return names(org, account, image=image, org_arn=org_arn, foreign_org=FOREIGN_ORG)


def case_event(org: Any, case: dict[str, Any], ec2: Any, account: str, image: str) -> dict[str, Any]:
    named = values(org, account, image)
    setup = fill(case["setup"], **named)
    if setup:
        ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [permission(g) for g in setup]})
    record = cloudtrail_record(
        account,
        "ec2.amazonaws.com",
        case["event"],
        fill(case["request"], **named),
        actor=case.get("actor", "developer"),
        response={"requestId": "0e4c7b22-2b8f-4f1e-9e53-77d2c1a0b4f9", "_return": True},
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    ec2, account, image = make_image(org)
    event = case_event(org, case, ec2, account, image)
    assert routed(NAME, event) == case["routed"]
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    assert grants(ec2, image) == sorted(fill(case["after"], **values(org, account, image)))


def test_undo_restores_the_public_grant(org):
    from snapback.operations import undo

    ec2, account, image = make_image(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(org, BY_NAME["made public (group all)"], ec2, account, image), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and grants(ec2, image) == []
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE" and grants(ec2, image) == ["all"]


def test_sweep_reports_only_images_shared_outside(org):
    ec2, account, public = make_image(org)
    _, _, internal = make_image(org)
    ec2.modify_image_attribute(ImageId=public, LaunchPermission={"Add": [{"Group": "all"}]})
    ec2.modify_image_attribute(ImageId=internal, LaunchPermission={"Add": [{"UserId": org.members["member-b"]}]})
    runtime = runtime_for(org, NAME)
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    session = runtime.clients.member(account, "us-east-1", NAME)
    found = list(remediation.sweep(session, account, "us-east-1", regions=["us-east-1"]))
    assert [t.resource_id for t in found] == [public]
    assert pipeline.reconcile(runtime, remediation, found[0], period="2026-11-22", run_id="s").outcome is Outcome.REMEDIATED
    assert grants(ec2, public) == [] and grants(ec2, internal) == [org.members["member-b"]]


def test_declared_permissions_are_exactly_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    ec2, account, image = make_image(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("ec2")
    client.meta.events.register("before-call.ec2.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(case_event(org, BY_NAME["made public (group all)"], ec2, account, image), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert {f"ec2:{c}" for c in calls} == set(registry.get(NAME).permissions)
