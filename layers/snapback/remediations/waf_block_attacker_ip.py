"""Block the remote IP a GuardDuty finding names as an attacker, in Snapback's WAFv2 IP sets, for a while.

Trigger: GuardDuty findings whose type starts with one of `type_prefixes` (default
    `UnauthorizedAccess:`, `Recon:`, `Impact:EC2/WinRMBruteForce`) with severity `min_severity` or
    more (default 4, medium); sample findings never (runtime guard). The remote IP is read from
    `service.action`: `networkConnectionAction.remoteIpDetails` (only for INBOUND connections:
    an OUTBOUND one, or `service.resourceRole` ACTOR, means the resource itself is the actor and
    the remote address a victim or a server it called), `portProbeAction.portProbeDetails[].
    remoteIpDetails`, `awsApiCallAction.remoteIpDetails`, `kubernetesApiCallAction.remoteIpDetails`
    and `rdsLoginAttemptAction.remoteIpDetails` (`ipAddressV4` or `ipAddressV6`).
    Never blocked (SKIPPED when nothing else is left): private and other non-internet addresses
    (RFC 1918, RFC 6598, RFC 4193 ULA, loopback, link-local, documentation ranges: everything
    Python's `ipaddress` does not call global), the `allow_list` CIDRs (the organization's own
    egress: NAT gateways, VPN, offices, scanners), API calls made from an account of the
    organization (`awsApiCallAction.remoteAccountDetails.accountId`), and at inspection an address
    that is an Elastic IP of the finding's account (DescribeAddresses).
Action: the IP as a /32 (IPv4) or /128 (IPv6) is added to the IP set `snapback-blocked-ipv4` or
    `snapback-blocked-ipv6` (scope REGIONAL) of the security account in the finding's Region, and
    to the CLOUDFRONT-scope sets in us-east-1 when `cloudfront` is true (stacks/waf.py creates
    them, and a rule group that blocks both, for web ACLs or Firewall Manager to reference).
    WAFv2 IP sets have no per-entry expiry (an IP set is a plain list of addresses), so the
    expiry (`block_hours`, default 72) lives in Snapback's table, one item per address and scope
    (`wafblock#<scope>#<region>#<cidr>`); a repeat of the finding extends it (a block that already
    ends within `EXTEND_SLACK` of the wanted end is compliant: findings that arrive together do not
    each extend it), and a record is never shortened. UpdateIPSet replaces the whole list under the
    set's LockToken: a concurrent update is retried on the re-read list (WAFOptimisticLockException,
    with a jittered backoff), never overwritten. The set is read again to verify.
    The WAFv2 calls use the security account's own credentials (the function's role), never a
    member role: the IP sets are the security account's. The target stays the finding's account,
    so that modes, overrides, exemptions and the breaker work per member account as everywhere.
Serialization: the action writes entries of the security account's IP sets, shared by the findings
    of every member account, so the lock is taken on what is written (`shared_resource`: the IP sets
    and addresses), not on the finding: two findings naming the same address, from any accounts,
    act one after the other (the second finds the address blocked), and so do the sweep's expiry and
    undo of that address. An address is "added" by a run when its before state (the one remembered
    before any change, also across a crash and retry) did not hold it: undo removes exactly those.
    A finding naming several addresses locks them together (one name); one naming an overlapping
    but different set may act beside it: the LockToken keeps both writers' addresses, and a record
    is never shortened.
Undo: remove the addresses this run added from the IP sets and delete their expiry records; an
    address that was already blocked before (another finding) stays, with its earlier expiry.
    Undo of a sweep expiry is refused (the block ran its course; block again by hand if needed).
Permissions: member account: ec2:DescribeAddresses (is the IP the account's own). Security
    account (declared in `security_permissions`, granted by stacks/waf.py to this function's role,
    the sweep's and the custom actions'): wafv2:ListIPSets, wafv2:GetIPSet, wafv2:UpdateIPSet,
    and the Snapback table (already granted).
Sweep (once per account, every configured Region): the IP sets are read with the security
    account's credentials; every address whose record belongs to this account and has expired is a
    violation, removed from the set (and its record deleted). Addresses with no record (added by
    people) are never touched.
Side effects: every web ACL that references the rule group drops requests from the address (all
    web applications behind it, for everyone behind that address: a shared NAT or proxy included)
    until the block expires. An IP set holds at most 10,000 addresses: a full set FAILS loudly.
Options (snapback.yaml `remediations.waf_block_attacker_ip.options`): `type_prefixes`,
    `min_severity`, `block_hours`, `allow_list`, `cloudfront`, `max_ips_per_finding`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import time
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import MemberSession, classify, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError, RetryableError
from snapback.events import GUARDDUTY_FINDING, CloudTrailCall, Envelope
from snapback.findings import parse_guardduty, updated_at
from snapback.netranges import is_internal, network
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, guardduty_pattern

TYPE_PREFIXES = ("Impact:EC2/WinRMBruteForce", "Recon:", "UnauthorizedAccess:")
MIN_SEVERITY = 4.0
IP_SET_NAMES = {4: "snapback-blocked-ipv4", 6: "snapback-blocked-ipv6"}
MAX_ADDRESSES = 10_000  # WAFv2 quota: addresses in one IP set
LOCK_RETRIES = 8
LOCK_BACKOFF = 0.05  # seconds, doubled per try (jittered, at most 1 s): writers of other addresses share the set
EXTEND_SLACK = 600  # seconds: a block ending at most this much before the wanted end is not extended
RECORD_RETENTION = 30 * 86400  # expiry records outlive their block by this long (table TTL `expires_at`)
_ACTIONS = ("networkConnectionAction", "portProbeAction", "awsApiCallAction", "kubernetesApiCallAction", "rdsLoginAttemptAction")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def remote_ips(detail: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(attacker addresses, reasons for addresses left out) from a GuardDuty finding's service.action."""
    service = _map(detail.get("service"))
    action = _map(service.get("action"))
    found: list[str] = []
    skipped: list[str] = []

    def take(details: Any, where: str) -> None:
        details = _map(details)
        for key in ("ipAddressV4", "ipAddressV6"):
            value = details.get(key)
            if isinstance(value, str) and value and value not in found:
                found.append(value)

    actor = str(service.get("resourceRole") or "").upper() == "ACTOR"
    connection = _map(action.get("networkConnectionAction"))
    if connection:
        if actor or str(connection.get("connectionDirection") or "").upper() != "INBOUND":
            skipped.append(
                f"network connection {connection.get('connectionDirection') or 'of unknown direction'}"
                f"{' with the resource as actor' if actor else ''}: the remote address is not the attacker"
            )
        else:
            take(connection.get("remoteIpDetails"), "networkConnectionAction")
    for probe in _map(action.get("portProbeAction")).get("portProbeDetails") or []:
        take(_map(probe).get("remoteIpDetails"), "portProbeAction")
    for name in _ACTIONS[2:]:
        take(_map(action.get(name)).get("remoteIpDetails"), name)
    return found, skipped


