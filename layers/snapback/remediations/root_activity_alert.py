"""Page on-call when an account's root user is used: sign-in, access key created, MFA removed.

Trigger: the root user's console sign-in, successful or failed, with or without MFA (both
    detail-type spellings, "AWS Console Sign In via CloudTrail" and "AWS Console Signin via
    CloudTrail", any Region); and the root user's successful IAM calls CreateAccessKey (a
    long-term root key, or a key it made for an IAM user) and DeactivateMFADevice /
    DeleteVirtualMFADevice (its MFA taken away). Only `userIdentity.type` Root selects an event;
    failed API calls (`errorCode`) never do, failed sign-ins always do.
Action: none in the member account. A CRITICAL alert (SNS and a Security Hub finding) whose facts
    carry who, where from (source IP, user agent), MFAUsed (Yes/No), the sign-in result
    (ConsoleLogin Success/Failure), the key or MFA device concerned, and `risk`: the reasons it
    deserves a page now (no MFA, a failed sign-in, a source IP outside the `trusted_cidrs` option,
    a new root key, root MFA removed).
    Why nothing automatic: IAM policies cannot restrict the root user, so there is no session to
    revoke; break-glass use is legitimate; the only levers (deleting root credentials through
    centralised root access) are destructive, and acting on an unverified sign-in is a self-DoS.
Undo: none - Snapback changes nothing (alert only).
Permissions: none in the member account (the alert is built from the event alone).
Side effects: none. Options: `trusted_cidrs` (CIDRs a break-glass sign-in is expected from; an
    IP outside them is flagged in `risk`; empty, the default, flags no IP).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from snapback.errors import NotApplicable
from snapback.events import CONSOLE_SIGNIN, CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import AlertRemediation
from snapback.triggers import Trigger, cloudtrail_pattern

SIGN_IN = "ConsoleLogin"
ROOT_API_CALLS = ("CreateAccessKey", "DeactivateMFADevice", "DeleteVirtualMFADevice")


def _root_api_pattern() -> dict[str, Any]:
    pattern = cloudtrail_pattern("aws.iam", "iam.amazonaws.com", list(ROOT_API_CALLS))
    pattern["detail"]["userIdentity"]["type"] = ["Root"]
    return pattern


def _yes_no(value: Any) -> str:
    """CloudTrail writes MFAUsed as Yes/No (seen as "YES" too) and mfaAuthenticated as true/false."""
    text = str(value).strip().lower() if value is not None else ""
    if text in ("yes", "true"):
        return "Yes"
    if text in ("no", "false"):
        return "No"
    return "unknown"


def _mfa_authenticated(detail: Mapping[str, Any]) -> Any:
    identity = detail.get("userIdentity")
    context = identity.get("sessionContext") if isinstance(identity, Mapping) else None
    attributes = context.get("attributes") if isinstance(context, Mapping) else None
    return attributes.get("mfaAuthenticated") if isinstance(attributes, Mapping) else None


def outside(ip: str | None, cidrs: Sequence[str]) -> bool:
    """True unless `ip` parses and lies in one of `cidrs` (an unparseable IP is never trusted)."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return True
    for cidr in cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return False
        except ValueError:
            continue
    return True


