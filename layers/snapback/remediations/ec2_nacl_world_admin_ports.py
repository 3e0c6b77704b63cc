"""Delete network ACL entries that open admin ports (SSH, RDP) to the whole internet.

World-open means that, under the network ACL's first-match evaluation (lowest rule number first),
the ingress entries that allow an admin port together allow every address of an IP version: one
entry from `0.0.0.0/0` or `::/0`, or a split (`0.0.0.0/1` + `128.0.0.0/1`, `::/1` + `8000::/1`,
finer pieces), minus what earlier deny entries already decided. See `snapback.netranges`.

Trigger: CloudTrail CreateNetworkAclEntry and ReplaceNetworkAclEntry (successful calls only, never
    Snapback's own) for an ingress `allow` entry whose protocol and port range admit one of
    `admin_ports` (default 22 and 3389, the list of ec2_revoke_world_admin_ports) from a CIDR. Egress
    entries, deny entries, other ports and ICMP are not applicable (SKIPPED).
Action: re-read the network ACL (DescribeNetworkAcls) and compute the entries that make an admin
    port world-open; the smallest such set is deleted (DeleteNetworkAclEntry), the event's own entry
    kept in it first, entries inside or shadowed by others left alone. From an event only the entry
    the call created or replaced is deleted (same rule number, protocol, ports and CIDR as now in
    the ACL: a later replacement is someone else's change). The ACL is read again to verify.
    Only "narrow" entries are ever deleted: TCP or UDP entries whose ports at or above 1024 are admin
    ports only. An entry for all protocols, or a TCP/UDP range reaching into the ephemeral ports
    (1024-65535), also carries the return traffic of every outbound connection of the subnet
    (network ACLs are stateless): deleting it would cut the subnet off, so it is never touched and
    does not count as Snapback's to fix (the default ACL's "rule 100: allow all" is one). The
    security groups stay the control for those subnets (ec2_revoke_world_admin_ports).
Undo: re-create each deleted entry with its rule number, protocol, ports, CIDR and action
    (CreateNetworkAclEntry); an identical entry already there counts as restored; a different entry
    now holding the rule number is a conflict and fails loudly (never overwritten).
Permissions: ec2:DescribeNetworkAcls, ec2:DeleteNetworkAclEntry, ec2:CreateNetworkAclEntry (undo).
Sweep (every configured Region): every network ACL of the Region (DescribeNetworkAcls); each ACL
    with narrow entries that make an admin port world-open is a violation (all of them deleted).
Side effects: new connections to SSH/RDP from the internet are dropped at the subnet at once, and
    so are established ones (network ACLs are stateless), for every instance of the subnets the
    ACL is associated with. Entries from specific CIDRs, deny entries and egress entries stay.
Options (snapback.yaml `remediations.ec2_nacl_world_admin_ports.options`): `admin_ports`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, classify, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.netranges import Network, first_match_allowed, minimal_interval_cover, network
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

EVENTS = ("CreateNetworkAclEntry", "ReplaceNetworkAclEntry")
ALL = "-1"
_PROTOCOLS = {"6": "6", "tcp": "6", "17": "17", "udp": "17", "-1": ALL, "all": ALL}
_NAMES = {"6": "tcp", "17": "udp", ALL: "all traffic"}
EPHEMERAL_FROM = 1024  # return traffic of outbound connections lands on 1024-65535 (NAT gateway, ELB, Linux, Windows)
DEFAULT_ADMIN_PORTS = [22, 3389]


def _protocol(value: Any) -> str:
    text = str(value if value is not None else "").strip().lower()
    return _PROTOCOLS.get(text, text)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


@dataclass(frozen=True)
class AclEntry:
    """One network ACL entry, as DescribeNetworkAcls (or a CloudTrail request) names it."""

    rule_number: int
    protocol: str  # "6", "17", "-1" or another protocol number
    action: str  # allow | deny
    egress: bool
    cidr: str
    from_port: int | None = None
    to_port: int | None = None

    @property
    def net(self) -> Network | None:
        return network(self.cidr)

    def admits(self, protocol: str, port: int) -> bool:
        if self.protocol == ALL:
            return True
        if self.protocol != protocol:
            return False
        low = 0 if self.from_port is None else self.from_port
        high = 65535 if self.to_port is None else self.to_port
        return low <= port <= high

    def admin_ports(self, ports: Iterable[int]) -> list[int]:
        return sorted(p for p in ports if self.admits("6", p) or self.admits("17", p))

    def narrow(self, ports: Iterable[int]) -> bool:
        """TCP/UDP whose ports at or above 1024 are admin ports only: carries no return traffic."""
        if self.protocol not in ("6", "17") or self.from_port is None or self.to_port is None:
            return False
        admin = set(ports)
        return all(p in admin for p in range(max(self.from_port, EPHEMERAL_FROM), self.to_port + 1))

    def label(self) -> str:
        ports = ""
        if self.protocol in ("6", "17"):
            ports = f" {self.from_port}" if self.from_port == self.to_port else f" {self.from_port}-{self.to_port}"
        name = _NAMES.get(self.protocol, f"protocol {self.protocol}")
        return f"rule {self.rule_number}: {self.action} {name}{ports} from {self.cidr}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_number": self.rule_number,
            "protocol": self.protocol,
            "action": self.action,
            "egress": self.egress,
            "cidr": self.cidr,
            "from_port": self.from_port,
            "to_port": self.to_port,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AclEntry:
        return cls(
            rule_number=int(data["rule_number"]),
            protocol=_protocol(data.get("protocol")),
            action=str(data.get("action") or ""),
            egress=bool(data.get("egress")),
            cidr=str(data.get("cidr") or ""),
            from_port=_int(data.get("from_port")),
            to_port=_int(data.get("to_port")),
        )

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> AclEntry | None:
        cidr = item.get("CidrBlock") or item.get("Ipv6CidrBlock")
        number = _int(item.get("RuleNumber"))
        if not isinstance(cidr, str) or number is None:
            return None
        ports = item.get("PortRange") if isinstance(item.get("PortRange"), Mapping) else {}
        return cls(
            rule_number=number,
            protocol=_protocol(item.get("Protocol")),
            action=str(item.get("RuleAction") or "").lower(),
            egress=_bool(item.get("Egress")),
            cidr=cidr,
            from_port=_int(ports.get("From")),
            to_port=_int(ports.get("To")),
        )

    @classmethod
    def from_request(cls, request: Mapping[str, Any]) -> AclEntry:
        """CloudTrail's requestParameters of Create/ReplaceNetworkAclEntry (`aclProtocol`, `portRange`...)."""
        cidr = request.get("cidrBlock") or request.get("ipv6CidrBlock")
        number = _int(request.get("ruleNumber"))
        if not isinstance(cidr, str) or network(cidr) is None or number is None:
            raise MalformedEvent("the network ACL entry names no rule number or no valid CIDR (cidrBlock / ipv6CidrBlock)")
        ports = request.get("portRange") if isinstance(request.get("portRange"), Mapping) else {}
        return cls(
            rule_number=number,
            protocol=_protocol(request.get("aclProtocol", request.get("protocol"))),
            action=str(request.get("ruleAction") or "").lower(),
            egress=_bool(request.get("egress")),
            cidr=cidr,
            from_port=_int(ports.get("from")),
            to_port=_int(ports.get("to")),
        )

    def as_request(self, acl_id: str) -> dict[str, Any]:
        """CreateNetworkAclEntry parameters that recreate exactly this entry."""
        params: dict[str, Any] = {
            "NetworkAclId": acl_id,
            "RuleNumber": self.rule_number,
            "Protocol": self.protocol,
            "RuleAction": self.action,
            "Egress": self.egress,
            ("Ipv6CidrBlock" if ":" in self.cidr else "CidrBlock"): self.cidr,
        }
        if self.protocol in ("6", "17"):
            params["PortRange"] = {"From": self.from_port, "To": self.to_port}
        return params