def host_cidr(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{32 if ip.version == 4 else 128}"


def _client_error(err: Exception) -> Exception:
    return classify(err) if isinstance(err, (ClientError, BotoCoreError)) else err


class BlockRecords:
    """Expiry records of Snapback's blocks, one DynamoDB item per (scope, Region, address)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb, self.table = dynamodb, table

    @staticmethod
    def key(scope: str, region: str, cidr: str) -> dict[str, Any]:
        return {"pk": {"S": f"wafblock#{scope}#{region}#{cidr}"}}

    def get(self, scope: str, region: str, cidrs: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(cidrs))
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 100):  # BatchGetItem: 100 keys a call
            keys = [self.key(scope, region, c) for c in wanted[start : start + 100]]
            request = {self.table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(5):
                answer = self.dynamodb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    cidr = item["pk"]["S"].rsplit("#", 1)[-1]
                    out[cidr] = {
                        "expires": int(item["block_expires"]["N"]),
                        "account": item.get("account", {}).get("S"),
                        "finding": item.get("finding", {}).get("S"),
                    }
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return out

    def put(
        self, scope: str, region: str, cidr: str, expires: int, account: str, finding: str, *, extend_only: bool = False
    ) -> bool:
        """Write the record; `extend_only`: unless a record that ends later is there (False then)."""
        condition: dict[str, Any] = {}
        if extend_only:
            condition = {
                "ConditionExpression": "attribute_not_exists(pk) OR block_expires <= :e",
                "ExpressionAttributeValues": {":e": {"N": str(expires)}},
            }
        try:
            self._put(scope, region, cidr, expires, account, finding, condition)
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return False  # a longer block of the address is recorded (another finding): it stays
            raise
        return True

    def _put(
        self, scope: str, region: str, cidr: str, expires: int, account: str, finding: str, condition: Mapping[str, Any]
    ) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            **condition,
            Item={
                **self.key(scope, region, cidr),
                "kind": {"S": "waf_block"},
                "block_expires": {"N": str(expires)},
                "expires_at": {"N": str(expires + RECORD_RETENTION)},
                "account": {"S": account},
                "finding": {"S": finding},
                "recorded_at": {"S": datetime.now(UTC).isoformat()},
            },
        )

    def delete(self, scope: str, region: str, cidr: str) -> None:
        self.dynamodb.delete_item(TableName=self.table, Key=self.key(scope, region, cidr))


class IpSets:
    """Snapback's WAFv2 IP sets in the security account (the runtime's own credentials)."""

    def __init__(self, session: MemberSession) -> None:
        self.session = session
        self._ids: dict[tuple[str, str, str], tuple[str, str]] = {}

    def client(self, region: str) -> Any:
        # The security account's own client: the IP sets are not in the member account.
        return self.session.clients.client("wafv2", region)

    def locate(self, scope: str, region: str, name: str) -> tuple[str, str]:
        """(Id, ARN) of the named IP set; PermanentError if the stack did not create it there."""
        key = (scope, region, name)
        if key not in self._ids:
            wafv2, marker = self.client(region), None
            while key not in self._ids:
                page = wafv2.list_ip_sets(Scope=scope, Limit=100, **({"NextMarker": marker} if marker else {}))
                for summary in page.get("IPSets", []):
                    if summary["Name"] == name:
                        self._ids[key] = (summary["Id"], summary["ARN"])
                marker = page.get("NextMarker")
                if key not in self._ids and (not marker or not page.get("IPSets")):
                    raise PermanentError(
                        f"WAFv2 IP set {name} ({scope}) not found in {region} of the security account: deploy stacks/waf.py there"
                    )
        return self._ids[key]

    def read(self, scope: str, region: str, name: str) -> tuple[set[str], str]:
        set_id, _ = self.locate(scope, region, name)
        answer = self.client(region).get_ip_set(Name=name, Scope=scope, Id=set_id)
        return set(answer["IPSet"].get("Addresses", [])), answer["LockToken"]

    def change(self, scope: str, region: str, name: str, add: Collection[str] = (), remove: Collection[str] = ()) -> set[str]:
        """Add and remove addresses under the LockToken, re-reading on a concurrent change. Returns
        the addresses that really changed (added ones that were absent, removed ones that were there)."""
        set_id, _ = self.locate(scope, region, name)
        for attempt in range(LOCK_RETRIES):
            if attempt:  # another writer (another address, another finding) changed the set meanwhile
                time.sleep(random.uniform(0, min(1.0, LOCK_BACKOFF * 2**attempt)))  # noqa: S311 - jitter
            current, token = self.read(scope, region, name)
            wanted = (current | set(add)) - set(remove)
            if wanted == current:
                return set()
            if len(wanted) > MAX_ADDRESSES:
                raise PermanentError(f"WAFv2 IP set {name} in {region} is full ({MAX_ADDRESSES} addresses): nothing added")
            try:
                self.client(region).update_ip_set(Name=name, Scope=scope, Id=set_id, Addresses=sorted(wanted), LockToken=token)
            except ClientError as err:
                if error_code(err) == "WAFOptimisticLockException":
                    continue  # someone else changed the set meanwhile: read it again, keep their change
                raise
            return (wanted - current) | (current - wanted)
        raise RetryableError(f"WAFv2 IP set {name} in {region} kept changing under us ({LOCK_RETRIES} tries)")


@register
class WafBlockAttackerIp(Remediation):
    name = "waf_block_attacker_ip"
    summary = "GuardDuty named an attacker IP: blocked in Snapback's WAF IP sets for a while"
    severity = Severity.MEDIUM
    finding_type = "TTPs/Initial Access/Attacker IP blocked"
    triggers = (
        Trigger(
            id="guardduty",
            description="GuardDuty finding naming a remote attacker IP",
            pattern=guardduty_pattern(list(TYPE_PREFIXES), MIN_SEVERITY),
        ),
    )
    permissions = ("ec2:DescribeAddresses",)
    # Actions in the security account itself, on its own IP sets: stacks/waf.py grants them to this
    # remediation's function role, the sweep's and the custom actions' (never to member roles).
    security_permissions = ("wafv2:GetIPSet", "wafv2:ListIPSets", "wafv2:UpdateIPSet")
    call_budget = 22
    defaults = {
        "type_prefixes": list(TYPE_PREFIXES),
        "min_severity": MIN_SEVERITY,
        "block_hours": 72,
        "allow_list": [],
        "cloudfront": False,
        "max_ips_per_finding": 10,
    }
    sweep_scope = "account"

    # -- options -----------------------------------------------------------------------------------
    def _allowed(self, cidr: str) -> str | None:
        ip = ipaddress.ip_address(cidr.split("/")[0])
        for entry in self.options.get("allow_list") or []:
            net = network(str(entry)) if "/" in str(entry) else network(f"{entry}/{32 if ':' not in str(entry) else 128}")
            if net is not None and ip.version == net.version and ip in net:
                return str(entry)
        return None

    def _places(self, region: str, version: int) -> list[tuple[str, str, str]]:
        """(scope, region, IP set name) where an address of `version` is blocked."""
        places = [("REGIONAL", region, IP_SET_NAMES[version])]
        if self.options.get("cloudfront"):
            places.append(("CLOUDFRONT", "us-east-1", IP_SET_NAMES[version]))
        return places

    def shared_resource(self, target: Target) -> str:
        """What the action writes: the addresses in the security account's IP sets (not the finding,
        nor the member account), so that findings of any accounts naming them act one at a time."""
        written = ",".join(sorted({f"{scope}/{region}/{name}/{cidr}" for scope, region, name, cidr in self._entries(target)}))
        if len(written) > 512:  # many addresses (max_ips_per_finding): a DynamoDB key holds 2 KB at most
            written = "sha256:" + hashlib.sha256(written.encode()).hexdigest()
        return "security:wafv2:" + (written or target.resource_id)

    # -- resolve -----------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if event.detail_type != GUARDDUTY_FINDING:
            raise NotApplicable(f"not a GuardDuty finding ({event.detail_type})")
        finding = parse_guardduty(event.detail)
        prefixes = tuple(self.options.get("type_prefixes") or TYPE_PREFIXES)
        if not finding.type.startswith(prefixes):
            raise NotApplicable(f"finding type {finding.type} is not one of {list(prefixes)}")
        if finding.severity < float(self.options.get("min_severity", MIN_SEVERITY)):
            raise NotApplicable(f"severity {finding.severity} is below {self.options.get('min_severity')}")
        region = finding.region or event.region
        if not region:
            raise MalformedEvent("GuardDuty finding names no Region")
        addresses, skipped = remote_ips(event.detail)
        caller = _map(
            _map(_map(_map(event.detail.get("service")).get("action")).get("awsApiCallAction")).get("remoteAccountDetails")
        )
        blocked: list[str] = []
        for address in addresses:
            if is_internal(address):
                skipped.append(f"{address} is not an internet address (private, ULA, loopback...)")
                continue
            cidr = host_cidr(address)
            allowed = self._allowed(cidr)
            if allowed:
                skipped.append(f"{address} is in the allow list ({allowed})")
            elif isinstance(caller.get("accountId"), str) and self.in_org(caller["accountId"]):
                skipped.append(f"{address} is the caller of account {caller['accountId']}, inside the organization")
            else:
                blocked.append(cidr)
        limit = int(self.options.get("max_ips_per_finding", 10))
        hours = float(self.options.get("block_hours", 72))
        occurrence = updated_at(event.detail) or event.time
        target = Target(
            account=finding.account,
            region=region,
            resource_type="Other",
            resource_id=", ".join(blocked) or "-",
            resource_arn=finding.arn or f"arn:aws:guardduty:{region}:{finding.account}:finding/{finding.id}",
            # A new occurrence of the finding (updatedAt) is a new trigger: it extends the block.
            idempotency_key=f"{finding.idempotency_key}#{occurrence}#waf",
            facts={
                "summary": f"GuardDuty {finding.type}: block {', '.join(blocked) or 'nothing'} for {hours:g} h",
                "finding_id": finding.id,
                "finding_type": finding.type,
                "severity": finding.severity,
                "op": "block",
                "cidrs": blocked[:limit],
                "expires": int(time.time() + hours * 3600),
                "skipped": skipped,
            },
        )
        if not blocked:
            raise NotApplicable("no attacker address to block" + (f": {'; '.join(skipped)}" if skipped else ""), target)
        if len(blocked) > limit:
            target.facts["skipped"].append(f"{len(blocked) - limit} more address(es) over max_ips_per_finding={limit}")
        return target

    # -- sweep: expired blocks ---------------------------------------------------------------------
    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        sets, records = IpSets(session), self._records(session)
        places = {p for r in regions for v in (4, 6) for p in self._places(r, v)}
        now = int(time.time())
        for scope, where, name in sorted(places):
            try:
                addresses, _ = sets.read(scope, where, name)
            except PermanentError:
                continue  # no IP set in that Region: nothing was ever blocked there
            for cidr, record in sorted(records.get(scope, where, addresses).items()):
                if record["account"] == account and record["expires"] <= now:
                    yield Target(
                        account=account,
                        region=where,
                        resource_type="Other",
                        resource_id=cidr,
                        resource_arn=record.get("finding") or f"wafblock:{scope}:{where}:{cidr}",
                        idempotency_key=self.sweep_key(account, where, f"{scope}#{cidr}"),
                        facts={
                            "summary": f"block of {cidr} ({scope} {where}) expired "
                            f"{datetime.fromtimestamp(record['expires'], UTC):%Y-%m-%d %H:%M} UTC",
                            "op": "expire",
                            "cidrs": [cidr],
                            "scope": scope,
                            "expires": record["expires"],
                        },
                    )

    # -- inspect / plan / apply / undo -------------------------------------------------------------
    def _records(self, session: MemberSession) -> BlockRecords:
        if self.known_good is None:
            raise PermanentError("no Snapback table (backtest): block expiries cannot be recorded")
        return BlockRecords(session.clients.client("dynamodb"), self.known_good.table)

    def _entries(self, target: Target) -> list[tuple[str, str, str, str]]:
        """(scope, region, IP set name, cidr) this target is about."""
        if target.facts.get("op") == "expire":
            cidr = target.facts["cidrs"][0]
            return [(target.facts["scope"], target.region, IP_SET_NAMES[ipaddress.ip_network(cidr).version], cidr)]
        return [
            (*place, c)
            for c in target.facts.get("cidrs") or []
            for place in self._places(target.region, ipaddress.ip_network(c).version)
        ]

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        sets, records = IpSets(session), self._records(session)
        entries = []
        for scope, region, name, cidr in self._entries(target):
            addresses, _ = sets.read(scope, region, name)
            record = records.get(scope, region, [cidr]).get(cidr)
            entries.append(
                {
                    "scope": scope,
                    "region": region,
                    "ip_set": name,
                    "cidr": cidr,
                    "present": cidr in addresses,
                    "expires": record["expires"] if record else None,
                    "owner": record["account"] if record else None,
                }
            )
        state: dict[str, Any] = {
            "op": target.facts.get("op"),
            "entries": entries,
            "own_addresses": [],
        }
        if target.facts.get("op") == "block":
            own = session.client("ec2").describe_addresses(
                Filters=[{"Name": "public-ip", "Values": sorted({c.split("/")[0] for c in target.facts["cidrs"]})}]
            )["Addresses"]
            state["own_addresses"] = sorted(a["PublicIp"] for a in own if a.get("PublicIp"))
        return state

    @staticmethod
    def _wanted(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        own = {f"{a}/32" for a in state.get("own_addresses") or []}
        return [e for e in state.get("entries") or [] if e["cidr"] not in own]

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        now = time.time()
        if state.get("op") == "expire":
            # gone, or blocked again since (a newer record) -> nothing to expire
            return all(not e["present"] or (e["expires"] or 0) > now for e in state.get("entries") or [])
        # Blocked until about `block_hours` from now. Not the target's own `expires` (the time its event
        # was resolved): the state is AWS's and the table's only, the same whichever try of the event
        # reads it, and a retry or a twin finding moments later finds the block it wants already there.
        wanted = now + float(self.options.get("block_hours", 72)) * 3600 - EXTEND_SLACK
        return all(e["present"] and (e["expires"] or 0) >= wanted for e in self._wanted(state))

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        if target.facts.get("op") == "expire":
            return [f"wafv2:UpdateIPSet {e[2]} ({e[0]} {e[1]}): remove {e[3]} (block expired)" for e in self._entries(target)]
        until = datetime.fromtimestamp(int(target.facts["expires"]), UTC).strftime("%Y-%m-%d %H:%M UTC")
        own = set(state.get("own_addresses") or []) if state else set()
        actions = [
            f"wafv2:UpdateIPSet {name} ({scope} {region}, security account): add {cidr} until {until}"
            for scope, region, name, cidr in self._entries(target)
            if cidr.split("/")[0] not in own
        ]
        actions += [f"{a} is an Elastic IP of account {target.account}: never blocked" for a in sorted(own)]
        return actions

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        sets, records = IpSets(session), self._records(session)
        try:
            if target.facts.get("op") == "expire":
                for scope, region, name, cidr in self._entries(target):
                    sets.change(scope, region, name, remove=[cidr])
                    records.delete(scope, region, cidr)
                return {"op": "expire", "removed": [list(e) for e in self._entries(target)]}
            wanted = {e["cidr"] for e in self._wanted(state)}
            previous = {(e["scope"], e["region"], e["cidr"]): e for e in state["entries"]}
            added, extended = [], []
            for scope, region, name, cidr in self._entries(target):
                if cidr not in wanted:
                    continue
                earlier = previous[(scope, region, cidr)]
                changed = sets.change(scope, region, name, add=[cidr])
                expires = max(int(target.facts["expires"]), int(earlier["expires"] or 0))
                records.put(scope, region, cidr, expires, target.account, target.resource_arn, extend_only=True)
                entry = {"scope": scope, "region": region, "ip_set": name, "cidr": cidr}
                # Added by this run when the before state did not hold it: an interrupted earlier try of
                # this action may have added it already (its before state is the one remembered).
                if changed or not earlier["present"]:
                    added.append(entry)
                else:  # already blocked (another finding): keep its record to restore on undo
                    extended.append({**entry, "expires": earlier["expires"], "owner": earlier["owner"]})
            return {"op": "block", "added": added, "extended": extended}
        except (ClientError, BotoCoreError) as err:
            raise _client_error(err) from err

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        """What `apply` returns, from the before state alone (a retry finishing an interrupted run)."""
        if target.facts.get("op") == "expire":
            return {"op": "expire", "removed": [list(e) for e in self._entries(target)]}
        wanted = {e["cidr"] for e in self._wanted(before)}
        previous = {(e["scope"], e["region"], e["cidr"]): e for e in before.get("entries") or []}
        added, extended = [], []
        for scope, region, name, cidr in self._entries(target):
            earlier = previous.get((scope, region, cidr))
            if cidr not in wanted or earlier is None:
                continue
            entry = {"scope": scope, "region": region, "ip_set": name, "cidr": cidr}
            if not earlier["present"]:
                added.append(entry)
            else:
                extended.append({**entry, "expires": earlier["expires"], "owner": earlier["owner"]})
        return {"op": "block", "added": added, "extended": extended}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        if undo_data.get("op") == "expire":
            raise PermanentError(
                "the block had expired by policy and was removed; to block again: "
                "aws wafv2 update-ip-set (with the current addresses plus this one and the LockToken of get-ip-set)"
            )
        sets, records = IpSets(session), self._records(session)
        actions = []
        try:
            for entry in undo_data.get("added") or []:
                removed = sets.change(entry["scope"], entry["region"], entry["ip_set"], remove=[entry["cidr"]])
                records.delete(entry["scope"], entry["region"], entry["cidr"])
                actions.append(
                    f"wafv2:UpdateIPSet {entry['ip_set']} ({entry['scope']} {entry['region']}): {entry['cidr']} "
                    + ("removed" if removed else "already gone")
                )
            for entry in undo_data.get("extended") or []:
                if entry.get("expires") and entry.get("owner"):
                    records.put(entry["scope"], entry["region"], entry["cidr"], int(entry["expires"]), entry["owner"], "restored")
                    actions.append(f"{entry['cidr']} was blocked before this finding: kept, earlier expiry restored")
                else:  # blocked by hand (no record): kept, and left to people again (the sweep never removes it)
                    records.delete(entry["scope"], entry["region"], entry["cidr"])
                    actions.append(f"{entry['cidr']} was blocked before this finding, not by Snapback: kept, no expiry")
        except (ClientError, BotoCoreError) as err:
            raise _client_error(err) from err
        return actions
