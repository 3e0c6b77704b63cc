"""Disassociate a principal outside the organization from an AWS RAM resource share.

Trigger: CloudTrail (successful calls only, never Snapback's own) AssociateResourceShare and
    CreateResourceShare whose `principals` name an account outside the organization (an account
    id, an IAM role / user ARN of that account, or another organization's organization / OU ARN);
    UpdateResourceShare switching `allowExternalPrincipals` on (every outside principal of the share
    counts). Principals inside the organization, service principals, and shares with no outside
    principal are SKIPPED.
Action: re-read the share's principal associations (GetResourceShareAssociations, type PRINCIPAL,
    status ASSOCIATED or ASSOCIATING) and disassociate (DisassociateResourceShare) exactly the
    outside principals the call added (for UpdateResourceShare and the sweep: every outside
    principal); then read again to verify (a disassociation shows DISASSOCIATING at once).
Undo: associate the removed principals again (AssociateResourceShare), only those missing; the
    outside account gets a new invitation to accept unless it shares the organization's trust.
Permissions: ram:GetResourceShareAssociations, ram:DisassociateResourceShare,
    ram:AssociateResourceShare (undo); the sweep: ram:GetResourceShares.
Sweep (every configured Region): the account's own active shares that allow external principals
    (GetResourceShares, owner SELF); each with an outside principal associated is a violation.
Side effects: the outside account loses access to the shared resources (subnets, Transit
    Gateways, license configurations, ...) as RAM completes the disassociation; resources it
    created in a shared subnet keep running but can no longer be managed there. A sanctioned
    partner share belongs in an exemption (snapback.yaml). moto has no RAM association API: the
    RAM calls are tested with botocore Stubber on the member client.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from snapback.clients import MemberSession
from snapback.errors import MalformedEvent, NotApplicable
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.sharing import outside_grants, strings
from snapback.triggers import Trigger, cloudtrail_pattern

EVENTS = ("AssociateResourceShare", "CreateResourceShare", "UpdateResourceShare")
LIVE = ("ASSOCIATED", "ASSOCIATING")


# -- the thin RAM client (moto lacks associate/disassociate; tested with Stubber) ---------------------
def associated_principals(ram: Any, share_arn: str) -> list[str]:
    """The principals associated (or being associated) with a share."""
    found: list[str] = []
    token: str | None = None
    while True:
        page = ram.get_resource_share_associations(
            associationType="PRINCIPAL", resourceShareArns=[share_arn], **({"nextToken": token} if token else {})
        )
        found += [a["associatedEntity"] for a in page.get("resourceShareAssociations", []) if a.get("status") in LIVE]
        token = page.get("nextToken")
        if not token:
            return sorted(set(found))


def external_shares(ram: Any) -> list[str]:
    """ARNs of the account's own active shares that allow principals outside the organization."""
    found: list[str] = []
    token: str | None = None
    while True:
        page = ram.get_resource_shares(
            resourceOwner="SELF", resourceShareStatus="ACTIVE", **({"nextToken": token} if token else {})
        )
        found += [s["resourceShareArn"] for s in page.get("resourceShares", []) if s.get("allowExternalPrincipals")]
        token = page.get("nextToken")
        if not token:
            return found


def share_ref(arn: str, account: str, region: str) -> tuple[str, str, str]:
    """(account, region, share id) of a resource share ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "ram" or not parts[5].startswith("resource-share/"):
        raise MalformedEvent(f"not a RAM resource share ARN: {arn!r}")
    return parts[4] or account, parts[3] or region, parts[5][len("resource-share/") :]


@register
class RamExternalShareRevoke(Remediation):
    name = "ram_external_share_revoke"
    summary = "AWS RAM resource share associated with a principal outside the organization"
    severity = Severity.HIGH
    finding_type = "Effects/Data Exfiltration/RAM resource share outside the organization"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="AWS RAM resource share created, updated or associated",
            pattern=cloudtrail_pattern("aws.ram", "ram.amazonaws.com", list(EVENTS)),
        ),
    )
    permissions = ("ram:AssociateResourceShare", "ram:DisassociateResourceShare", "ram:GetResourceShareAssociations")
    call_budget = 9
    gone_codes = frozenset({"UnknownResourceException"})
    sweep_scope = "region"
    sweep_permissions = ("ram:GetResourceShares",)

    def _target(self, arn: str, account: str, region: str, key: str, facts: dict[str, Any], actor: str | None = None) -> Target:
        account, region, share_id = share_ref(arn, account, region)
        return Target(account, region, "AwsRamResourceShare", share_id, arn, key, principal_arn=actor, facts=facts)

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None or call.event_name not in EVENTS or call.event_source != "ram.amazonaws.com":
            raise NotApplicable("not an AWS RAM share call")
        request = call.request
        arn = request.get("resourceShareArn") or ((call.response or {}).get("resourceShare") or {}).get("resourceShareArn")
        if not isinstance(arn, str) or not arn:
            raise MalformedEvent(f"{call.event_name} names no resource share (resourceShareArn)")
        region = call.region or event.region
        key = call.idempotency_key(f"ram#{arn}#{call.event_time}")
        facts: dict[str, Any] = {"summary": f"{call.event_name} on resource share {arn}", **call.facts()}
        target = self._target(arn, event.account, region, key, facts, call.actor.arn)
        if call.event_name == "UpdateResourceShare":
            if request.get("allowExternalPrincipals") is not True:
                raise NotApplicable("the update does not switch external sharing on", target)
            facts.update(requested=None, summary=f"external sharing switched on for resource share {arn}")
            return target
        added = strings(request.get("principals"))
        outside = outside_grants(added, self.in_org)
        facts.update(
            requested=outside,
            added=added,
            summary=f"{call.event_name}: resource share {arn} with {', '.join(added) or 'no principal'}",
        )
        if not outside:
            raise NotApplicable(f"no principal outside the organization ({', '.join(added) or 'none'})", target)
        return target

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        for arn in external_shares(session.client("ram")):
            target = self._target(
                arn,
                account,
                region,
                self.sweep_key(account, region, arn),
                {"summary": f"resource share {arn} has principals outside the organization", "requested": None},
            )
            if not self.is_compliant(self.inspect(session, target)):
                yield target

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        principals = associated_principals(session.client("ram"), target.resource_arn)
        outside = outside_grants(principals, self.in_org)
        requested = target.facts.get("requested")
        offending = [p for p in outside if requested is None or p in requested]
        return {"principals": principals, "outside": outside, "offending": offending}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return not state.get("offending")

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        who = state.get("offending") or target.facts.get("requested") or ["every principal outside the organization"]
        return [f"ram:DisassociateResourceShare {target.resource_id}: {', '.join(who)}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        session.client("ram").disassociate_resource_share(
            resourceShareArn=target.resource_arn, principals=list(state["offending"])
        )
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"disassociated": list(before["offending"])}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        ram = session.client("ram")
        wanted = [str(p) for p in undo_data.get("disassociated") or []]
        live = set(associated_principals(ram, target.resource_arn))
        missing = [p for p in wanted if p not in live]
        if not missing:
            return [f"resource share {target.resource_id} already has {', '.join(wanted) or 'nothing to restore'}"]
        ram.associate_resource_share(resourceShareArn=target.resource_arn, principals=missing)
        return [f"ram:AssociateResourceShare {target.resource_id}: {', '.join(missing)} associated again"]
