"""The guards every event passes before anything is claimed or read: source, failed call, loop,
organization membership, and which accounts an event may name.

Pure functions of the parsed event, the settings and the organization directory; no I/O of their
own beyond the directory's membership lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from snapback.clients import source_identity
from snapback.errors import MalformedEvent
from snapback.events import GUARDDUTY_FINDING, CloudTrailCall, Envelope
from snapback.findings import parse_guardduty
from snapback.outcomes import Target
from snapback.triggers import STACKSETS_ROLE

if TYPE_CHECKING:
    from snapback.config import Config


class Membership(Protocol):
    def contains(self, account: str) -> bool: ...

    def accounts(self) -> set[str]: ...


def skip_reason(event: Envelope, call: CloudTrailCall | None, *, config: Config, org: Membership) -> str | None:
    """Why this event must not be acted on (SKIPPED), or None when it passes every guard."""
    if not event.source.startswith("aws."):
        return f"untrusted source {event.source!r}: only AWS service events are acted on"
    if call is not None:
        if call.failed:
            return f"the call failed ({call.error_code}); nothing changed"
        role = config.member_role_name
        actor = call.actor
        if (
            (actor.arn and f":assumed-role/{role}/" in actor.arn)
            or (actor.session_issuer_arn and actor.session_issuer_arn.endswith(f":role/{role}"))
            or (actor.source_identity or "").startswith(source_identity(""))
        ):
            return "loop guard: the actor is Snapback's own remediator role"
        if actor.arn and f":assumed-role/{STACKSETS_ROLE}" in actor.arn:
            return "loop guard: the actor is the StackSets execution role deploying Snapback"
    if event.detail_type == GUARDDUTY_FINDING:
        try:
            if parse_guardduty(event.detail).sample:
                return "GuardDuty sample finding: never acted on"
        except MalformedEvent:
            pass  # resolve reports it
    if not org.contains(event.account):
        return f"account {event.account} is not in organization {config.organization_id}"
    return None


def accounts_event_may_name(event: Envelope, *, config: Config, org: Membership) -> set[str]:
    """The accounts whose resources this event may point Snapback at."""
    # Findings aggregated in the security account name resources of member accounts (an organization
    # Access Analyzer lives in its delegated administrator); any other event may only name resources
    # of the account EventBridge says it came from.
    if event.account == config.security_account and event.source in ("aws.securityhub", "aws.guardduty", "aws.access-analyzer"):
        return set(org.accounts())
    return {event.account}


def target_skip_reason(event: Envelope, target: Target, *, config: Config, org: Membership) -> str | None:
    """Why the resource `resolve` found must not be acted on for this event (account binding), or None."""
    if target.account not in accounts_event_may_name(event, config=config, org=org):
        return f"event from {event.account} names a resource in {target.account}"
    return None
