"""Keep Security Hub on: re-enable it when disabled; page every other way of blinding it.

Trigger: CloudTrail (successful calls only, never Snapback's own), eventSource
    securityhub.amazonaws.com: DisableSecurityHub; DisassociateFromAdministratorAccount /
    DisassociateFromMasterAccount; BatchDisableStandards; UpdateStandardsControl with
    controlStatus DISABLED; BatchUpdateStandardsControlAssociations setting an association
    DISABLED; CreateAutomationRule / BatchUpdateAutomationRules whose actions suppress findings
    (workflow SUPPRESSED or RESOLVED, or severity lowered to INFORMATIONAL). Benign neighbours are
    not applicable (SKIPPED): a control or association enabled, an automation rule that raises
    severity or adds a note, EnableSecurityHub and BatchEnableStandards (not routed).
Action:
    - Security Hub disabled: DescribeHub; if it is still off, EnableSecurityHub (without default
      standards: the org's own standards come back with the administrator's central configuration
      or with the command in the page); verified by DescribeHub. Disabling deleted the account's
      findings and standards subscriptions: that is in the page, CRITICAL.
    - every other trigger: alert only, CRITICAL for a disassociation, each with the exact command
      that restores it (BatchEnableStandards for the disabled standards, UpdateStandardsControl /
      BatchUpdateStandardsControlAssociations ENABLED for the controls, BatchDeleteAutomationRules or
      BatchUpdateAutomationRules RuleStatus=DISABLED for the suppressing rule, CreateMembers in the
      delegated administrator account for a disassociation). Why not reverted: the delegated
      administrator's central configuration owns standards and controls in an organization (a
      member's local change is either refused or overridden by the next policy push), and a
      member cannot re-join its administrator by itself; an automation rule's previous
      definition is not in the event.
Undo: DisableSecurityHub if Snapback enabled it (only ever done when it was off); nothing else is
    changed. Idempotent: undo reads DescribeHub first.
Permissions: securityhub:DescribeHub, securityhub:EnableSecurityHub, securityhub:DisableSecurityHub (undo).
Sweep: none (a Region where Security Hub is off is also where the org chose not to run it;
    Security Hub's own absence cannot be told apart from a disable without an event).
Side effects: a re-enabled hub starts with no findings; the administrator's central configuration
    re-applies its policy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import NotApplicable
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.paging import PageAlways
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

DISABLE = "DisableSecurityHub"
DISASSOCIATION = ("DisassociateFromAdministratorAccount", "DisassociateFromMasterAccount")
STANDARDS = ("BatchDisableStandards",)
CONTROLS = ("UpdateStandardsControl", "BatchUpdateStandardsControlAssociations")
RULES = ("CreateAutomationRule", "BatchUpdateAutomationRules")
ALL_CALLS = (DISABLE, *DISASSOCIATION, *STANDARDS, *CONTROLS, *RULES)
NOT_SUBSCRIBED = frozenset({"InvalidAccessException", "ResourceNotFoundException"})


def suppressing(actions: Any) -> bool:
    """Whether automation rule actions hide findings (CloudTrail keeps the request's casing: compare upper)."""
    text = json.dumps(actions or [], sort_keys=True).upper()
    return any(word in text for word in ('"SUPPRESSED"', '"RESOLVED"', '"INFORMATIONAL"'))


def standards_arn(subscription: str) -> str:
    """A standards subscription ARN -> the standards ARN BatchEnableStandards takes (same name and version)."""
    parts = subscription.split(":", 5)
    if len(parts) == 6 and parts[5].startswith("subscription/"):
        name = parts[5][len("subscription/") :]
        if name.startswith("cis-aws-foundations-benchmark/v/1.2.0"):
            return f"arn:{parts[1]}:securityhub:::ruleset/{name}"
        return f"arn:{parts[1]}:securityhub:{parts[3]}::standards/{name}"
    return subscription


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@register
class SecurityHubTampering(PageAlways, Remediation):
    name = "securityhub_tampering"
    summary = "Security Hub disabled or disassociated, standards or controls disabled, suppressing automation rules"
    severity = Severity.HIGH
    finding_type = "TTPs/Defense Evasion/Security Hub tampering"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Security Hub disabled, disassociated, standards or controls disabled, automation rules changed",
            pattern=cloudtrail_pattern("aws.securityhub", "securityhub.amazonaws.com", list(ALL_CALLS)),
        ),
    )
    permissions = ("securityhub:DescribeHub", "securityhub:DisableSecurityHub", "securityhub:EnableSecurityHub")
    call_budget = 13

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name not in ALL_CALLS or call.event_source != "securityhub.amazonaws.com":
            raise NotApplicable(f"{call.event_name} does not tamper with Security Hub")
        account, region = event.account, call.region or event.region
        request, response = call.request, call.response or {}
        name = call.event_name
        hub = f"arn:aws:securityhub:{region}:{account}:hub/default"
        facts: dict[str, Any] = {**call.facts(), "kind": "alert"}
        resource_type, resource_id, arn = "AwsSecurityHubHub", "default", hub
        cli = f"aws securityhub --region {region}"
        if name == DISABLE:
            facts.update(
                kind="hub",
                critical=True,
                summary=f"Security Hub disabled in {region}",
                page=(
                    f"Security Hub was disabled in {account} {region}: its findings and standards subscriptions were deleted. "
                    f"Re-enable the standards the organization uses: `{cli} batch-enable-standards --standards-subscription-requests "
                    f"StandardsArn=arn:aws:securityhub:{region}::standards/aws-foundational-security-best-practices/v/1.0.0` "
                    "(or let the administrator's central configuration re-apply its policy)"
                ),
            )
        elif name in DISASSOCIATION:
            facts.update(
                critical=True,
                summary=f"Security Hub in {account} {region} disassociated from its administrator account",
                page=(
                    f"findings of {account} in {region} no longer reach the administrator; a member cannot re-join by itself. In the "
                    f"delegated administrator account: `{cli} create-members --account-details AccountId={account}`"
                ),
            )
        elif name in STANDARDS:
            subscriptions = [str(s) for s in _list(request.get("standardsSubscriptionArns"))]
            requests = " ".join(f"StandardsArn={standards_arn(s)}" for s in subscriptions) or "StandardsArn=<standards arn>"
            facts.update(
                summary=f"Security Hub standards disabled: {', '.join(subscriptions) or '-'}",
                page=f"re-enable them: `{cli} batch-enable-standards --standards-subscription-requests {requests}`",
            )
            resource_type, resource_id, arn = (
                "Other",
                ",".join(subscriptions) or "standards",
                subscriptions[0] if subscriptions else hub,
            )
        elif name == "UpdateStandardsControl":
            control = request.get("standardsControlArn")
            if str(request.get("controlStatus") or "").upper() != "DISABLED":
                raise NotApplicable(f"UpdateStandardsControl leaves {control} enabled")
            facts.update(
                summary=f"Security Hub control disabled: {control} ({request.get('disabledReason') or 'no reason given'})",
                page=f"re-enable it: `{cli} update-standards-control --standards-control-arn {control} --control-status ENABLED`",
            )
            resource_type, resource_id, arn = "Other", str(control), str(control)
        elif name == "BatchUpdateStandardsControlAssociations":
            items = [
                i
                for i in _list(request.get("standardsControlAssociationUpdates"))
                if isinstance(i, Mapping) and str(i.get("associationStatus") or "").upper() == "DISABLED"
            ]
            if not items:
                raise NotApplicable("BatchUpdateStandardsControlAssociations disables no control")
            pairs = [f"{i.get('securityControlId')} in {i.get('standardsArn')}" for i in items]
            args = " ".join(
                f"StandardsArn={i.get('standardsArn')},SecurityControlId={i.get('securityControlId')},AssociationStatus=ENABLED"
                for i in items
            )
            facts.update(
                summary=f"Security Hub controls disabled: {'; '.join(pairs)}",
                page=f"re-enable them: `{cli} batch-update-standards-control-associations --standards-control-association-updates {args}`",
            )
            resource_type, resource_id = "Other", ",".join(str(i.get("securityControlId")) for i in items)
        else:
            rules = (
                [request]
                if name == "CreateAutomationRule"
                else [r for r in _list(request.get("updateAutomationRulesRequestItems")) if isinstance(r, Mapping)]
            )
            bad = [r for r in rules if suppressing(r.get("actions"))]
            if not bad:
                raise NotApplicable(f"{name}: no action suppresses, resolves or downgrades findings")
            arns = [str(r.get("ruleArn") or response.get("ruleArn") or r.get("ruleName") or "?") for r in bad]
            facts.update(
                summary=f"Security Hub automation rule suppresses findings: {', '.join(arns)} (criteria "
                f"{json.dumps(bad[0].get('criteria') or {}, sort_keys=True)[:500]})",
                page=f"review it, then disable or delete it: `{cli} batch-delete-automation-rules --automation-rules-arns {' '.join(arns)}`",
            )
            resource_type, resource_id = "Other", ",".join(arns)
            arn = arns[0] if arns[0].startswith("arn:") else hub
        return Target(
            account=account,
            region=region,
            resource_type=resource_type,
            resource_id=resource_id,
            resource_arn=arn,
            idempotency_key=call.idempotency_key(f"securityhub#{arn}#{name}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts=facts,
        )

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        if target.facts.get("kind") != "hub":
            return {"kind": "alert"}
        try:
            hub = session.client("securityhub").describe_hub()
        except ClientError as err:
            if error_code(err) not in NOT_SUBSCRIBED:
                raise
            return {"kind": "hub", "enabled": False}
        return {"kind": "hub", "enabled": True, "hub_arn": hub.get("HubArn"), "subscribed_at": hub.get("SubscribedAt")}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return state.get("kind") != "hub" or bool(state.get("enabled"))

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        return [f"securityhub:EnableSecurityHub in {target.region} (no default standards)"] if state.get("kind") == "hub" else []

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        session.client("securityhub").enable_security_hub(EnableDefaultStandards=False)
        return self.undo_data_for(target, state) or {}

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"enabled": False} if before.get("kind") == "hub" else None

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        if not self.inspect(session, target).get("enabled"):
            return [f"Security Hub is already off in {target.region}: nothing to undo"]
        session.client("securityhub").disable_security_hub()
        return [f"securityhub:DisableSecurityHub in {target.region} (it was off before Snapback enabled it)"]
