"""Page when security logs are destroyed; put back a security log group and its retention.

Trigger: CloudTrail (successful calls only, never Snapback's own): CloudWatch Logs DeleteLogGroup
    and PutRetentionPolicy on a security log group (names matching the `security_log_groups`
    option: CloudTrail, VPC flow logs, Route 53 Resolver query logs, GuardDuty, audit...; any
    other log group is not applicable, SKIPPED); EC2 DeleteFlowLogs; Route 53 Resolver
    DeleteResolverQueryLogConfig and DisassociateResolverQueryLogConfig.
Action: re-read the log group (DescribeLogGroups) and compare with its last known good, then:
    - retention cut (fewer days than the last known good, or than `min_retention_days` when none
      is recorded; "never expire" counts as longest): PutRetentionPolicy back to the last known
      good days (DeleteRetentionPolicy if it never expired), else to `min_retention_days`;
      a retention increase is ALREADY_COMPLIANT (not paged);
    - log group deleted: CreateLogGroup with the same name (and the last known good KMS key and
      retention), so that CloudTrail, flow logs and query logging deliver again; the deleted
      events are gone for good (CRITICAL page);
    - flow logs deleted, Resolver query logging deleted or disassociated: alert only (CRITICAL), with
      the ids from the event and the exact command to recreate them: the deleted definition
      (destination, IAM role, format, resource) is not in the event and is not read back after
      deletion, so Snapback does not guess it.
    Last known good: every security log group Snapback reads with its retention not cut is
    remembered (`lkg#log_destruction_alert#<account>#<region>#<group>`: retention, KMS key).
Undo: put the before state back: the previous (shorter) retention, or delete a log group Snapback
    recreated while it is still empty of streams; each step reads first.
Permissions: logs:DescribeLogGroups, logs:PutRetentionPolicy, logs:DeleteRetentionPolicy,
    logs:CreateLogGroup, logs:DescribeLogStreams (undo), logs:DeleteLogGroup (undo).
Sweep (every configured Region): security log groups whose retention is shorter than their last
    known good are violations; healthy ones become the last known good.
Side effects: longer retention costs storage. Options: `security_log_groups` (fnmatch patterns),
    `min_retention_days` (365).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from snapback.clients import MemberSession
from snapback.errors import NotApplicable
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.paging import PageAlways
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

LOG_CALLS = ("DeleteLogGroup", "PutRetentionPolicy")
FLOW_CALLS = ("DeleteFlowLogs",)
RESOLVER_CALLS = ("DeleteResolverQueryLogConfig", "DisassociateResolverQueryLogConfig")
NEVER = 10**9  # "never expire" sorts above every retention
DEFAULT_GROUPS = [
    "*cloudtrail*",
    "*CloudTrail*",
    "*flowlog*",
    "*flow-log*",
    "*FlowLog*",
    "/aws/vpc/*",
    "/aws/route53/*",
    "*resolver*",
    "/aws/guardduty/*",
    "*security*",
    "*audit*",
]
_FLOW_ID = re.compile(r"\bfl-[0-9a-f]{8,17}\b")


def days(retention: Any) -> int:
    return int(retention) if isinstance(retention, int) and retention > 0 else NEVER


def _words(value: int) -> str:
    return "never expire" if value >= NEVER else f"{value} days"


@register
class LogDestructionAlert(PageAlways, Remediation):
    name = "log_destruction_alert"
    summary = "Security logs destroyed: log group deleted or retention cut, flow logs or Resolver query logging deleted"
    severity = Severity.HIGH
    finding_type = "TTPs/Defense Evasion/Log destruction"
    triggers = (
        Trigger(
            id="logs",
            description="CloudWatch log group deleted or its retention changed",
            pattern=cloudtrail_pattern("aws.logs", "logs.amazonaws.com", list(LOG_CALLS)),
        ),
        Trigger(
            id="flowlogs",
            description="VPC flow logs deleted",
            pattern=cloudtrail_pattern("aws.ec2", "ec2.amazonaws.com", list(FLOW_CALLS)),
        ),
        Trigger(
            id="resolver",
            description="Route 53 Resolver query logging deleted or disassociated",
            pattern=cloudtrail_pattern("aws.route53resolver", "route53resolver.amazonaws.com", list(RESOLVER_CALLS)),
        ),
    )
    permissions = (
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:DeleteRetentionPolicy",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutRetentionPolicy",
    )
    call_budget = 16
    defaults = {"security_log_groups": DEFAULT_GROUPS, "min_retention_days": 365}
    sweep_scope = "region"
    # Snapback's memory, not the log group: an undo re-baselines the last known good by design.
    volatile_state = ("last_known_good", "restore_to")

    def _security(self, group: str) -> bool:
        return any(fnmatch.fnmatchcase(group, str(p)) for p in self.options.get("security_log_groups") or DEFAULT_GROUPS)

    # -- resolve ---------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        account, region = event.account, call.region or event.region
        key = call.idempotency_key(f"logs#{account}#{region}#{call.event_name}#{call.event_time}")
        facts: dict[str, Any] = {**call.facts()}
        if call.event_name in LOG_CALLS and call.event_source == "logs.amazonaws.com":
            group = call.request.get("logGroupName")
            if not isinstance(group, str) or not group:
                raise NotApplicable(f"{call.event_name} names no log group")
            if not self._security(group):
                raise NotApplicable(f"log group {group} is not a security log group (security_log_groups)")
            facts.update(kind="group", group=group)
            if call.event_name == "DeleteLogGroup":
                # Paged whoever finishes: a retry that finds the group recreated by a killed try pages it too.
                summary = f"security log group {group} deleted"
                facts.update(summary=summary, critical=True, page=f"{summary}: the deleted events are gone for good")
            else:
                facts["summary"] = f"retention of security log group {group} set to {call.request.get('retentionInDays')} days"
            return Target(
                account=account,
                region=region,
                resource_type="AwsLogsLogGroup",
                resource_id=group,
                resource_arn=f"arn:aws:logs:{region}:{account}:log-group:{group}",
                idempotency_key=key,
                principal_arn=call.actor.arn,
                facts=facts,
            )
        if call.event_name in FLOW_CALLS and call.event_source == "ec2.amazonaws.com":
            ids = sorted(set(_FLOW_ID.findall(json.dumps(call.request))))
            what = f"VPC flow logs deleted: {', '.join(ids) or 'ids not in the event'}"
            command = (
                f"`aws ec2 create-flow-logs --region {region} --resource-type VPC --resource-ids <vpc-id> --traffic-type ALL "
                "--log-destination-type s3 --log-destination <arn>` (or cloud-watch-logs with --deliver-logs-permission-arn)"
            )
            resource = ",".join(ids) or "flow-logs"
        elif call.event_name in RESOLVER_CALLS and call.event_source == "route53resolver.amazonaws.com":
            config = call.request.get("resolverQueryLogConfigId")
            vpc = call.request.get("resourceId")
            verb = "deleted" if call.event_name.startswith("Delete") else f"disassociated from {vpc}"
            what = f"Route 53 Resolver query logging {config} {verb}"
            command = (
                f"`aws route53resolver associate-resolver-query-log-config --region {region} --resolver-query-log-config-id "
                f"{config if call.event_name.startswith('Disassociate') else '<new config id>'} --resource-id {vpc or '<vpc-id>'}`"
                + (
                    ""
                    if call.event_name.startswith("Disassociate")
                    else f" after `aws route53resolver create-resolver-query-log-config --region {region} --name <name> --destination-arn <arn>`"
                )
            )
            resource = str(config or "query-log-config")
        else:
            raise NotApplicable(f"{call.event_name} does not destroy security logs")
        facts.update(
            kind="alert",
            summary=what,
            critical=True,
            page=f"{what}: DNS / network records are no longer written and Snapback cannot know the deleted definition; "
            f"recreate it from infrastructure code or with {command}",
        )
        return Target(
            account=account,
            region=region,
            resource_type="Other",
            resource_id=resource,
            resource_arn=f"arn:aws:{call.event_source.split('.')[0]}:{region}:{account}:{resource}",
            idempotency_key=key,
            principal_arn=call.actor.arn,
            facts=facts,
        )

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        for page in session.client("logs").get_paginator("describe_log_groups").paginate():
            for group in page.get("logGroups", []):
                name = str(group["logGroupName"])
                if not self._security(name):
                    continue
                target = Target(
                    account=account,
                    region=region,
                    resource_type="AwsLogsLogGroup",
                    resource_id=name,
                    resource_arn=f"arn:aws:logs:{region}:{account}:log-group:{name}",
                    idempotency_key=self.sweep_key(account, region, f"log-group#{name}"),
                    facts={"kind": "group", "group": name, "sweep": True},
                )
                state = self.inspect(session, target)
                if not self.is_compliant(state):
                    target.facts["summary"] = f"security log group {name}: retention cut to {_words(state['retention'])}"
                    yield target

    # -- inspect ---------------------------------------------------------------------------------
    @staticmethod
    def _group(session: MemberSession, group: str) -> dict[str, Any] | None:
        found = [
            g
            for g in session.client("logs").describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
            if g.get("logGroupName") == group
        ]
        return dict(found[0]) if found else None

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        if target.facts.get("kind") == "alert":
            return {"kind": "alert"}
        group = target.facts["group"]
        found = self._group(session, group)
        good = self.known_good.recall(target.account, target.region, group) if self.known_good else None
        if found is None:
            return {"kind": "group", "exists": False, "last_known_good": good}
        retention = days(found.get("retentionInDays"))
        floor = days((good or {}).get("retention")) if good else int(self.options.get("min_retention_days") or 0)
        # Without a baseline only an event's cut is judged against the floor (the sweep trusts first sight).
        cut = retention < floor and (good is not None or not target.facts.get("sweep"))
        state = {
            "kind": "group",
            "exists": True,
            "retention": retention,
            "kms": found.get("kmsKeyId"),
            "last_known_good": good,
        }
        state["restore_to"] = floor if cut else None
        if not cut and self.known_good is not None:
            self.known_good.remember(target.account, target.region, {"retention": retention, "kms": state["kms"]}, key=group)
        return state

    # -- decide ----------------------------------------------------------------------------------
    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        if state.get("kind") == "alert":
            return True  # paged (PageAlways): nothing Snapback can restore
        return bool(state.get("exists")) and not state.get("restore_to")

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        if state.get("kind") == "alert":
            return []
        if not state.get("exists"):
            good = state.get("last_known_good") or {}
            return [
                f"logs:CreateLogGroup {target.resource_id} (empty: the deleted events are gone) with retention {_words(days(good.get('retention')))}"
            ]
        return [f"logs:PutRetentionPolicy {target.resource_id}: {_words(state['retention'])} -> {_words(state['restore_to'])}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        logs = session.client("logs")
        group = target.resource_id
        if not state.get("exists"):
            good = state.get("last_known_good") or {}
            if self._group(session, group) is None:  # (an interrupted earlier try may have recreated it)
                logs.create_log_group(logGroupName=group, **({"kmsKeyId": good["kms"]} if good.get("kms") else {}))
            retention = days(good.get("retention")) if good else days(self.options.get("min_retention_days"))
            if retention < NEVER:
                logs.put_retention_policy(logGroupName=group, retentionInDays=retention)
            if good and self.known_good is not None:
                # Restored from the baseline, which stays the baseline: a read of the group between the
                # two calls (a retry after a kill) saw "never expire", longer, and took it for one.
                self.known_good.remember(
                    target.account, target.region, {"retention": good.get("retention"), "kms": good.get("kms")}, key=group
                )
            target.facts["page"] = f"{target.facts.get('summary')}: recreated empty; the deleted events are gone for good"
        elif state["restore_to"] >= NEVER:
            logs.delete_retention_policy(logGroupName=group)
        else:
            logs.put_retention_policy(logGroupName=group, retentionInDays=state["restore_to"])
        return self.undo_data_for(target, state) or {}

    def finished(self, target: Target, before: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
        """A recreated group is whole only with its retention: a try killed after CreateLogGroup leaves
        one that never expires, which counts as longer (compliant) but is not the restored group."""
        if before.get("kind") != "group" or before.get("exists"):
            return True
        good = before.get("last_known_good") or {}
        want = days(good.get("retention")) if good else days(self.options.get("min_retention_days"))
        return current.get("retention") == want

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        if before.get("kind") != "group":
            return None
        return {"existed": bool(before.get("exists")), "retention": before.get("retention")}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        logs = session.client("logs")
        group = target.resource_id
        now = self.inspect(session, target)
        if not now.get("exists"):
            return [f"log group {group} no longer exists: nothing to undo"]
        if not undo_data.get("existed"):
            if logs.describe_log_streams(logGroupName=group, limit=1).get("logStreams"):
                return [
                    f"log group {group} has received logs since Snapback recreated it: not deleted (delete it by hand if wanted)"
                ]
            logs.delete_log_group(logGroupName=group)
            return [f"logs:DeleteLogGroup {group} (Snapback recreated it empty; it had been deleted)"]
        before = days(undo_data.get("retention"))
        if now.get("retention") == before:
            return ["nothing to undo: the retention already matches the recorded before state"]
        if before >= NEVER:
            logs.delete_retention_policy(logGroupName=group)
        else:
            logs.put_retention_policy(logGroupName=group, retentionInDays=before)
        if self.known_good is not None:  # an operator chose this retention: the new baseline
            self.known_good.remember(target.account, target.region, {"retention": before, "kms": now.get("kms")}, key=group)
        return [f"logs:PutRetentionPolicy {group}: back to {_words(before)}"]