def covers(
    entries: Iterable[AclEntry], ports: Iterable[int], preferred: Callable[[AclEntry], bool] = lambda _: False
) -> list[list[AclEntry]]:
    """For each (admin port, protocol, IP version) that the ingress entries, evaluated first match,
    open to everyone: the allow entries that together decide it (a minimal cover of their actual
    contributions: shadowed entries and entries inside others are not in it)."""
    ordered = sorted((e for e in entries if not e.egress and e.net is not None), key=lambda e: e.rule_number)
    out = []
    for port in sorted(set(ports)):
        for protocol in ("6", "17"):
            for version in (4, 6):
                matching = [e for e in ordered if e.admits(protocol, port) and e.net.version == version]  # type: ignore[union-attr]
                allowed = first_match_allowed((e.net, e.action == "allow") for e in matching)  # type: ignore[misc]
                cover = minimal_interval_cover([(matching[i], ivs) for i, ivs in allowed], version, preferred)
                if cover:
                    out.append(cover)
    return out


def to_delete(
    entries: list[AclEntry], ports: list[int], preferred: Callable[[AclEntry], bool] = lambda _: False
) -> list[AclEntry]:
    """The narrow entries of every world-open cover, again and again until no cover has one left.
    Wide entries in a cover stay (return traffic); the narrow pieces beside them are still deleted."""
    remaining = list(entries)
    chosen: list[AclEntry] = []
    while True:
        found: list[AclEntry] = []
        for cover in covers(remaining, ports, preferred):
            found.extend(e for e in cover if e.narrow(ports) and e not in found)
        if not found:
            return sorted(chosen, key=lambda e: e.rule_number)
        chosen.extend(found)
        remaining = [e for e in remaining if e not in found]


