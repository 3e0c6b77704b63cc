"""Restore the account-level S3 block public access when it is deleted or weakened.

Trigger: CloudTrail (successful calls only, never Snapback's own): DeleteAccountPublicAccessBlock;
    PutAccountPublicAccessBlock turning any of the four settings off (a setting the request leaves
    out is off: the put replaces the block). Both arrive with eventSource s3.amazonaws.com and the
    account in the host (`<account>.s3-control.<region>.amazonaws.com`).
    AWS Config: a NON_COMPLIANT compliance change of `s3-account-level-public-access-blocks` or
    `...-periodic` (matched anywhere in the rule name: Security Hub, conformance packs and
    organization rules add prefixes and suffixes). GuardDuty: Policy:S3/AccountBlockPublicAccessDisabled
    (sample findings never act). Security Hub: FAILED control S3.1 from AWS's own products.
Action: re-read the account's public access block (s3control GetPublicAccessBlock); if any of the
    four settings is off, turn all four on (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy,
    RestrictPublicBuckets), then read it again to verify. Bucket-level blocks are left as they are:
    S3 applies the most restrictive combination, so the account block covers every bucket.
Undo: put back the previous account block exactly, or delete it if the account had none.
Permissions: s3:GetAccountPublicAccessBlock, s3:PutAccountPublicAccessBlock (the IAM actions
    behind s3control Get/Put/DeletePublicAccessBlock; there is no s3:DeleteAccountPublicAccessBlock).
Sweep (once per account): the account's block is inspected as for an event; any setting off or
    no block at all is a violation.
Side effects: every public bucket and object in the account stops being public at once. An account
    managed by an organization-level S3 policy answers AccessDenied: FAILED, and on-call is told.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from snapback.clients import MemberSession
from snapback.errors import MalformedEvent, NotApplicable
from snapback.events import CONFIG_COMPLIANCE, GUARDDUTY_FINDING, CloudTrailCall, Envelope, is_account_id, parse_config_compliance
from snapback.findings import AsffFinding, parse_guardduty, stale_finding, updated_at
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.s3_blocks import PublicAccessBlockRemediation, flags_turned_off
from snapback.triggers import Trigger, cloudtrail_pattern, config_compliance_pattern, guardduty_pattern

CONFIG_RULES = ("s3-account-level-public-access-blocks",)  # also matches the -periodic variant
CONFIG_RESOURCE_TYPES = ("AWS::::Account", "AWS::S3::AccountPublicAccessBlock")
GUARDDUTY_TYPES = ("Policy:S3/AccountBlockPublicAccessDisabled",)


@register
class S3AccountBlockPublicAccess(PublicAccessBlockRemediation):
    name = "s3_account_block_public_access"
    summary = "S3 account-level block public access deleted or weakened"
    severity = Severity.HIGH
    finding_type = "Effects/Data Exposure/S3 account block public access weakened"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Account-level public access block deleted or changed",
            pattern=cloudtrail_pattern(
                "aws.s3", "s3.amazonaws.com", ["PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock"]
            ),
        ),
        Trigger(
            id="config",
            description="AWS Config found the account-level public access block off",
            pattern=config_compliance_pattern(list(CONFIG_RULES), list(CONFIG_RESOURCE_TYPES)),
        ),
        Trigger(
            id="guardduty",
            description="GuardDuty: account-level block public access disabled",
            pattern=guardduty_pattern(list(GUARDDUTY_TYPES)),
        ),
    )
    controls = ("S3.1",)
    state_key = "account_public_access_block"
    service = "s3control"
    permissions = ("s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock")
    call_budget = 13
    sweep_scope = "account"

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is not None:
            return self._resolve_call(event, call)
        if event.detail_type == CONFIG_COMPLIANCE:
            return self._resolve_config(event)
        if event.detail_type == GUARDDUTY_FINDING:
            return self._resolve_guardduty(event)
        raise NotApplicable(f"{event.detail_type} is not an event this remediation reads")

    def _target(self, account: str, region: str, key: str, facts: dict[str, Any], actor: str | None = None) -> Target:
        return Target(
            account=account,
            region=region,
            resource_type="AwsAccount",
            resource_id=account,
            resource_arn=f"AWS::::Account:{account}",
            idempotency_key=key,
            principal_arn=actor,
            facts=facts,
        )

    def _resolve_call(self, event: Envelope, call: CloudTrailCall) -> Target:
        target = self._target(
            event.account,
            call.region or event.region,
            call.idempotency_key(f"s3control#{event.account}#{call.event_time}"),
            {
                "summary": f"{call.event_name} in account {event.account}",
                **call.facts(),
            },
            actor=call.actor.arn,
        )
        if call.event_name == "DeleteAccountPublicAccessBlock":
            why = "account public access block deleted"
        elif call.event_name == "PutAccountPublicAccessBlock":
            off = flags_turned_off(call.request.get("PublicAccessBlockConfiguration"))
            if off == []:
                raise NotApplicable("the new account public access block keeps every setting on", target)
            why = f"account public access block weakened ({', '.join(off or ['settings unreadable'])} off)"
        else:
            raise NotApplicable(f"{call.event_name} does not change the account public access block", target)
        target.facts["summary"] += f": {why}"
        return target

    def _resolve_config(self, event: Envelope) -> Target:
        change = parse_config_compliance(event.detail)
        account = change.account or event.account
        target = self._target(
            account,
            change.region or event.region,
            change.idempotency_key,
            {
                "summary": f"AWS Config rule {change.rule_name}: account {account} is {change.compliance or 'unknown'}",
                "config_rule": change.rule_name,
                "compliance": change.compliance,
                "recorded_at": change.recorded_at,
            },
        )
        if not any(rule in change.rule_name for rule in CONFIG_RULES):
            raise NotApplicable(f"Config rule {change.rule_name} is not one this remediation answers", target)
        if change.compliance != "NON_COMPLIANT":
            raise NotApplicable(f"Config reports {change.compliance or 'no compliance type'}, not NON_COMPLIANT", target)
        return target

    def _resolve_guardduty(self, event: Envelope) -> Target:
        finding = parse_guardduty(event.detail)
        target = self._target(
            finding.account,
            finding.region or event.region,
            f"{finding.idempotency_key}#{updated_at(event.detail)}",
            {
                "summary": f"GuardDuty {finding.type} in account {finding.account}: {finding.title}",
                "finding_type": finding.type,
                "finding_id": finding.id,
                "severity": finding.severity,
                "actor": finding.user_name or finding.principal_id,
            },
        )
        if finding.type not in GUARDDUTY_TYPES:
            raise NotApplicable(f"GuardDuty {finding.type} is not about the account public access block", target)
        return target

    def resolve_finding(self, event: Envelope, finding: AsffFinding) -> Target:
        accounts = {r.id.rsplit(":", 1)[-1] for r in finding.resources if r.type == "AwsAccount"}
        if not is_account_id(finding.account) or accounts - {finding.account}:
            raise MalformedEvent(f"Security Hub finding {finding.id} names an account other than its own ({sorted(accounts)})")
        region = next((r.region for r in finding.resources if r.region), None) or finding.region or event.region
        target = self._target(
            finding.account,
            region,
            f"{finding.idempotency_key}#{updated_at(event.detail)}",
            {
                "summary": f"Security Hub control {finding.control_id} FAILED for account {finding.account}: {finding.title}",
                "control": finding.control_id,
                "finding_id": finding.id,
            },
        )
        if finding.control_id not in self.controls:
            raise NotApplicable(f"control {finding.control_id} is not one this remediation fixes", target)
        stale = stale_finding(event, finding)
        if stale:
            raise NotApplicable(stale, target)
        return target

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        target = self._target(
            account,
            region,
            self.sweep_key(account, "global", account),
            {"summary": f"account {account} has no complete account-level public access block"},
        )
        if not self.is_compliant(self.inspect(session, target)):
            yield target

    def where(self, target: Target) -> dict[str, str]:
        return {"AccountId": target.account}

    def label(self, target: Target) -> str:
        return f"account {target.account}"
