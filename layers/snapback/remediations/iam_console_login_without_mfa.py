"""Page on-call when an IAM user signs in to the console without MFA.

Trigger: the console sign-in (`ConsoleLogin`, both detail-type spellings, any Region) of an IAM
    user (`userIdentity.type` IAMUser) that succeeded (`responseElements.ConsoleLogin` Success)
    with `additionalEventData.MFAUsed` No. The seeds ask for MFA everywhere: a password alone
    opened the console. Never: the root user (root_activity_alert), IAM Identity Center and other
    federated sign-ins (`userIdentity.type` AssumedRole / FederatedUser: MFA is the identity
    provider's business and CloudTrail records MFAUsed No for them), failed sign-ins, sign-ins
    with MFA.
Action: none in the member account. A CRITICAL alert (SNS and a Security Hub finding) naming the
    user, source IP, user agent and `risk` (no MFA; a source IP outside option `trusted_cidrs`).
    Why nothing automatic: the session is already open and a console session cannot be revoked
    on its own (only every session of the user, by a deny on aws:TokenIssueTime, which
    iam_contain_credentials does on a confirmed compromise); enforcing MFA is a policy (an SCP or
    a "deny without MFA" policy), not an incident response.
Undo: none - Snapback changes nothing (alert only).
Permissions: none in the member account (the alert is built from the event alone).
Side effects: none. Break-glass IAM users that sign in without MFA on purpose belong in an
    exemption (`resources`: the user's ARN).
"""

from __future__ import annotations

from typing import Any

from snapback.errors import NotApplicable
from snapback.events import CONSOLE_SIGNIN, CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import AlertRemediation
from snapback.remediations.root_activity_alert import _yes_no, outside
from snapback.triggers import Trigger

SIGN_IN = "ConsoleLogin"


@register
class IamConsoleLoginWithoutMfa(AlertRemediation):
    name = "iam_console_login_without_mfa"
    summary = "IAM user console sign-in without MFA"
    severity = Severity.HIGH
    finding_type = "Unusual Behaviors/User/IAM user console sign-in without MFA"
    alert_reason = "alert only: an IAM user opened the console with a password alone; on-call paged"
    triggers = (
        Trigger(
            id="signin",
            description="Successful console sign-in of an IAM user without MFA",
            pattern={
                "source": ["aws.signin"],
                "detail-type": sorted(CONSOLE_SIGNIN),
                "detail": {
                    "eventName": [SIGN_IN],
                    "userIdentity": {"type": ["IAMUser"]},
                    "responseElements": {"ConsoleLogin": ["Success"]},
                    "additionalEventData": {"MFAUsed": ["No", "NO", "no"]},
                },
            },
        ),
    )
    permissions = ()
    call_budget = 6
    defaults = {"trusted_cidrs": []}

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None or call.event_name != SIGN_IN:
            raise NotApplicable("not a console sign-in")
        actor = call.actor
        if actor.type != "IAMUser":
            raise NotApplicable(f"sign-in by {actor.type}, not an IAM user (root and federated sign-ins are not this alert's)")
        user = actor.user_name or (actor.arn or "").rsplit("/", 1)[-1]
        if not user:
            raise NotApplicable("the sign-in names no IAM user")
        account = actor.account_id or event.account
        partition = (actor.arn or "arn:aws").split(":")[1] if (actor.arn or "").startswith("arn:") else "aws"
        result = (call.response or {}).get(SIGN_IN)
        mfa = _yes_no(call.additional.get("MFAUsed"))
        facts: dict[str, Any] = {
            **call.facts(),
            "user": user,
            "MFAUsed": mfa,
            "ConsoleLogin": result if isinstance(result, str) else "unknown",
            "summary": f"IAM user {user} signed in to the console without MFA from {call.source_ip or 'an unknown IP'}",
        }
        target = Target(
            account=event.account,
            region=call.region or event.region,
            resource_type="AwsIamUser",
            resource_id=user,
            resource_arn=actor.arn or f"arn:{partition}:iam::{account}:user/{user}",
            idempotency_key=call.idempotency_key(f"signin#{event.account}#{user}#{call.event_time}"),
            principal_arn=actor.arn,
            facts=facts,
        )
        if facts["ConsoleLogin"] != "Success":
            raise NotApplicable(f"sign-in {facts['ConsoleLogin']}: nobody got in", target)
        if mfa != "No":
            raise NotApplicable(f"MFAUsed {mfa}", target)
        risk = ["no MFA"]
        cidrs = list(self.options.get("trusted_cidrs") or [])
        if cidrs and outside(call.source_ip, cidrs):
            risk.append(f"source IP {call.source_ip or 'unknown'} is not in trusted_cidrs")
        facts["risk"] = risk
        return target
