"""Page on-call (critical) when an account leaves, is removed from, or tries to leave the organization.

Trigger: CloudTrail, eventSource organizations.amazonaws.com (us-east-1): LeaveOrganization (called
    by the member itself) and RemoveAccountFromOrganization (called in the management account),
    successful or not: a refused attempt (AccessDenied by the SCP, ConstraintViolationException
    because the account cannot stand alone yet) is an intruder testing the door, so failed calls
    route here too (trigger `attempts`, the only Snapback trigger that matches failed calls; the
    runtime's failed-call guard is relaxed for these two calls only, every other guard applies).
    Also the AWS Service Event AccountDepartedOrganization that Organizations writes in the
    management account when a member leaves: the one durable trace of a completed departure,
    because the departed account's own LeaveOrganization event is forwarded by a role that is no
    longer in the organization and the central bus (aws:PrincipalOrgID) refuses it.
Action: none in any account. A CRITICAL alert naming the account, who, from where, done or
    attempted (with the error), and what was lost: once outside, no SCP, no organization trail,
    no delegated GuardDuty / Security Hub / Config, and no Snapback (its member role and rules stay
    but nothing receives their events) protect or watch it.
    Why nothing automatic: re-joining needs an invitation accepted from inside the departed
    account, which only its owner can do; a removal by the management account may be legitimate.
Undo: none - Snapback changes nothing (alert only).
Permissions: none in member accounts (the alert is built from the event alone).
Side effects: none. To bring an account back: in the management account
    `aws organizations invite-account-to-organization --target Id=<account>,Type=ACCOUNT`, then in the
    account `aws organizations accept-handshake --handshake-id <id>`; its StackSet instances are
    redeployed by auto-deployment once it is in a target OU again.
"""

from __future__ import annotations

from typing import Any

from snapback.errors import MalformedEvent, NotApplicable
from snapback.events import CloudTrailCall, Envelope, is_account_id, parse_cloudtrail
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import AlertRemediation
from snapback.triggers import Trigger, cloudtrail_pattern

DEPARTURES = ("LeaveOrganization", "RemoveAccountFromOrganization")
DEPARTED = "AccountDepartedOrganization"
SERVICE_EVENT = "AWS Service Event via CloudTrail"
RESTORE = (
    "to bring it back: `aws organizations invite-account-to-organization --target Id={account},Type=ACCOUNT` in the "
    "management account, then `aws organizations accept-handshake --handshake-id <id>` in the account"
)


def _attempts_pattern() -> dict[str, Any]:
    pattern = cloudtrail_pattern("aws.organizations", "organizations.amazonaws.com", list(DEPARTURES))
    pattern["detail"]["errorCode"] = [{"exists": True}]
    return pattern


@register
class OrganizationDepartureAlert(AlertRemediation):
    name = "organization_departure_alert"
    summary = "An account left, was removed from, or tried to leave the organization"
    severity = Severity.CRITICAL
    finding_type = "TTPs/Defense Evasion/Organization departure"
    alert_reason = (
        "alert only: an account outside the organization has no SCP, no organization trail, no delegated "
        "GuardDuty / Security Hub and no Snapback; only its owner can accept an invitation back: on-call paged"
    )
    triggers = (
        Trigger(
            id="cloudtrail",
            description="LeaveOrganization or RemoveAccountFromOrganization succeeded",
            pattern=cloudtrail_pattern("aws.organizations", "organizations.amazonaws.com", list(DEPARTURES)),
        ),
        Trigger(
            id="attempts", description="LeaveOrganization or RemoveAccountFromOrganization refused", pattern=_attempts_pattern()
        ),
        Trigger(
            id="departed",
            description="Organizations recorded an account's departure (management account)",
            pattern={"source": ["aws.organizations"], "detail-type": [SERVICE_EVENT], "detail": {"eventName": [DEPARTED]}},
        ),
    )
    permissions = ()
    call_budget = 6

    def acts_on_failed_call(self, call: CloudTrailCall) -> bool:
        # An attempted departure matters as much as a done one: the failed-call guard is waived for
        # these two calls only; source, loop and organization guards still apply.
        return call.event_name in DEPARTURES and call.event_source == "organizations.amazonaws.com"

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None and event.detail_type == SERVICE_EVENT:
            call = parse_cloudtrail(event.detail)
        if call is None or call.event_source != "organizations.amazonaws.com":
            raise NotApplicable("not an Organizations call")
        if call.event_name == "LeaveOrganization":
            departed = event.account
        elif call.event_name == "RemoveAccountFromOrganization":
            departed = call.request.get("accountId")
        elif call.event_name == DEPARTED:
            details = event.detail.get("serviceEventDetails")
            departed = (details if isinstance(details, dict) else {}).get("accountId") or call.request.get("accountId")
        else:
            raise NotApplicable(f"{call.event_name} is not a departure")
        if not isinstance(departed, str) or not is_account_id(departed):
            raise MalformedEvent(f"{call.event_name} names no 12-digit account id")
        done = not call.failed
        verb = {
            "LeaveOrganization": "left the organization" if done else "tried to leave the organization",
            "RemoveAccountFromOrganization": "was removed from the organization"
            if done
            else "removal from the organization was attempted",
            DEPARTED: "departed the organization (recorded by Organizations)",
        }[call.event_name]
        facts: dict[str, Any] = {
            **call.facts(),
            "departed_account": departed,
            "done": done,
            "summary": f"account {departed} {verb}" + ("" if done else f" ({call.error_code}: {call.error_message or '-'})"),
            "restore": RESTORE.format(account=departed),
        }
        if call.error_code:
            facts["error_code"] = call.error_code
        return Target(
            account=event.account,  # where the call was made: the account EventBridge vouches for
            region=call.region or event.region,
            resource_type="AwsAccount",
            resource_id=departed,
            resource_arn=f"AWS::::Account:{departed}",
            idempotency_key=call.idempotency_key(f"departure#{departed}#{call.event_name}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts=facts,
        )
