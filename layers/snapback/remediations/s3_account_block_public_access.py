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

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import MalformedEvent, NotApplicable
from snapback.events import CONFIG_COMPLIANCE, GUARDDUTY_FINDING, CloudTrailCall, Envelope, is_account_id
from snapback.findings import AsffFinding, parse_guardduty
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation, Trigger, cloudtrail_pattern, guardduty_pattern
from snapback.remediations.s3_block_public_access import (
    FLAGS,
    config_compliance_pattern,
    flags_turned_off,
    parse_config_compliance,
    stale_finding,
    updated_at,
)

CONFIG_RULES = ("s3-account-level-public-access-blocks",)  # also matches the -periodic variant
CONFIG_RESOURCE_TYPES = ("AWS::::Account", "AWS::S3::AccountPublicAccessBlock")
GUARDDUTY_TYPES = ("Policy:S3/AccountBlockPublicAccessDisabled",)


@register
class S3AccountBlockPublicAccess(Remediation):
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
    permissions = ("s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock")
    call_budget = 16
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

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        try:
            config = session.client("s3control").get_public_access_block(AccountId=target.account)[
                "PublicAccessBlockConfiguration"
            ]
        except ClientError as err:
            if error_code(err) != "NoSuchPublicAccessBlockConfiguration":
                raise
            return {"account_public_access_block": None}
        return {"account_public_access_block": {flag: bool(config.get(flag)) for flag in FLAGS}}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        block = state.get("account_public_access_block")
        return bool(block) and all(block.get(flag) for flag in FLAGS)

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        block = state.get("account_public_access_block") or {}
        off = [flag for flag in FLAGS if not block.get(flag)]
        return [f"s3control:PutPublicAccessBlock on account {target.account}: turn on {', '.join(off)}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        session.client("s3control").put_public_access_block(
            AccountId=target.account, PublicAccessBlockConfiguration={flag: True for flag in FLAGS}
        )
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"previous_block": before.get("account_public_access_block")}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        s3control = session.client("s3control")
        previous = undo_data.get("previous_block")
        if previous is None:
            s3control.delete_public_access_block(AccountId=target.account)
            return [f"s3control:DeletePublicAccessBlock on account {target.account} (it had none)"]
        s3control.put_public_access_block(AccountId=target.account, PublicAccessBlockConfiguration=dict(previous))
        return [f"s3control:PutPublicAccessBlock on account {target.account}: restored {previous}"]
