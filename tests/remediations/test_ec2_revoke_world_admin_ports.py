"""ec2_revoke_world_admin_ports under moto: a real org, the member role assumed through STS, state asserted.

moto gap: AuthorizeSecurityGroupIngress answers with only the last rule it created in
`SecurityGroupRules`; the CloudTrail `securityGroupRuleSet` of the fixtures is therefore read back
with DescribeSecurityGroupRules (every created rule, as CloudTrail records them).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import Any

import pytest

from snapback import registry
from snapback.config import Exemption
from snapback.events import SECURITYHUB_IMPORTED, normalise
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import envelope, fill, inject_error, load_cases, service_event

NAME = "ec2_revoke_world_admin_ports"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
SSH = BY_NAME["SSH from 0.0.0.0/0, rule ids recorded"]
MIXED = BY_NAME["one permission, world and private CIDRs: only the world rule goes"]


def _items(value: Any) -> list[dict[str, Any]]:
    return value.get("items", []) if isinstance(value, dict) else value or []


def ip_permissions(request: dict[str, Any]) -> list[dict[str, Any]]:
    """boto3 IpPermissions for a CloudTrail AuthorizeSecurityGroupIngress request."""
    if "cidrIp" in request:
        return [
            {
                "IpProtocol": request["ipProtocol"],
                "FromPort": request["fromPort"],
                "ToPort": request["toPort"],
                "IpRanges": [{"CidrIp": request["cidrIp"]}],
            }
        ]
    out = []
    for p in _items(request["ipPermissions"]):
        permission: dict[str, Any] = {"IpProtocol": p["ipProtocol"]}
        if "fromPort" in p:
            permission.update(FromPort=p["fromPort"], ToPort=p["toPort"])
        ranges = [
            {"CidrIp": r["cidrIp"], **({"Description": r["description"]} if "description" in r else {})}
            for r in _items(p.get("ipRanges"))
        ]
        ranges6 = [
            {"CidrIpv6": r["cidrIpv6"], **({"Description": r["description"]} if "description" in r else {})}
            for r in _items(p.get("ipv6Ranges"))
        ]
        groups = [{"GroupId": g["groupId"]} for g in _items(p.get("groups"))]
        permission.update(IpRanges=ranges, Ipv6Ranges=ranges6, UserIdGroupPairs=groups)
        out.append(permission)
    return out


def rules_of(ec2: Any, group: str) -> dict[str, dict[str, Any]]:
    items = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    return {r["SecurityGroupRuleId"]: r for r in items if not r["IsEgress"]}


def shape(rule: dict[str, Any]) -> tuple[Any, ...]:
    return (
        rule["IpProtocol"],
        rule.get("FromPort"),
        rule.get("ToPort"),
        rule.get("CidrIpv4") or rule.get("CidrIpv6"),
        rule.get("Description"),
    )


def world_admin(rule: dict[str, Any], ports: tuple[int, ...] = (22, 3389)) -> bool:
    cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    if cidr not in ("0.0.0.0/0", "::/0"):
        return False
    return admits_admin(rule, ports)


def admits_admin(rule: dict[str, Any], ports: tuple[int, ...] = (22, 3389), protocol: str | None = None) -> bool:
    if rule["IpProtocol"] == "-1":
        return True
    if protocol is not None and rule["IpProtocol"] != protocol:
        return False
    return rule["IpProtocol"] in ("tcp", "udp") and any(rule["FromPort"] <= p <= rule["ToPort"] for p in ports)


def world_open_ports(rules: Any, ports: tuple[int, ...] = (22, 3389)) -> set[tuple[int, str, int]]:
    """(port, protocol, IP version) that the union of the rules' CIDRs opens to everyone: computed here
    with the standard library alone, independently of the module's cover search."""
    everyone = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}
    out = set()
    for port in ports:
        for protocol in ("tcp", "udp"):
            for version in (4, 6):
                nets = [
                    ipaddress.ip_network(r.get("CidrIpv4") or r.get("CidrIpv6"))
                    for r in rules
                    if (r.get("CidrIpv4") or r.get("CidrIpv6"))
                    and ipaddress.ip_network(r.get("CidrIpv4") or r.get("CidrIpv6")).version == version
                    and admits_admin(r, (port,), protocol)
                ]
                if nets and list(ipaddress.collapse_addresses(nets)) == [everyone[version]]:
                    out.add((port, protocol, version))
    return out


