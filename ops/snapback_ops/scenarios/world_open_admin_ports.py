"""Scenario: SSH opened to the internet on a web tier's security group; HTTPS opened harmlessly.

Shows the world-open SSH rule revoked by its rule id (the HTTPS rule authorized in the same call
and the private-range SSH rule stay), and a second group's HTTPS-only change left alone (SKIPPED).
"""

from __future__ import annotations

from typing import Any

from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit

ORDER = 90


def _rules(ec2: Any, group: str) -> list[dict[str, Any]]:
    items = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    return [r for r in items if not r["IsEgress"]]


def _label(rule: dict[str, Any]) -> str:
    ports = "all" if rule["IpProtocol"] == "-1" else f"{rule['IpProtocol']} {rule['FromPort']}-{rule['ToPort']}"
    return f"{ports} from {rule.get('CidrIpv4') or rule.get('CidrIpv6')}"


def _authorize(ec2: Any, account: str, group: str, permissions: list[dict[str, Any]]) -> dict[str, Any]:
    """Authorize in moto and return the CloudTrail record of the call, as CloudTrail writes it."""
    before = {r["SecurityGroupRuleId"] for r in _rules(ec2, group)}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
    created = [r for r in _rules(ec2, group) if r["SecurityGroupRuleId"] not in before]
    request = {
        "groupId": group,
        "ipPermissions": {
            "items": [
                {
                    "ipProtocol": p["IpProtocol"],
                    "fromPort": p["FromPort"],
                    "toPort": p["ToPort"],
                    "groups": {},
                    "ipRanges": {"items": [{"cidrIp": r["CidrIp"]} for r in p.get("IpRanges", [])]},
                    "ipv6Ranges": {},
                    "prefixListIds": {},
                }
                for p in permissions
            ]
        },
    }
    response = {
        "_return": True,
        "securityGroupRuleSet": {
            "items": [
                {
                    "groupOwnerId": account,
                    "groupId": group,
                    "securityGroupRuleId": r["SecurityGroupRuleId"],
                    "isEgress": False,
                    "ipProtocol": r["IpProtocol"],
                    "fromPort": r["FromPort"],
                    "toPort": r["ToPort"],
                    "cidrIpv4": r["CidrIpv4"],
                }
                for r in created
            ]
        },
    }
    return cloudtrail_record(account, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", request, response=response)


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """SSH opened to 0.0.0.0/0 in member-b: revoked; the HTTPS-only change elsewhere is left alone."""
    account = org.members["member-b"]
    member = org.session(account)
    ec2 = member.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    web = ec2.create_security_group(GroupName="acme-web", Description="web tier", VpcId=vpc)["GroupId"]
    shop = ec2.create_security_group(GroupName="acme-shop-lb", Description="shop load balancer", VpcId=vpc)["GroupId"]

    record = _authorize(
        ec2,
        account,
        web,
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.30.0.0/16"}],
            },
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )
    timeline.add("attack", f"member-b ({account}): {web} now allows tcp 22 from 0.0.0.0/0 (and 443, and 22 from the VPC)")
    emit(member, record)
    timeline.add("event", "CloudTrail AuthorizeSecurityGroupIngress (SSH from the world) -> member default bus")

    emit(
        member,
        _authorize(
            ec2, account, shop, [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        ),
    )
    timeline.add("change", f"member-b: {shop} allows tcp 443 from 0.0.0.0/0 (a public load balancer)")

    results = deliver(org, account, timeline, expect=2)

    left = sorted(_label(r) for r in _rules(ec2, web))
    timeline.add("verify", f"{web} ingress read back as member-b: {', '.join(left)}")
    fixed = left == ["tcp 22-22 from 10.30.0.0/16", "tcp 443-443 from 0.0.0.0/0"]
    shop_left = sorted(_label(r) for r in _rules(ec2, shop))
    timeline.add("verify", f"{shop}: {', '.join(shop_left)} (untouched)")
    outcomes = {r.target.resource_id if r.target else "-": r.outcome.value for r in results}
    return {
        "name": "world_open_admin_ports",
        "account": account,
        "outcomes": outcomes,
        "passed": fixed
        and shop_left == ["tcp 443-443 from 0.0.0.0/0"]
        and outcomes.get(web) == Outcome.REMEDIATED.value
        and outcomes.get(shop) == Outcome.SKIPPED.value
        and len(results) == 2,
        "results": [r.as_dict() for r in results],
    }