@register
class Ec2NaclWorldAdminPorts(Remediation):
    name = "ec2_nacl_world_admin_ports"
    summary = "Network ACL entry opened admin ports to the internet"
    severity = Severity.HIGH
    finding_type = "Software and Configuration Checks/AWS Security Best Practices/Network Reachability"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Network ACL entry created or replaced",
            pattern=cloudtrail_pattern("aws.ec2", "ec2.amazonaws.com", list(EVENTS)),
        ),
    )
    permissions = ("ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry", "ec2:DescribeNetworkAcls")
    call_budget = 13
    gone_codes = frozenset({"InvalidNetworkAclID.NotFound"})
    defaults = {"admin_ports": DEFAULT_ADMIN_PORTS}
    sweep_scope = "region"

    @property
    def admin_ports(self) -> list[int]:
        ports = self.options.get("admin_ports", self.defaults["admin_ports"])
        return sorted({int(p) for p in (ports if isinstance(ports, (list, tuple)) else [ports])})

    def _target(
        self, account: str, region: str, acl: str, key: str, facts: dict[str, Any], principal: str | None = None
    ) -> Target:
        return Target(
            account=account,
            region=region,
            resource_type="AwsEc2NetworkAcl",
            resource_id=acl,
            resource_arn=f"arn:aws:ec2:{region}:{account}:network-acl/{acl}",
            idempotency_key=key,
            principal_arn=principal,
            facts={**facts, "admin_ports": self.admin_ports},
        )

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name not in EVENTS:
            raise NotApplicable(f"{call.event_name} does not add a network ACL entry")
        acl = call.request.get("networkAclId")
        if not isinstance(acl, str) or not acl.startswith("acl-"):
            raise MalformedEvent(f"{call.event_name} names no network ACL id (requestParameters.networkAclId missing)")
        entry = AclEntry.from_request(call.request)
        region = call.region or event.region
        target = self._target(
            event.account,
            region,
            acl,
            call.idempotency_key(f"nacl#{event.account}#{acl}#{entry.rule_number}#{call.event_time}"),
            {
                "summary": f"{call.event_name} on {acl}: {entry.label()}",
                **call.facts(),
                "entry": entry.as_dict(),
                "match": "entry",
            },
            call.actor.arn,
        )
        if entry.egress:
            raise NotApplicable(f"egress entry ({entry.label()}): not an inbound exposure", target)
        if entry.action != "allow":
            raise NotApplicable(f"{entry.action} entry ({entry.label()}): it closes, never opens", target)
        if not entry.admin_ports(self.admin_ports):
            raise NotApplicable(f"{entry.label()} admits none of the admin ports {self.admin_ports}", target)
        if not entry.narrow(self.admin_ports):
            raise NotApplicable(
                f"{entry.label()} also carries return traffic (all protocols or ephemeral ports 1024-65535): deleting it "
                "would cut every connection of the subnet; the security groups stay the control",
                target,
            )
        return target

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        for page in session.client("ec2").get_paginator("describe_network_acls").paginate():
            for acl in page["NetworkAcls"]:
                entries = [e for item in acl.get("Entries", []) if (e := AclEntry.from_api(item)) is not None]
                found = to_delete(entries, self.admin_ports)
                if found:
                    acl_id = str(acl["NetworkAclId"])
                    yield self._target(
                        account,
                        region,
                        acl_id,
                        self.sweep_key(account, region, acl_id),
                        {
                            "summary": f"{acl_id} opens admin ports to the world: " + "; ".join(e.label() for e in found),
                            "match": "acl",
                        },
                    )

    # -- inspect / plan / apply / undo -------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        (acl,) = session.client("ec2").describe_network_acls(NetworkAclIds=[target.resource_id])["NetworkAcls"]
        entries = [e for item in acl.get("Entries", []) if (e := AclEntry.from_api(item)) is not None]
        mine = [AclEntry.from_dict(target.facts["entry"])] if target.facts.get("match") == "entry" else []
        found = to_delete(entries, self.admin_ports, preferred=lambda e: e in mine)
        if mine:
            found = [e for e in found if e in mine]
        return {
            "network_acl_id": acl["NetworkAclId"],
            "vpc_id": acl.get("VpcId"),
            "is_default": acl.get("IsDefault"),
            "open_entries": [e.as_dict() for e in found],
        }

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return not state.get("open_entries")

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        entries = state.get("open_entries") if state else [target.facts["entry"]] if target.facts.get("entry") else []
        if not entries:
            return [f"ec2:DeleteNetworkAclEntry on {target.resource_id}: every narrow entry opening admin ports to the world"]
        return [f"ec2:DeleteNetworkAclEntry on {target.resource_id}: {AclEntry.from_dict(e).label()}" for e in entries]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        ec2 = session.client("ec2")
        for data in state["open_entries"]:
            entry = AclEntry.from_dict(data)
            ec2.delete_network_acl_entry(NetworkAclId=target.resource_id, RuleNumber=entry.rule_number, Egress=False)
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"network_acl_id": target.resource_id, "deleted": list(before["open_entries"])}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        ec2 = session.client("ec2")
        acl = str(undo_data.get("network_acl_id") or target.resource_id)
        try:
            (current,) = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"]
        except ClientError as err:
            if error_code(err) in self.gone_codes:
                raise PermanentError(f"{acl} no longer exists; nothing to restore ({error_code(err)})") from err
            raise classify(err) from err
        now = {(e.rule_number, e.egress): e for item in current.get("Entries", []) if (e := AclEntry.from_api(item)) is not None}
        actions = []
        for data in undo_data.get("deleted") or []:
            entry = AclEntry.from_dict(data)
            there = now.get((entry.rule_number, entry.egress))
            if there == entry:
                actions.append(f"{acl}: {entry.label()} already present")
                continue
            if there is not None:
                raise PermanentError(
                    f"{acl}: rule number {entry.rule_number} now holds another entry ({there.label()}); "
                    f"not overwritten. To restore by hand: aws ec2 create-network-acl-entry --network-acl-id {acl} "
                    f"--ingress --rule-number <free number> ... ({entry.label()})"
                )
            try:
                ec2.create_network_acl_entry(**entry.as_request(acl))
            except ClientError as err:
                raise classify(err) from err
            actions.append(f"ec2:CreateNetworkAclEntry on {acl}: {entry.label()} restored")
        return actions