def make_group(org: Any, member: str = "member-a") -> tuple[Any, str, str]:
    account = org.members[member]
    ec2 = org.session(account).client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName=f"web-{vpc}", Description="web tier", VpcId=vpc)["GroupId"]
    return ec2, account, group


def authorize_event(case: dict[str, Any], ec2: Any, account: str, group: str) -> dict[str, Any]:
    """Perform the case's call in moto (setup 'authorize') and return its CloudTrail event."""
    request = fill(case["request"], group=group)
    response = None
    if case["setup"] == "modify":
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=case["initial"])
        (rule_id,) = rules_of(ec2, group)
        request = fill(case["request"], group=group, rule=rule_id)
        update = request["ModifySecurityGroupRulesRequest"]["SecurityGroupRule"]
        ec2.modify_security_group_rules(
            GroupId=group,
            SecurityGroupRules=[
                {"SecurityGroupRuleId": update["SecurityGroupRuleId"], "SecurityGroupRule": update["SecurityGroupRule"]}
            ],
        )
        response = {"requestId": "5d1a6ba8-2c55-4c0e-9f3e-0b8a3c8e5b21", "_return": True}
    if case["setup"] == "authorize":
        before = rules_of(ec2, group)
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ip_permissions(request))
        created = [r for rid, r in rules_of(ec2, group).items() if rid not in before]
        response = {"requestId": "1007f69c-2ccf-4240-a0ed-0d15ea353e94", "_return": True}
        if case.get("response"):
            response["securityGroupRuleSet"] = {
                "items": [
                    {
                        "groupOwnerId": account,
                        "groupId": group,
                        "securityGroupRuleId": r["SecurityGroupRuleId"],
                        "isEgress": False,
                        "ipProtocol": r["IpProtocol"],
                        "fromPort": r.get("FromPort", -1),
                        "toPort": r.get("ToPort", -1),
                        **({"cidrIpv4": r["CidrIpv4"]} if "CidrIpv4" in r else {}),
                        **({"cidrIpv6": r["CidrIpv6"]} if "CidrIpv6" in r else {}),
                        **({"description": r["Description"]} if r.get("Description") else {}),
                    }
                    for r in created
                    if "CidrIpv4" in r or "CidrIpv6" in r
                ]
            }
    record = cloudtrail_record(
        account,
        "ec2.amazonaws.com",
        case["event"],
        request,
        actor=case.get("actor", "developer"),
        response=response,
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


def routed(event: dict[str, Any]) -> bool:
    return any(matches(t.pattern, event) for t in registry.get(NAME).triggers)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    ec2, account, group = make_group(org)
    event = authorize_event(case, ec2, account, group)
    assert routed(event) == case["routed"]
    before = rules_of(ec2, group)

    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    after = rules_of(ec2, group)
    if case["expect"] == "REMEDIATED":
        revoked = {r["rule_id"] for r in result.undo["revoked"]}
        assert world_open_ports(before.values()) and revoked and revoked <= set(before)
        assert set(after) == set(before) - revoked  # every other rule stays, untouched
        assert not world_open_ports(after.values())
        # exactly a cover: the revoked rules open a port to everyone, and none of them is redundant in it
        opened = world_open_ports([before[k] for k in revoked])
        assert opened
        for rid in revoked:
            assert world_open_ports([before[k] for k in revoked - {rid}]) != opened, f"{rid} revoked, not needed"
        assert result.after["open_rules"] == [] and len(result.before["open_rules"]) == len(revoked)
        assert result.finding_id and result.notification_id and result.audit_id
        assert result.source_identity == "snapback@ec2_revoke_world_admin_ports"
    else:
        assert after == before  # nothing changed


def test_mixed_permission_keeps_private_cidr_and_other_ports(org):
    ec2, account, group = make_group(org)
    (result,) = runtime_for(org, NAME).process(authorize_event(MIXED, ec2, account, group), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    assert sorted(shape(r) for r in rules_of(ec2, group).values()) == [
        ("tcp", 22, 22, "10.20.0.0/16", "vpn"),
        ("tcp", 443, 443, "0.0.0.0/0", None),
    ]


@pytest.mark.parametrize("with_ids", [True, False], ids=["rule-ids", "permissions"])
def test_only_the_rules_this_call_authorized_are_revoked(org, with_ids):
    """A world-open SSH rule that predates the event is not this event's doing: it stays (EC2.13 reports it)."""
    ec2, account, group = make_group(org)
    ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    old = set(rules_of(ec2, group))
    case = dict(BY_NAME["RDP from ::/0, no rule ids recorded"], response=with_ids)
    (result,) = runtime_for(org, NAME).process(authorize_event(case, ec2, account, group), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    assert set(rules_of(ec2, group)) == old
    assert [r["cidr"] for r in result.undo["revoked"]] == ["::/0"]


def test_undo_restores_the_exact_rules_and_is_idempotent(org):
    from snapback.operations import undo

    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    event = authorize_event(MIXED, ec2, account, group)
    before = sorted(shape(r) for r in rules_of(ec2, group).values())
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and sorted(shape(r) for r in rules_of(ec2, group).values()) != before

    first = undo(runtime, result.audit_id)
    assert first["outcome"] == "UNDONE" and sorted(shape(r) for r in rules_of(ec2, group).values()) == before
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"
    # the hook itself is idempotent too: a rule already back counts as restored, nothing is duplicated
    remediation = registry.get(NAME)()
    session = runtime.clients.member(account, "us-east-1", NAME)
    actions = remediation.undo(session, result.target, result.undo)
    assert all("already present" in a for a in actions)
    assert sorted(shape(r) for r in rules_of(ec2, group).values()) == before


def test_undo_when_the_group_is_gone_fails_loudly(org):
    from snapback.errors import PermanentError

    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(authorize_event(SSH, ec2, account, group), remediations=[NAME])
    ec2.delete_security_group(GroupId=group)
    session = runtime.clients.member(account, "us-east-1", NAME)
    with pytest.raises(PermanentError, match="no longer exists"):
        registry.get(NAME)().undo(session, result.target, result.undo)


def test_admin_ports_are_configurable(org):
    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"admin_ports": [2222]}})
    (ssh,) = runtime.process(authorize_event(SSH, ec2, account, group), remediations=[NAME])
    assert ssh.outcome is Outcome.SKIPPED and "[2222]" in ssh.reason
    custom = {
        **SSH,
        "request": {
            "groupId": "{group}",
            "ipPermissions": {
                "items": [
                    {"ipProtocol": "tcp", "fromPort": 2000, "toPort": 2999, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}
                ]
            },
        },
    }
    (result,) = runtime.process(authorize_event(custom, ec2, account, group), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    assert sorted(shape(r) for r in rules_of(ec2, group).values()) == [("tcp", 22, 22, "0.0.0.0/0", None)]


def test_duplicate_deliveries_act_once(org):
    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    event = authorize_event(SSH, ec2, account, group)
    outcomes = [r.outcome for _ in range(3) for r in runtime.process(event, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.SKIPPED]


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing_but_say_what_they_would_do(org, mode, outcome):
    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    event = authorize_event(SSH, ec2, account, group)
    before = rules_of(ec2, group)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is outcome and result.mode == mode
    assert result.actions and "RevokeSecurityGroupIngress" in result.actions[0] and "tcp 22 from 0.0.0.0/0" in result.actions[0]
    assert rules_of(ec2, group) == before


def test_notify_then_approve_revokes(org):
    from snapback.operations import approve

    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: "notify"})
    (notified,) = runtime.process(authorize_event(SSH, ec2, account, group), remediations=[NAME])
    approved = approve(runtime, notified.audit_id, "alice")
    assert approved.outcome is Outcome.REMEDIATED and not any(world_admin(r) for r in rules_of(ec2, group).values())