@register
class RootActivityAlert(AlertRemediation):
    name = "root_activity_alert"
    summary = "Root user activity (sign-in, access key, MFA removed)"
    severity = Severity.CRITICAL
    finding_type = "Unusual Behaviors/User/Root user activity"
    alert_reason = "alert only: root user activity; the root user cannot be restricted by IAM, on-call paged"
    triggers = (
        Trigger(
            id="signin",
            description="Console sign-in by the root user (success or failure)",
            pattern={
                "source": ["aws.signin"],
                "detail-type": sorted(CONSOLE_SIGNIN),
                "detail": {"eventName": [SIGN_IN], "userIdentity": {"type": ["Root"]}},
            },
        ),
        Trigger(
            id="cloudtrail",
            description="Root user created an access key or removed an MFA device",
            pattern=_root_api_pattern(),
        ),
    )
    permissions = ()
    call_budget = 6
    defaults = {"trusted_cidrs": []}

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail record")
        account = event.account
        root_arn = call.actor.arn if call.actor.arn and call.actor.arn.endswith(":root") else f"arn:aws:iam::{account}:root"
        target = Target(
            account=account,
            region=call.region or event.region,
            resource_type="AwsAccount",
            resource_id="root",
            resource_arn=root_arn,
            idempotency_key=call.idempotency_key(f"root#{account}#{call.event_name}#{call.event_time}"),
            principal_arn=root_arn,
            facts={
                **call.facts(),
            },
        )
        if call.actor.type != "Root":
            raise NotApplicable(f"{call.event_name} by {call.actor.type}, not by the root user", target)
        if call.event_name == SIGN_IN:
            self._sign_in(call, target)
        elif call.event_name in ROOT_API_CALLS and call.event_source == "iam.amazonaws.com":
            self._api_call(call, event.detail, target)
        else:
            raise NotApplicable(f"{call.event_name} is not a root activity Snapback alerts on", target)
        return target

    def _sign_in(self, call: CloudTrailCall, target: Target) -> None:
        facts = target.facts
        facts["MFAUsed"] = _yes_no(call.additional.get("MFAUsed"))
        result = (call.response or {}).get(SIGN_IN)
        facts["ConsoleLogin"] = result if isinstance(result, str) and result else "unknown"
        if call.error_message:
            facts["error_message"] = call.error_message
        risk = self._risk(call, facts["MFAUsed"])
        if facts["ConsoleLogin"] == "Failure":
            risk.append("failed root sign-in: someone is trying the root password")
        facts["risk"] = risk
        facts["summary"] = (
            f"Root console sign-in {facts['ConsoleLogin']} (MFA {facts['MFAUsed']}) from {call.source_ip or 'an unknown IP'}"
        )

    def _api_call(self, call: CloudTrailCall, detail: Mapping[str, Any], target: Target) -> None:
        facts = target.facts
        facts["MFAUsed"] = _yes_no(_mfa_authenticated(detail))
        facts["ConsoleLogin"] = "n/a (API call)"
        if call.actor.invoked_by:
            facts["invoked_by"] = call.actor.invoked_by
        risk = self._risk(call, facts["MFAUsed"])
        if call.event_name == "CreateAccessKey":
            user = call.request.get("userName")
            key = (call.response or {}).get("accessKey")
            key_id = key.get("accessKeyId") if isinstance(key, Mapping) else None
            facts["access_key_id"] = key_id or "unknown"
            facts["for_user"] = user if isinstance(user, str) and user else "root"
            if facts["for_user"] == "root":
                risk.append("the root user now has a long-term access key")
                facts["summary"] = f"Root user created a root access key {facts['access_key_id']}"
            else:
                facts["summary"] = f"Root user created access key {facts['access_key_id']} for IAM user {user}"
        else:
            serial = call.request.get("serialNumber")
            facts["mfa_device"] = serial if isinstance(serial, str) and serial else "unknown"
            user = call.request.get("userName")
            facts["for_user"] = user if isinstance(user, str) and user else "root"
            verb = "deactivated" if call.event_name == "DeactivateMFADevice" else "deleted"
            if facts["for_user"] == "root":
                risk.append("root MFA removed: the root password alone now signs in")
            facts["summary"] = f"Root user {verb} MFA device {facts['mfa_device']} of {facts['for_user']}"
        facts["risk"] = risk

    def _risk(self, call: CloudTrailCall, mfa_used: str) -> list[str]:
        risk = []
        if mfa_used != "Yes":
            risk.append("no MFA")
        cidrs = list(self.options.get("trusted_cidrs") or [])
        if cidrs and outside(call.source_ip, cidrs):
            risk.append(f"source IP {call.source_ip or 'unknown'} is not in trusted_cidrs")
        return risk
