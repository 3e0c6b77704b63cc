"""ram_external_share_revoke: the full runtime under moto (guards, audit, notify, findings), with the member's
RAM client under botocore Stubber (moto has no RAM association API). Every RAM request is asserted
exactly: an unexpected call, or a principal too many, fails the test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.stub import Stubber

from snapback import registry
from snapback.outcomes import Outcome
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases
from tests.remediations.sharing_helpers import OUTSIDE, names, routed

NAME = "ram_external_share_revoke"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
FOREIGN_ORG = "arn:aws:organizations::999988887777:organization/o-forgn12345"
REGION = "us-east-1"


MOTO_LACKS = "moto has no RAM share associations; the RAM calls are answered by botocore Stubber"


def values(org: Any, account: str) -> dict[str, str]:
    share = f"arn:aws:ram:{REGION}:{account}:resource-share/{uuid.uuid4()}"
    org_arn = f"arn:aws:organizations::{org.management}:organization/{org.org_id}"
    return names(org, account, share=share, org_arn=org_arn, foreign_org=FOREIGN_ORG)


def associations(share: str, principals: list[str], status: str = "ASSOCIATED") -> dict[str, Any]:
    return {
        "resourceShareAssociations": [
            {"resourceShareArn": share, "associatedEntity": p, "associationType": "PRINCIPAL", "status": status, "external": True}
            for p in principals
        ]
    }


def expect_read(stub: Stubber, share: str, live: list[str], gone: list[str] = ()) -> None:
    answer = associations(share, live)
    answer["resourceShareAssociations"] += associations(share, list(gone), "DISASSOCIATING")["resourceShareAssociations"]
    stub.add_response("get_resource_share_associations", answer, {"associationType": "PRINCIPAL", "resourceShareArns": [share]})


@contextmanager
def stubbed_ram(runtime: Any, account: str) -> Iterator[Stubber]:
    client = runtime.clients.member(account, REGION, NAME).client("ram")
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def event_for(case: dict[str, Any], account: str, named: dict[str, str]) -> dict[str, Any]:
    record = cloudtrail_record(
        account,
        "ram.amazonaws.com",
        case["event"],
        fill(case["request"], **named),
        actor=case.get("actor", "developer"),
        response=fill(case.get("response"), **named),
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    account = org.members["member-a"]
    named = values(org, account)
    share = named["share"]
    event = event_for(case, account, named)
    assert routed(NAME, event) == case["routed"]
    runtime = runtime_for(org, NAME)
    associated = fill(case["associated"], **named)
    removed = fill(case["disassociate"], **named)
    with stubbed_ram(runtime, account) as stub:
        if case["expect"] in ("REMEDIATED", "ALREADY_COMPLIANT"):
            expect_read(stub, share, associated)
        if case["expect"] == "REMEDIATED":
            stub.add_response("disassociate_resource_share", {}, {"resourceShareArn": share, "principals": removed})
            expect_read(stub, share, [p for p in associated if p not in removed], gone=removed)
        (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] == "REMEDIATED":
        assert result.undo == {"disassociated": removed} and result.audit_id and result.finding_id


def test_undo_associates_the_removed_principal_again_once(org):
    from snapback.operations import undo

    account = org.members["member-a"]
    named = values(org, account)
    share, member_b = named["share"], named["member_b"]
    runtime = runtime_for(org, NAME)
    case = BY_NAME["associated with an outside account"]
    with stubbed_ram(runtime, account) as stub:
        expect_read(stub, share, [OUTSIDE, member_b])
        stub.add_response("disassociate_resource_share", {}, {"resourceShareArn": share, "principals": [OUTSIDE]})
        expect_read(stub, share, [member_b], gone=[OUTSIDE])
        (result,) = runtime.process(event_for(case, account, named), remediations=[NAME])
        expect_read(stub, share, [member_b])  # undo: the state now, compared with what Snapback left (no drift)
        expect_read(stub, share, [member_b])  # the hook: what is still missing
        stub.add_response("associate_resource_share", {}, {"resourceShareArn": share, "principals": [OUTSIDE]})
        expect_read(stub, share, [OUTSIDE, member_b])  # the after state, recorded
        assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    with stubbed_ram(runtime, account) as stub:  # the hook again: already associated, nothing sent
        expect_read(stub, share, [OUTSIDE, member_b])
        session = runtime.clients.member(account, REGION, NAME)
        assert "already has" in registry.get(NAME)().undo(session, result.target, result.undo)[0]


def test_a_share_in_another_account_is_not_reachable_from_this_event(org):
    account = org.members["member-a"]
    named = values(org, account)
    named["share"] = named["share"].replace(account, org.members["member-b"])
    runtime = runtime_for(org, NAME)
    with stubbed_ram(runtime, account):
        (result,) = runtime.process(event_for(BY_NAME["associated with an outside account"], account, named), remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and "names a resource in" in result.reason


def test_sweep_reads_only_external_shares_and_reports_those_with_outside_principals(org):
    account = org.members["member-a"]
    bad, fine = (f"arn:aws:ram:{REGION}:{account}:resource-share/{uuid.uuid4()}" for _ in range(2))
    internal = f"arn:aws:ram:{REGION}:{account}:resource-share/{uuid.uuid4()}"
    runtime = runtime_for(org, NAME)
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    shares = [
        {"resourceShareArn": bad, "allowExternalPrincipals": True},
        {"resourceShareArn": fine, "allowExternalPrincipals": True},
        {"resourceShareArn": internal, "allowExternalPrincipals": False},
    ]
    with stubbed_ram(runtime, account) as stub:
        stub.add_response(
            "get_resource_shares",
            {"resourceShares": shares[:2], "nextToken": "p2"},
            {"resourceOwner": "SELF", "resourceShareStatus": "ACTIVE"},
        )
        stub.add_response(
            "get_resource_shares",
            {"resourceShares": shares[2:]},
            {"resourceOwner": "SELF", "resourceShareStatus": "ACTIVE", "nextToken": "p2"},
        )
        expect_read(stub, bad, [OUTSIDE])
        expect_read(stub, fine, [org.members["member-b"]])
        session = runtime.clients.member(account, REGION, NAME)
        found = list(remediation.sweep(session, account, REGION, regions=[REGION]))
    assert [t.resource_arn for t in found] == [bad]


def test_declared_permissions_cover_every_ram_operation_used():
    """The thin client's operations (Stubber-checked above) map one to one to the declared actions."""
    declared = {*registry.get(NAME).permissions, *registry.get(NAME).sweep_permissions}
    used = {"GetResourceShareAssociations", "DisassociateResourceShare", "AssociateResourceShare", "GetResourceShares"}
    assert declared == {f"ram:{op}" for op in used}