def test_exempt_group_is_left_alone(org):
    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    arn = f"arn:aws:ec2:us-east-1:{account}:security-group/{group}"
    runtime.config = dataclasses.replace(runtime.config, exemptions=(Exemption(reason="bastion", resources=(arn,)),))
    event = authorize_event(SSH, ec2, account, group)
    before = rules_of(ec2, group)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.EXEMPT and rules_of(ec2, group) == before


def test_access_denied_in_the_member_is_a_failed_outcome_told_to_on_call(org):
    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    inject_error(
        runtime.clients.member(account, "us-east-1", NAME).client("ec2"), "RevokeSecurityGroupIngress", "UnauthorizedOperation"
    )
    event = authorize_event(SSH, ec2, account, group)
    before = rules_of(ec2, group)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "UnauthorizedOperation" in result.reason
    assert result.notification_id and result.finding_id
    assert rules_of(ec2, group) == before
    (again,) = runtime_for(org, NAME).process(event, remediations=[NAME])  # claim released: a redrive works
    assert again.outcome is Outcome.REMEDIATED


def test_throttling_raises_for_the_platform_to_retry(org):
    from snapback.errors import RetryableError

    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    inject_error(
        runtime.clients.member(account, "us-east-1", NAME).client("ec2"),
        "RevokeSecurityGroupIngress",
        "RequestLimitExceeded",
        503,
    )
    event = authorize_event(SSH, ec2, account, group)
    with pytest.raises(RetryableError):
        runtime.process(event, remediations=[NAME])
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED


