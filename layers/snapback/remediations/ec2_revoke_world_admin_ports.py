"""Revoke security group rules that open admin ports (SSH, RDP) to the whole internet.

World-open means the union of the group's ingress CIDRs that admit an admin port covers every
address of an IP version: `0.0.0.0/0` or `::/0` alone, and equally `0.0.0.0/1` + `128.0.0.0/1`,
`::/1` + `8000::/1` or any finer split, across rules with different port ranges (a TCP 22 rule from
one half and a TCP 0-1023 rule from the other open port 22 to everyone). See `snapback.netranges`.

Trigger: CloudTrail AuthorizeSecurityGroupIngress and ModifySecurityGroupRules (successful calls
    only, never Snapback's own) whose rules admit an admin port from a CIDR: a TCP/UDP port range
    covering one of `admin_ports` (default 22 and 3389), or all traffic (IpProtocol -1). Any CIDR,
    private ones included, is re-checked against the group, because the piece that completes a
    split cover may be any piece. Security Hub controls EC2.13 (port 22), EC2.14 (port 3389) and
    EC2.19 (high-risk ports; only the admin ports are acted on) FAILED on an AwsEc2SecurityGroup.
Action: re-read the group (DescribeSecurityGroups, DescribeSecurityGroupRules) and compute which
    rules make an admin port world-open: the smallest cover found, taking the event's own rules
    first, then the broadest, and leaving out any rule inside another (a 10.0.0.0/8 VPN rule inside
    0.0.0.0/1 stays). From a CloudTrail event, only rules the call created or modified are acted on:
    by the SecurityGroupRuleIds CloudTrail recorded (`responseElements.securityGroupRuleSet`, or the
    rule ids of a ModifySecurityGroupRules request), else by matching protocol, ports and CIDR of the
    requested permissions; a cover completed by rules that predate the call is the sweep's and
    EC2.13's to report. From a Security Hub finding or the sweep, every cover of the group, until
    no admin port is world-open. Those rules (and no other CIDR, port or rule of the same
    permission) are revoked by rule id; the group is read again to verify.
Undo: authorize the revoked rules again, one by one, with their protocol, ports, CIDR and
    description (they get new rule ids; a rule that is already back counts as restored). For a
    ModifySecurityGroupRules event this restores the modified (world-open) rule, what Snapback
    removed; the rule as it was before the modification is not in the event (CloudTrail does not
    record it) and is not recreated.
Permissions: ec2:DescribeSecurityGroups, ec2:DescribeSecurityGroupRules,
    ec2:RevokeSecurityGroupIngress, ec2:AuthorizeSecurityGroupIngress (undo).
Side effects: SSH/RDP from the internet stops at once for new connections; established ones stay
    tracked until they time out. Rules from specific CIDRs, prefix lists or other groups stay. A
    bastion that really must be world-open belongs in an exemption (snapback.yaml), never a tag.
Sweep (every configured Region): every ingress rule of the Region (DescribeSecurityGroupRules);
    each group whose rules make an admin port world-open (one rule or a split cover) is a
    violation, handled like a Security Hub finding on the group (every cover is revoked).
Options (snapback.yaml `remediations.ec2_revoke_world_admin_ports.options`): `admin_ports`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, classify, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.findings import AsffFinding
from snapback.netranges import Network, minimal_cover, network
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

WORLD = frozenset({"0.0.0.0/0", "::/0"})
ALL_TRAFFIC = "-1"
# Admin ports are TCP (SSH, RDP) and UDP (RDP); other protocols (ICMP...) have no ports.
PORT_PROTOCOLS = frozenset({"tcp", "udp"})
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "all": ALL_TRAFFIC, "-1": ALL_TRAFFIC}


def _protocol(value: Any) -> str:
    text = str(value if value is not None else ALL_TRAFFIC).strip().lower()
    return _PROTOCOL_NAMES.get(text, text)


def _port(value: Any) -> int | None:
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return None if port < 0 else port


def _items(value: Any) -> list[Mapping[str, Any]]:
    """CloudTrail writes EC2 lists as {"items": [...]}; some producers write plain lists."""
    if isinstance(value, Mapping):
        value = value.get("items")
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


@dataclass(frozen=True)
class IngressRule:
    """One ingress rule: a protocol, a port range and one source CIDR (what EC2 calls a rule)."""

    protocol: str
    from_port: int | None
    to_port: int | None
    cidr: str
    description: str | None = None
    rule_id: str | None = None

    @property
    def world(self) -> bool:
        return self.cidr in WORLD

    @property
    def net(self) -> Network | None:
        return network(self.cidr)

    def admits(self, protocol: str, port: int) -> bool:
        """Whether this rule lets `protocol` (tcp/udp) traffic to `port` in."""
        if self.protocol == ALL_TRAFFIC:
            return True
        return self.protocol == protocol and bool(self.admin_ports([port]))

    def admin_ports(self, ports: Iterable[int]) -> list[int]:
        """The admin ports this rule opens (all of them for all traffic or an open range)."""
        if self.protocol == ALL_TRAFFIC:
            return sorted(ports)
        if self.protocol not in PORT_PROTOCOLS:
            return []
        low = 0 if self.from_port is None else self.from_port
        high = 65535 if self.to_port is None else self.to_port
        return sorted(p for p in ports if low <= p <= high)

    def same_rule(self, other: IngressRule) -> bool:
        if (self.protocol, self.cidr) != (other.protocol, other.cidr):
            return False
        return self.protocol == ALL_TRAFFIC or (self.from_port, self.to_port) == (other.from_port, other.to_port)

    def label(self) -> str:
        ports = "all traffic" if self.protocol == ALL_TRAFFIC else f"{self.protocol} {self.from_port}-{self.to_port}"
        if self.from_port is not None and self.from_port == self.to_port:
            ports = f"{self.protocol} {self.from_port}"
        return f"{ports} from {self.cidr}" + (f" ({self.rule_id})" if self.rule_id else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "protocol": self.protocol,
            "from_port": self.from_port,
            "to_port": self.to_port,
            "cidr": self.cidr,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IngressRule:
        return cls(
            protocol=_protocol(data.get("protocol")),
            from_port=_port(data.get("from_port")),
            to_port=_port(data.get("to_port")),
            cidr=str(data.get("cidr") or ""),
            description=data.get("description") or None,
            rule_id=data.get("rule_id") or None,
        )

    def as_permission(self) -> dict[str, Any]:
        """The IpPermission that authorizes exactly this rule again."""
        permission: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.protocol != ALL_TRAFFIC:
            permission["FromPort"] = -1 if self.from_port is None else self.from_port
            permission["ToPort"] = -1 if self.to_port is None else self.to_port
        ipv6 = ":" in self.cidr
        source: dict[str, Any] = {"CidrIpv6" if ipv6 else "CidrIp": self.cidr}
        if self.description:
            source["Description"] = self.description
        permission["Ipv6Ranges" if ipv6 else "IpRanges"] = [source]
        return permission


def world_open(
    rules: Iterable[IngressRule], ports: Iterable[int], preferred: Callable[[IngressRule], bool] = lambda _: False
) -> list[IngressRule]:
    """The rules that make an admin port world-open (each cover of each port, protocol and IP version,
    again and again until none is left), in a stable order. `preferred` rules are taken first into
    a cover (an event's own rules), so that a pre-existing rule is only named where it is needed."""
    remaining = [r for r in rules if r.net is not None]
    chosen: list[IngressRule] = []
    while True:
        found: list[IngressRule] = []
        for port in sorted(set(ports)):
            for protocol in sorted(PORT_PROTOCOLS):
                for version in (4, 6):
                    admitting = [r for r in remaining if r.admits(protocol, port) and r.net.version == version]  # type: ignore[union-attr]
                    cover = minimal_cover(admitting, lambda r: r.net, preferred)  # type: ignore[arg-type,return-value]
                    found.extend(r for r in cover if r not in found)
        if not found:
            return chosen
        chosen.extend(found)
        remaining = [r for r in remaining if r not in found]


def modified_rules(request: Mapping[str, Any]) -> tuple[str | None, list[IngressRule]]:
    """(group id, rules with their ids) of a ModifySecurityGroupRules request as CloudTrail records it:
    `requestParameters.ModifySecurityGroupRulesRequest` with `GroupId` and `SecurityGroupRule` (one
    update, or a list of them), each `{SecurityGroupRuleId, SecurityGroupRule: {IpProtocol, FromPort,
    ToPort, CidrIpv4 | CidrIpv6 | ..., Description}}`. The SDK's own field names are accepted too."""
    body = request.get("ModifySecurityGroupRulesRequest")
    body = body if isinstance(body, Mapping) else request
    group = body.get("GroupId") or body.get("groupId")
    updates = body.get("SecurityGroupRule") or body.get("SecurityGroupRules") or body.get("securityGroupRules") or []
    if isinstance(updates, Mapping):
        updates = updates.get("items", [updates]) if "items" in updates else [updates]
    rules = []
    for update in updates if isinstance(updates, list) else []:
        if not isinstance(update, Mapping):
            continue
        rule_id = update.get("SecurityGroupRuleId") or update.get("securityGroupRuleId")
        spec = update.get("SecurityGroupRule") or update.get("securityGroupRule")
        if not isinstance(spec, Mapping) or not isinstance(rule_id, str):
            continue
        field = {k.lower(): v for k, v in spec.items()}
        cidr = field.get("cidripv4") or field.get("cidripv6")
        if isinstance(cidr, str) and cidr:
            rules.append(
                IngressRule(
                    _protocol(field.get("ipprotocol")),
                    _port(field.get("fromport")),
                    _port(field.get("toport")),
                    cidr,
                    field.get("description") or None,
                    rule_id,
                )
            )
    return (group if isinstance(group, str) else None), rules


def requested_rules(request: Mapping[str, Any]) -> list[IngressRule]:
    """The CIDR rules an AuthorizeSecurityGroupIngress request asked for, as CloudTrail records it."""
    rules: list[IngressRule] = []
    permissions = _items(request.get("ipPermissions"))
    if not permissions and request.get("cidrIp"):  # the legacy top-level form (--cidr on the CLI)
        permissions = [{**request, "ipRanges": [{"cidrIp": request.get("cidrIp")}]}]
    for permission in permissions:
        protocol = _protocol(permission.get("ipProtocol"))
        low, high = _port(permission.get("fromPort")), _port(permission.get("toPort"))
        for source in _items(permission.get("ipRanges")) + _items(permission.get("ipv6Ranges")):
            cidr = source.get("cidrIp") or source.get("cidrIpv6")
            if isinstance(cidr, str) and cidr:
                rules.append(IngressRule(protocol, low, high, cidr, source.get("description") or None))
    return rules


def recorded_rules(response: Mapping[str, Any] | None) -> list[IngressRule]:
    """The rules CloudTrail recorded as created (`securityGroupRuleSet`), with their ids."""
    rules = []
    for item in _items((response or {}).get("securityGroupRuleSet")):
        cidr = item.get("cidrIpv4") or item.get("cidrIpv6")
        if item.get("isEgress") in (True, "true") or not isinstance(cidr, str) or not item.get("securityGroupRuleId"):
            continue
        rules.append(
            IngressRule(
                _protocol(item.get("ipProtocol")),
                _port(item.get("fromPort")),
                _port(item.get("toPort")),
                cidr,
                item.get("description") or None,
                str(item["securityGroupRuleId"]),
            )
        )
    return rules


def asff_rules(details: Mapping[str, Any]) -> list[IngressRule] | None:
    """The ingress rules a Security Hub AwsEc2SecurityGroup resource lists (None if it lists none)."""
    permissions = details.get("IpPermissions")
    if not isinstance(permissions, list):
        return None
    rules = []
    for permission in permissions:
        if not isinstance(permission, Mapping):
            continue
        protocol = _protocol(permission.get("IpProtocol"))
        low, high = _port(permission.get("FromPort")), _port(permission.get("ToPort"))
        for key, field in (("IpRanges", "CidrIp"), ("Ipv6Ranges", "CidrIpv6")):
            for source in permission.get(key) or []:
                if isinstance(source, Mapping) and isinstance(source.get(field), str):
                    rules.append(IngressRule(protocol, low, high, source[field]))
    return rules


def _current_rule(item: Mapping[str, Any]) -> IngressRule | None:
    cidr = item.get("CidrIpv4") or item.get("CidrIpv6")
    if item.get("IsEgress") or not isinstance(cidr, str):
        return None  # egress, or a prefix-list / security-group source: never world-open
    return IngressRule(
        _protocol(item.get("IpProtocol")),
        _port(item.get("FromPort")),
        _port(item.get("ToPort")),
        cidr,
        item.get("Description") or None,
        item.get("SecurityGroupRuleId"),
    )


@register
class Ec2RevokeWorldAdminPorts(Remediation):
    name = "ec2_revoke_world_admin_ports"
    summary = "Security group opened admin ports to the internet"
    severity = Severity.HIGH
    finding_type = "Software and Configuration Checks/AWS Security Best Practices/Network Reachability"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Security group ingress authorized",
            pattern=cloudtrail_pattern(
                "aws.ec2", "ec2.amazonaws.com", ["AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules"]
            ),
        ),
    )
    controls = ("EC2.13", "EC2.14", "EC2.19")
    permissions = (
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeSecurityGroups",
        "ec2:RevokeSecurityGroupIngress",
    )
    events = ("AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules")
    call_budget = 15
    gone_codes = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})
    defaults = {"admin_ports": [22, 3389]}
    sweep_scope = "region"

    @property
    def admin_ports(self) -> list[int]:
        ports = self.options.get("admin_ports", self.defaults["admin_ports"])
        return sorted({int(p) for p in (ports if isinstance(ports, (list, tuple)) else [ports])})

    def _world_admin(self, rules: Iterable[IngressRule]) -> list[IngressRule]:
        return world_open(rules, self.admin_ports)

    def _admin_candidates(self, rules: Iterable[IngressRule]) -> list[IngressRule]:
        """Rules that admit an admin port from a CIDR: each may be (a piece of) a world-open cover."""
        return [r for r in rules if r.net is not None and r.admin_ports(self.admin_ports)]

    # -- resolve -----------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name not in self.events:
            raise NotApplicable(f"{call.event_name} does not open ingress")
        if call.event_name == "ModifySecurityGroupRules":
            group, recorded = modified_rules(call.request)
            requested: list[IngressRule] = []
        else:
            recorded = recorded_rules(call.response)
            group = call.request.get("groupId") or next(
                (i.get("groupId") for i in _items((call.response or {}).get("securityGroupRuleSet")) if i.get("groupId")),
                None,
            )
            requested = requested_rules(call.request)
        if not isinstance(group, str) or not group.startswith("sg-"):
            raise MalformedEvent(f"{call.event_name} names no security group id (requestParameters.groupId missing)")
        by_ids = self._admin_candidates(recorded)
        offending = by_ids or self._admin_candidates(requested)
        region = call.region or event.region
        target = Target(
            account=event.account,
            region=region,
            resource_type="AwsEc2SecurityGroup",
            resource_id=group,
            resource_arn=f"arn:aws:ec2:{region}:{event.account}:security-group/{group}",
            idempotency_key=call.idempotency_key(f"sg#{event.account}#{group}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts={
                "summary": f"{call.event_name} on {group}",
                **call.facts(),
                "admin_ports": self.admin_ports,
                "authorized": [r.as_dict() for r in offending],
                "match": "rule_ids" if by_ids else "permissions",
            },
        )
        if not offending:
            raise NotApplicable(
                f"no rule admits admin ports {self.admin_ports} from a CIDR "
                f"({len(requested) or len(recorded)} CIDR rule(s) {'modified' if call.event_name.startswith('Modify') else 'authorized'})",
                target,
            )
        target.facts["summary"] += ": " + "; ".join(r.label() for r in offending)
        return target

    def resolve_finding(self, event: Envelope, finding: AsffFinding) -> Target:
        resource = next((r for r in finding.resources if r.type == "AwsEc2SecurityGroup"), None)
        if resource is None:
            raise NotApplicable(f"finding {finding.control_id or finding.id} names no AwsEc2SecurityGroup")
        details = resource.details.get("AwsEc2SecurityGroup")
        details = details if isinstance(details, Mapping) else {}
        group = details.get("GroupId") or resource.id.rsplit("/", 1)[-1]
        if not isinstance(group, str) or not group.startswith("sg-"):
            raise MalformedEvent(f"cannot read a security group id from resource {resource.id!r}")
        region = resource.region or finding.region
        target = Target(
            account=finding.account,
            region=region,
            resource_type="AwsEc2SecurityGroup",
            resource_id=group,
            resource_arn=f"arn:aws:ec2:{region}:{finding.account}:security-group/{group}",
            idempotency_key=f"{finding.idempotency_key}#revoke",
            facts={
                "summary": f"Security Hub {finding.control_id}: {finding.title or 'security group open to the world'} ({group})",
                "control": finding.control_id,
                "finding_id": finding.id,
                "admin_ports": self.admin_ports,
                "match": "group",
            },
        )
        listed = asff_rules(details)
        if listed is not None and not self._world_admin(listed):
            # EC2.19 also flags high-risk ports that are not admin ports: those are not ours to close.
            raise NotApplicable(f"the finding lists no rule opening admin ports {self.admin_ports} to the world", target)
        return target

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        open_by_group: dict[str, list[IngressRule]] = {}
        for page in session.client("ec2").get_paginator("describe_security_group_rules").paginate():
            for item in page["SecurityGroupRules"]:
                rule = _current_rule(item)
                if rule is not None and rule.admin_ports(self.admin_ports):
                    open_by_group.setdefault(str(item["GroupId"]), []).append(rule)
        for group, candidates in sorted(open_by_group.items()):
            rules = self._world_admin(candidates)
            if not rules:
                continue
            yield Target(
                account=account,
                region=region,
                resource_type="AwsEc2SecurityGroup",
                resource_id=group,
                resource_arn=f"arn:aws:ec2:{region}:{account}:security-group/{group}",
                idempotency_key=self.sweep_key(account, region, group),
                facts={
                    "summary": f"{group} opens admin ports to the world: " + "; ".join(r.label() for r in rules),
                    "admin_ports": self.admin_ports,
                    "match": "group",
                },
            )

    # -- inspect / plan / apply / undo -------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        ec2 = session.client("ec2")
        (group,) = ec2.describe_security_groups(GroupIds=[target.resource_id])["SecurityGroups"]
        current = [
            rule
            for page in ec2.get_paginator("describe_security_group_rules").paginate(
                Filters=[{"Name": "group-id", "Values": [target.resource_id]}]
            )
            for item in page["SecurityGroupRules"]
            if (rule := _current_rule(item)) is not None
        ]
        match = target.facts.get("match")
        authorized = [IngressRule.from_dict(r) for r in target.facts.get("authorized") or []]
        ids = {r.rule_id for r in authorized}

        def ours(rule: IngressRule) -> bool:
            if match == "rule_ids":
                return rule.rule_id in ids
            return any(rule.same_rule(a) for a in authorized)

        if match in ("rule_ids", "permissions"):
            open_rules = [r for r in world_open(current, self.admin_ports, ours) if ours(r)]
        else:
            open_rules = self._world_admin(current)
        return {
            "group_id": group["GroupId"],
            "group_name": group.get("GroupName"),
            "vpc_id": group.get("VpcId"),
            "open_rules": sorted((r.as_dict() for r in open_rules), key=lambda r: str(r["rule_id"])),
        }

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return not state.get("open_rules")

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        rules = state.get("open_rules") if state else target.facts.get("authorized")
        if not rules:
            return [f"ec2:RevokeSecurityGroupIngress on {target.resource_id}: every rule opening admin ports to the world"]
        labels = ", ".join(IngressRule.from_dict(r).label() for r in rules)
        return [f"ec2:RevokeSecurityGroupIngress on {target.resource_id}: {labels}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        rules = list(state["open_rules"])
        session.client("ec2").revoke_security_group_ingress(
            GroupId=target.resource_id, SecurityGroupRuleIds=[r["rule_id"] for r in rules]
        )
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"group_id": target.resource_id, "revoked": list(before["open_rules"])}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        ec2 = session.client("ec2")
        group = str(undo_data.get("group_id") or target.resource_id)
        actions = []
        for data in undo_data.get("revoked") or []:
            rule = IngressRule.from_dict(data)
            try:
                ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rule.as_permission()])
            except ClientError as err:
                code = error_code(err)
                if code == "InvalidPermission.Duplicate":
                    actions.append(f"{group}: {rule.label()} already present")
                    continue
                if code in self.gone_codes:
                    raise PermanentError(f"{group} no longer exists; nothing to restore ({code})") from err
                raise classify(err) from err
            actions.append(f"ec2:AuthorizeSecurityGroupIngress on {group}: {rule.label()} restored")
        return actions
