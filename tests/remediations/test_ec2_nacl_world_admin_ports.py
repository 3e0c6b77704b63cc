"""ec2_nacl_world_admin_ports under moto: a real org, the member role assumed through STS, ACL entries asserted."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from snapback import registry
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback.sweep import Sweeper
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases

NAME = "ec2_nacl_world_admin_ports"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
SSH = BY_NAME["SSH from 0.0.0.0/0 allowed at rule 90"]


def make_acl(org: Any, member: str = "member-a") -> tuple[Any, str, str]:
    account = org.members[member]
    ec2 = org.session(account).client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    return ec2, account, acl


def entries(ec2: Any, acl: str) -> dict[tuple[int, bool], dict[str, Any]]:
    (found,) = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"]
    return {
        (e["RuleNumber"], e["Egress"]): {
            k: e.get(k) for k in ("Protocol", "RuleAction", "CidrBlock", "Ipv6CidrBlock", "PortRange")
        }
        for e in found["Entries"]
    }


def create(ec2: Any, acl: str, entry: dict[str, Any]) -> None:
    ec2.create_network_acl_entry(NetworkAclId=acl, **entry)


def perform(case: dict[str, Any], ec2: Any, account: str, acl: str) -> dict[str, Any]:
    """Create the case's existing entries, perform its request in moto (setup 'perform'), return its event."""
    for entry in case["existing"]:
        create(ec2, acl, entry)
    request = fill(case["request"], acl=acl)
    if case["setup"] == "perform":
        params: dict[str, Any] = {
            "NetworkAclId": acl,
            "RuleNumber": request["ruleNumber"],
            "Protocol": request["aclProtocol"],
            "RuleAction": request["ruleAction"],
            "Egress": request["egress"],
        }
        if "cidrBlock" in request:
            params["CidrBlock"] = request["cidrBlock"]
        else:
            params["Ipv6CidrBlock"] = request["ipv6CidrBlock"]
        if request.get("portRange"):
            params["PortRange"] = {"From": request["portRange"]["from"], "To": request["portRange"]["to"]}
        (ec2.replace_network_acl_entry if case["event"] == "ReplaceNetworkAclEntry" else ec2.create_network_acl_entry)(**params)
    record = cloudtrail_record(
        account,
        "ec2.amazonaws.com",
        case["event"],
        request,
        actor=case.get("actor", "developer"),
        response={"requestId": "a4c7e1d2-0f3b-4c59-8a61-7d2e9b0c1f34", "_return": True},
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


def routed(event: dict[str, Any]) -> bool:
    return any(matches(t.pattern, event) for t in registry.get(NAME).triggers)


def admin_world_open(found: dict[tuple[int, bool], dict[str, Any]], admin: tuple[int, ...] = (22, 3389)) -> bool:
    """Brute force, independent of the module: probe sample addresses across the space on ports 22/3389,
    first match by rule number, and say whether every probe of some (port, protocol, version) is allowed."""
    import ipaddress

    probes = {
        4: [ipaddress.IPv4Address(n << 24) for n in range(0, 256, 3)],
        6: [ipaddress.IPv6Address(n << 120) for n in range(0, 256, 3)],
    }
    ordered = sorted((k[0], e) for k, e in found.items() if not k[1])
    for version, addresses in probes.items():
        for port in admin:
            for protocol in ("6", "17"):
                allowed = 0
                for address in addresses:
                    for _, e in ordered:
                        cidr = e.get("CidrBlock") if version == 4 else e.get("Ipv6CidrBlock")
                        if not cidr or address not in ipaddress.ip_network(cidr):
                            continue
                        ports = e.get("PortRange") or {}
                        if e["Protocol"] != "-1" and (
                            e["Protocol"] != protocol or not ports.get("From", 0) <= port <= ports.get("To", 65535)
                        ):
                            continue
                        allowed += e["RuleAction"] == "allow"
                        break
                if allowed == len(addresses):
                    return True
    return False


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    ec2, account, acl = make_acl(org)
    event = perform(case, ec2, account, acl)
    assert routed(event) == case["routed"]
    before = entries(ec2, acl)

    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    after = entries(ec2, acl)
    if case["expect"] == "REMEDIATED":
        deleted = {(e["rule_number"], False) for e in result.undo["deleted"]}
        assert deleted == {(case["request"]["ruleNumber"], False)}  # exactly the event's entry
        assert admin_world_open(before) and not admin_world_open(after)
        assert after == {k: v for k, v in before.items() if k not in deleted}
        assert result.finding_id and result.notification_id and result.source_identity == f"snapback@{NAME}"
    else:
        assert after == before


def test_undo_recreates_the_entry_exactly_and_is_idempotent(org):
    from snapback.operations import undo

    ec2, account, acl = make_acl(org)
    runtime = runtime_for(org, NAME)
    case = BY_NAME["RDP over UDP from ::/0"]
    event = perform(case, ec2, account, acl)
    before = entries(ec2, acl)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and entries(ec2, acl) != before
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert entries(ec2, acl) == before
    actions = registry.get(NAME)().undo(runtime.clients.member(account, "us-east-1", NAME), result.target, result.undo)
    assert all("already present" in a for a in actions) and entries(ec2, acl) == before


def test_undo_never_overwrites_another_entry_in_the_rule_number(org):
    from snapback.errors import PermanentError

    ec2, account, acl = make_acl(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(perform(SSH, ec2, account, acl), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    create(ec2, acl, {"RuleNumber": 90, "Protocol": "6", "RuleAction": "allow", "Egress": False, "CidrBlock": "10.0.0.0/8",
                      "PortRange": {"From": 443, "To": 443}})  # fmt: skip
    owner = entries(ec2, acl)
    with pytest.raises(PermanentError, match="rule number 90 now holds another entry"):
        registry.get(NAME)().undo(runtime.clients.member(account, "us-east-1", NAME), result.target, result.undo)
    assert entries(ec2, acl) == owner


def test_a_replaced_entry_since_the_event_is_not_deleted(org):
    """The event said rule 90 = SSH from the world; the owner replaced it with HTTPS since: not ours."""
    ec2, account, acl = make_acl(org)
    event = perform(SSH, ec2, account, acl)
    ec2.replace_network_acl_entry(
        NetworkAclId=acl, RuleNumber=90, Protocol="6", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0",
        PortRange={"From": 443, "To": 443},
    )  # fmt: skip
    before = entries(ec2, acl)
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT and entries(ec2, acl) == before


def test_sweep_deletes_a_split_cover_and_leaves_wide_and_private_entries(org):
    ec2, account, acl = make_acl(org)
    for number, cidr, ports in ((10, "0.0.0.0/2", (22, 22)), (11, "64.0.0.0/2", (20, 25)), (12, "128.0.0.0/1", (0, 1023)),
                                (13, "10.0.0.0/8", (22, 22)), (14, "0.0.0.0/0", (1024, 65535))):  # fmt: skip
        create(ec2, acl, {"RuleNumber": number, "Protocol": "6", "RuleAction": "allow", "Egress": False, "CidrBlock": cidr,
                          "PortRange": {"From": ports[0], "To": ports[1]}})  # fmt: skip
    _, _, quiet = make_acl(org, "member-b")  # an ACL with nothing open: no violation
    runtime = runtime_for(org, NAME)
    summary = Sweeper(runtime, accounts=[account, org.members["member-b"]], regions=["us-east-1"], remediations=[NAME]).run()
    assert summary.errors == [] and summary.violations == 1, summary.found
    assert summary.found[0]["resource"].endswith(acl) and summary.found[0]["outcome"] == "REMEDIATED"
    left = entries(ec2, acl)
    assert sorted(k[0] for k in left if not k[1]) == [13, 14]  # the VPN entry inside 0.0.0.0/2 and the return-traffic range
    assert not admin_world_open(left, (22,))
    assert admin_world_open(left, (3389,))  # through the return-traffic range only: the security groups decide


def test_notify_mode_changes_nothing(org):
    ec2, account, acl = make_acl(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: "notify"})
    event = perform(SSH, ec2, account, acl)
    before = entries(ec2, acl)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED and "DeleteNetworkAclEntry" in result.actions[0] and entries(ec2, acl) == before


def test_admin_ports_are_configurable(org):
    ec2, account, acl = make_acl(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"admin_ports": [5985]}})
    (ssh,) = runtime.process(perform(SSH, ec2, account, acl), remediations=[NAME])
    assert ssh.outcome is Outcome.SKIPPED and "[5985]" in ssh.reason


def test_declared_permissions_are_exactly_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    ec2, account, acl = make_acl(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("ec2")
    client.meta.events.register("before-call.ec2.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(perform(SSH, ec2, account, acl), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert {f"ec2:{c}" for c in calls} == set(registry.get(NAME).permissions)