def test_a_group_deleted_meanwhile_is_nothing_to_fix(org):
    ec2, account, group = make_group(org)
    event = authorize_event(SSH, ec2, account, group)
    ec2.delete_security_group(GroupId=group)
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT and "InvalidGroup.NotFound" in result.reason


def test_event_without_a_group_id_is_rejected(org):
    ec2, account, group = make_group(org)
    event = authorize_event(BY_NAME["stale event: the rule is already gone"], ec2, account, group)
    event["detail"]["requestParameters"] = {"groupName": "default", "ipPermissions": SSH["request"]["ipPermissions"]}
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.REJECTED and "names no security group id" in result.reason


# -- Security Hub controls ----------------------------------------------------------------------


def control_event(
    org: Any, account: str, group: str, control: str, permissions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    details: dict[str, Any] = {"GroupId": group, "GroupName": "web", "OwnerId": account}
    if permissions is not None:
        details["IpPermissions"] = permissions
    finding = {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:us-east-1:{account}:security-control/{control}/finding/0b4c-{group}",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "GeneratorId": f"security-control/{control}",
        "AwsAccountId": account,
        "Region": "us-east-1",
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "Title": "Security groups should not allow ingress from 0.0.0.0/0 or ::/0 to port 22",
        "Severity": {"Label": "HIGH", "Normalized": 70},
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [
            {
                "Type": "AwsEc2SecurityGroup",
                "Id": f"arn:aws:ec2:us-east-1:{account}:security-group/{group}",
                "Partition": "aws",
                "Region": "us-east-1",
                "Details": {"AwsEc2SecurityGroup": details},
            }
        ],
    }
    return service_event("aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [finding]}, org.security).as_dict()


def open_group(org: Any) -> tuple[Any, str, str]:
    ec2, account, group = make_group(org)
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/8"}]},
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )
    return ec2, account, group


@pytest.mark.parametrize("control", ["EC2.13", "EC2.14", "EC2.19"])
def test_failed_control_revokes_every_world_open_admin_rule_of_the_group(org, control):
    ec2, account, group = open_group(org)
    event = control_event(org, account, group, control)
    assert routed(as_eventbridge_sees_it(event))
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert sorted(shape(r) for r in rules_of(ec2, group).values()) == [
        ("tcp", 22, 22, "10.0.0.0/8", None),
        ("tcp", 443, 443, "0.0.0.0/0", None),
    ]
    assert result.target.facts["source_finding"]["Id"].endswith(group)


def test_ec2_19_for_other_high_risk_ports_is_not_ours(org):
    ec2, account, group = make_group(org)
    mysql = [{"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=mysql)
    before = rules_of(ec2, group)
    (result,) = runtime_for(org, NAME).process(control_event(org, account, group, "EC2.19", mysql), remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and "lists no rule opening admin ports" in result.reason
    assert rules_of(ec2, group) == before


def as_eventbridge_sees_it(event: dict[str, Any]) -> dict[str, Any]:
    """The one-element form: both shapes must route alike (see the test below for the array form)."""
    (finding,) = event["detail"]["findings"]
    return {**event, "detail": {**event["detail"], "findings": finding}}


def test_control_patterns_select_only_aws_findings_of_these_controls(org):
    ec2, account, group = make_group(org)
    assert routed(as_eventbridge_sees_it(control_event(org, account, group, "EC2.13")))
    assert not routed(as_eventbridge_sees_it(control_event(org, account, group, "EC2.18")))
    forged = control_event(org, account, group, "EC2.13")
    forged["detail"]["findings"][0]["ProductArn"] = f"arn:aws:securityhub:us-east-1:{account}:product/{account}/default"
    assert not routed(as_eventbridge_sees_it(forged))
    failed_then_fixed = control_event(org, account, group, "EC2.13")
    failed_then_fixed["detail"]["findings"][0]["Compliance"]["Status"] = "PASSED"
    assert not routed(as_eventbridge_sees_it(failed_then_fixed))


def test_control_pattern_matches_the_findings_array_as_eventbridge_does(org):
    ec2, account, group = make_group(org)
    assert routed(control_event(org, account, group, "EC2.13"))


def test_no_shared_real_event_is_routed_here():
    """None of the public samples is a security-group change; none must select this remediation."""
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - rejected inputs are covered by the corpus test
            continue
        for env in envelopes:
            assert not routed(json.loads(json.dumps(env.as_dict()))), path.name


def test_declared_permissions_are_exactly_the_calls_made(org):
    """Record every member-account call of inspect, apply, verify and undo; map to IAM actions."""
    from snapback.operations import undo

    calls: set[str] = set()
    ec2, account, group = make_group(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("ec2")
    client.meta.events.register("before-call.ec2.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(authorize_event(MIXED, ec2, account, group), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert {f"ec2:{c}" for c in calls} == set(registry.get(NAME).permissions)


# -- split covers (issue 14 item 6) ---------------------------------------------------------------


def test_a_half_that_completes_an_existing_half_is_revoked_alone(org):
    """0.0.0.0/1 on SSH predates the event; the call adds 128.0.0.0/1: only the call's rule goes,
    and the group is no longer world-open (the old half alone covers nothing)."""
    ec2, account, group = make_group(org)
    ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/1"}]}]
    )
    old = set(rules_of(ec2, group))
    case = {
        **SSH,
        "request": {
            "groupId": "{group}",
            "ipPermissions": {
                "items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "128.0.0.0/1"}]}}]
            },
        },
    }
    (result,) = runtime_for(org, NAME).process(authorize_event(case, ec2, account, group), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert set(rules_of(ec2, group)) == old and [r["cidr"] for r in result.undo["revoked"]] == ["128.0.0.0/1"]
    assert not world_open_ports(rules_of(ec2, group).values())


def test_sweep_finds_split_covers_and_leaves_partial_groups(org):
    from snapback.sweep import Sweeper

    ec2, account, split = make_group(org)
    ec2.authorize_security_group_ingress(
        GroupId=split,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "10.0.0.0/8"}]},
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "128.0.0.0/1"}]},
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )
    partial = ec2.create_security_group(GroupName="partial", Description="half", VpcId=ec2.describe_security_groups(GroupIds=[split])["SecurityGroups"][0]["VpcId"])["GroupId"]  # fmt: skip
    ec2.authorize_security_group_ingress(
        GroupId=partial,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/1"}]}],
    )
    runtime = runtime_for(org, NAME)
    summary = Sweeper(runtime, accounts=[account], regions=["us-east-1"], remediations=[NAME]).run()
    assert summary.errors == [] and summary.violations == 1 and summary.found[0]["resource"].endswith(split), summary.found
    assert sorted(shape(r) for r in rules_of(ec2, split).values()) == [
        ("tcp", 22, 22, "10.0.0.0/8", None),
        ("tcp", 443, 443, "0.0.0.0/0", None),
    ]
    assert [shape(r) for r in rules_of(ec2, partial).values()] == [("tcp", 3389, 3389, "0.0.0.0/1", None)]


def test_security_hub_finding_listing_only_split_halves_is_acted_on(org):
    ec2, account, group = make_group(org)
    halves = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/1"}, {"CidrIpv6": "8000::/1"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=halves)
    (result,) = runtime_for(org, NAME).process(control_event(org, account, group, "EC2.13", halves), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert rules_of(ec2, group) == {}
