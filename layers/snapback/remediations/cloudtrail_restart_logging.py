"""Restart CloudTrail logging after tampering, and always tell on-call.

Trigger: CloudTrail (successful calls only, never Snapback's own): StopLogging. (DeleteTrail,
    UpdateTrail and PutEventSelectors route to cloudtrail_restore_trail; given directly, e.g. by
    `snapback handle` or a backtest, they are still read as below.) Also Security Hub CloudTrail.1 ("at least one
    multi-Region trail with read and write management events") and CloudTrail.3 ("at least one
    trail enabled") FAILED findings from AWS's own products.
Action: re-read the trail (GetTrailStatus, GetTrail, GetEventSelectors). If it exists and is
    not logging, StartLogging, then read it again to verify. Narrowed scope is reported, never
    widened: a single-Region trail, management events excluded, narrowed to ReadOnly/WriteOnly,
    or event sources excluded (basic or advanced selectors) is named in the before state and in
    the reason, and on-call restores it from infrastructure code (an intentionally narrow trail
    belongs in an exemption). Alert always: StopLogging and DeleteTrail are tampering even when
    the trail is logging again by the time Snapback looks, so that outcome is NOTIFIED (with the
    gap), not a silent ALREADY_COMPLIANT; so is a narrowed trail that still logs. An UpdateTrail
    or PutEventSelectors that leaves a multi-Region trail with all management events logging is
    ALREADY_COMPLIANT. A deleted trail cannot be restarted: the outcome is FAILED with that
    reason (Snapback does not recreate trails; their bucket, key and selectors live in IaC).
    For a Security Hub finding on the account, every trail homed in the account that is
    multi-Region with all management events and not logging is started; none at all is FAILED.
Undo: StopLogging on each trail Snapback started. Only a trail that was not logging before is
    ever started (and recorded), so undo never stops a trail that was logging; undoing twice,
    or after the trail was deleted, changes nothing.
Permissions: cloudtrail:GetTrailStatus, cloudtrail:GetTrail, cloudtrail:GetEventSelectors,
    cloudtrail:DescribeTrails (Security Hub account findings), cloudtrail:StartLogging,
    cloudtrail:StopLogging (undo).
Sweep (every configured Region): the trails homed in that Region and owned by the account
    (DescribeTrails without shadow trails, so a multi-Region trail counts once; an organization
    trail counts in the management account) that are not logging (GetTrailStatus) are violations.
Side effects: delivery to the trail's bucket (and CloudWatch Logs, SNS) resumes; events of the
    gap are not re-delivered to the trail: read them from Event history (90 days).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.findings import AsffFinding
from snapback.outcomes import Outcome, Result, Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

TAMPERING = ("StopLogging", "DeleteTrail")
SCOPE_CHANGES = ("UpdateTrail", "PutEventSelectors")
# What EventBridge routes here: DeleteTrail, UpdateTrail and PutEventSelectors go to
# cloudtrail_restore_trail (it recreates and restores, and starts a trail it restores); resolve still
# reads them (CLI `handle`, backtest), and the sweep finds any trail left not logging.
ROUTED = ("StopLogging",)
NOT_FOUND = "TrailNotFoundException"


def trail_ref(value: str, account: str, region: str) -> tuple[str, str, str, str]:
    """(account, region, name, ARN) of a trail named by name or ARN (CloudTrail accepts both)."""
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        if len(parts) != 6 or parts[2] != "cloudtrail" or not parts[5].startswith("trail/"):
            raise MalformedEvent(f"not a trail ARN: {value!r}")
        return parts[4], parts[3], parts[5][len("trail/") :], value
    return account, region, value, f"arn:aws:cloudtrail:{region}:{account}:trail/{value}"


def _fields(selector: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    fields = selector.get("FieldSelectors") or []
    return {str(f.get("Field")): f for f in fields if isinstance(f, Mapping)}


def management_gaps(basic: Sequence[Mapping[str, Any]], advanced: Sequence[Mapping[str, Any]]) -> list[str]:
    """How the selectors fall short of all (read and write) management events; [] if they do not."""
    if advanced:
        chosen = [f for f in map(_fields, advanced) if "Management" in (f.get("eventCategory", {}).get("Equals") or [])]
        if not chosen:
            return ["management events not selected (no advanced selector with eventCategory Management)"]
        gaps = []
        read_only = [f["readOnly"].get("Equals") or [] for f in chosen if "readOnly" in f]
        if len(read_only) == len(chosen) and not {"true", "false"} <= {str(v).lower() for vs in read_only for v in vs}:
            gaps.append(f"management events narrowed to readOnly={sorted({str(v) for vs in read_only for v in vs})}")
        excluded = sorted({str(s) for f in chosen for s in f.get("eventSource", {}).get("NotEquals") or []})
        if excluded and all("eventSource" in f for f in chosen):
            gaps.append(f"management events from {', '.join(excluded)} excluded")
        only = [f["eventSource"].get("Equals") for f in chosen if f.get("eventSource", {}).get("Equals")]
        if only and len(only) == len(chosen):
            gaps.append(f"management events only from {', '.join(sorted({str(s) for o in only for s in o}))}")
        return gaps
    if not basic:
        return []  # no selectors reported: the trail's default, all management events
    chosen_basic = [s for s in basic if s.get("IncludeManagementEvents", True)]
    if not chosen_basic:
        return ["management events excluded (IncludeManagementEvents false)"]
    gaps = []
    kinds = {str(s.get("ReadWriteType") or "All") for s in chosen_basic}
    if "All" not in kinds and not {"ReadOnly", "WriteOnly"} <= kinds:
        gaps.append(f"management events narrowed to {', '.join(sorted(kinds))}")
    exclusions = [set(s.get("ExcludeManagementEventSources") or []) for s in chosen_basic]
    if all(exclusions):
        gaps.append(f"management events from {', '.join(sorted(set.intersection(*exclusions)) or ['some sources'])} excluded")
    return gaps


def scope_gaps(trail: Mapping[str, Any], basic: Sequence[Mapping[str, Any]], advanced: Sequence[Mapping[str, Any]]) -> list[str]:
    gaps = [] if trail.get("IsMultiRegionTrail") else ["single-Region trail (IsMultiRegionTrail false)"]
    return gaps + management_gaps(basic, advanced)


@register
class CloudTrailRestartLogging(Remediation):
    name = "cloudtrail_restart_logging"
    summary = "CloudTrail logging stopped, trail deleted or narrowed"
    severity = Severity.HIGH
    finding_type = "TTPs/Defense Evasion/CloudTrail tampering"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Trail logging stopped",
            pattern=cloudtrail_pattern("aws.cloudtrail", "cloudtrail.amazonaws.com", list(ROUTED)),
        ),
    )
    controls = ("CloudTrail.1", "CloudTrail.3")
    permissions = (
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:GetTrail",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:StartLogging",
        "cloudtrail:StopLogging",
    )
    call_budget = 15
    sweep_scope = "region"

    # -- resolve ---------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name not in (*TAMPERING, *SCOPE_CHANGES) or call.event_source != "cloudtrail.amazonaws.com":
            raise NotApplicable(f"{call.event_name} does not stop, delete or narrow a trail")
        key = "trailName" if call.event_name == "PutEventSelectors" else "name"
        named = call.request.get(key)
        if not isinstance(named, str) or not named:
            raise NotApplicable(f"{call.event_name} names no trail (requestParameters.{key} missing)")
        account, region, trail, arn = trail_ref(named, event.account, call.region or event.region)
        return Target(
            account=account,
            region=region,
            resource_type="AwsCloudTrailTrail",
            resource_id=trail,
            resource_arn=arn,
            idempotency_key=call.idempotency_key(f"trail#{arn}#{call.event_name}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts={
                "summary": self._summary(call, trail),
                **call.facts(),
            },
        )

    @staticmethod
    def _summary(call: CloudTrailCall, trail: str) -> str:
        request = call.request
        if call.event_name == "StopLogging":
            return f"CloudTrail logging stopped on trail {trail}"
        if call.event_name == "DeleteTrail":
            return f"CloudTrail trail {trail} deleted"
        if call.event_name == "UpdateTrail":
            narrowed = " to single-Region" if request.get("isMultiRegionTrail") is False else ""
            return f"CloudTrail trail {trail} updated{narrowed}"
        selectors = request.get("eventSelectors")
        dropped = isinstance(selectors, list) and any(
            isinstance(s, Mapping) and s.get("includeManagementEvents") is False for s in selectors
        )
        return f"event selectors of CloudTrail trail {trail} changed" + (" (management events excluded)" if dropped else "")

    def resolve_finding(self, event: Envelope, finding: AsffFinding) -> Target:
        trail = next((r for r in finding.resources if r.type == "AwsCloudTrailTrail" and r.id.startswith("arn:")), None)
        facts = {"summary": f"Security Hub {finding.control_id}: {finding.title}", "control": finding.control_id}
        if trail is not None:
            account, region, name, arn = trail_ref(trail.id, finding.account, trail.region or finding.region)
            return Target(account, region, "AwsCloudTrailTrail", name, arn, finding.idempotency_key, facts=facts)
        return Target(
            account=finding.account,
            region=finding.region or event.region,
            resource_type="AwsAccount",
            resource_id=finding.account,
            resource_arn=f"AWS::::Account:{finding.account}",
            idempotency_key=f"{finding.idempotency_key}#StartLogging",
            facts=facts,
        )

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        client = session.client("cloudtrail", region)
        for trail in client.describe_trails(includeShadowTrails=False).get("trailList", []):
            owner, home, name, arn = trail_ref(str(trail["TrailARN"]), account, region)
            if owner != account or (trail.get("HomeRegion") or home) != region:
                continue  # another account's organization trail, or a shadow of a trail homed elsewhere
            if client.get_trail_status(Name=arn).get("IsLogging"):
                continue
            yield Target(
                account=account,
                region=region,
                resource_type="AwsCloudTrailTrail",
                resource_id=name,
                resource_arn=arn,
                idempotency_key=self.sweep_key(account, region, arn),
                facts={"summary": f"CloudTrail trail {name} is not logging"},
            )

    # -- inspect ---------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        if target.resource_type == "AwsAccount":
            return self._inspect_account(session, target)
        trail = self._inspect_trail(session, target.region, target.resource_arn)
        return trail or {"trail": target.resource_id, "home_region": target.region, "exists": False}

    def _inspect_trail(self, session: MemberSession, region: str, arn: str) -> dict[str, Any] | None:
        client = session.client("cloudtrail", region)
        try:
            status = client.get_trail_status(Name=arn)
            trail = client.get_trail(Name=arn)["Trail"]
            selectors = client.get_event_selectors(TrailName=arn)
        except ClientError as err:
            if error_code(err) == NOT_FOUND:
                return None
            raise
        return {
            "trail": trail["Name"],
            "arn": trail.get("TrailARN", arn),
            "home_region": region,
            "exists": True,
            "logging": bool(status.get("IsLogging")),
            "multi_region": bool(trail.get("IsMultiRegionTrail")),
            "organization_trail": bool(trail.get("IsOrganizationTrail")),
            "scope_gaps": scope_gaps(trail, selectors.get("EventSelectors") or [], selectors.get("AdvancedEventSelectors") or []),
        }

    def _inspect_account(self, session: MemberSession, target: Target) -> dict[str, Any]:
        listed = session.client("cloudtrail").describe_trails(includeShadowTrails=True)["trailList"]
        trails = []
        for trail in listed:
            arn = trail["TrailARN"]
            state = self._inspect_trail(session, trail.get("HomeRegion") or target.region, arn)
            if state is not None:
                state["own"] = trail_ref(arn, target.account, target.region)[0] == target.account
                trails.append(state)
        return {"account": target.account, "trails": sorted(trails, key=lambda t: t["arn"])}

    # -- decide ----------------------------------------------------------------------------------
    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        if "trails" in state:
            return any(t["logging"] and not t["scope_gaps"] for t in state["trails"])
        return bool(state.get("exists")) and bool(state.get("logging"))

    @staticmethod
    def _to_start(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        if "trails" in state:
            return [t for t in state["trails"] if t["own"] and not t["logging"] and not t["scope_gaps"]]
        return [state] if state.get("exists") and not state.get("logging") else []

    def _cannot(self, target: Target, state: Mapping[str, Any]) -> str | None:
        if "trails" in state:
            if self._to_start(state):
                return None
            return (
                f"no stopped multi-Region trail with all management events in account {target.account} to restart; "
                "create one (Snapback restarts trails, it does not create them)"
            )
        if not state.get("exists"):
            return (
                f"trail {target.resource_id} no longer exists ({NOT_FOUND}): Snapback cannot restart a deleted trail; "
                "recreate it from infrastructure code and find who deleted it"
            )
        return None

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        problem = self._cannot(target, state)
        if problem:
            return [f"alert only: {problem}"]
        actions = [f"cloudtrail:StartLogging on {t.get('trail', target.resource_id)}" for t in self._to_start(state)]
        return actions or [f"cloudtrail:StartLogging on {target.resource_id}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        problem = self._cannot(target, state)
        if problem:
            raise PermanentError(problem)
        for trail in self._to_start(state):
            session.client("cloudtrail", trail["home_region"]).start_logging(Name=trail["trail"])
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"started": [{"trail": t["trail"], "region": t["home_region"]} for t in self._to_start(before)]}

    def verify(
        self, session: MemberSession, target: Target, before: Mapping[str, Any], undo: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Logging is what apply changed: read the status of each trail it started again; the trails'
        configuration and scope are as before (StartLogging changes neither)."""

        def reread(trail: Mapping[str, Any]) -> dict[str, Any]:
            if trail not in self._to_start(before):
                return dict(trail)
            status = session.client("cloudtrail", trail["home_region"]).get_trail_status(Name=trail["arn"])
            return {**trail, "logging": bool(status.get("IsLogging"))}

        if "trails" in before:
            return {**before, "trails": [reread(t) for t in before["trails"]]}
        return reread(before)

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        actions = []
        for trail in undo_data.get("started") or []:
            client = session.client("cloudtrail", trail["region"])
            try:
                logging = client.get_trail_status(Name=trail["trail"]).get("IsLogging")
            except ClientError as err:
                if error_code(err) != NOT_FOUND:
                    raise
                actions.append(f"trail {trail['trail']} no longer exists: nothing to stop")
                continue
            if not logging:
                actions.append(f"trail {trail['trail']} is not logging: nothing to stop")
                continue
            client.stop_logging(Name=trail["trail"])
            actions.append(f"cloudtrail:StopLogging on {trail['trail']} (it was not logging before Snapback started it)")
        return actions

    # -- alert always ------------------------------------------------------------------------------
    def review(self, target: Target, result: Result) -> Result:
        """Tampering is reported even when the trail is logging again (the pipeline would record
        ALREADY_COMPLIANT, which is not reported), and a narrowed scope is always named."""
        before = result.before if isinstance(result.before, Mapping) else {}
        gaps = before.get("scope_gaps") or []
        if gaps and result.outcome in (Outcome.REMEDIATED, Outcome.FAILED):
            result.reason += f"; the trail's scope is still narrowed ({'; '.join(gaps)}): restore it from infrastructure code"
        stopped = target.facts.get("event_name") in TAMPERING
        if result.outcome is Outcome.ALREADY_COMPLIANT and (stopped or gaps) and "source_finding" not in target.facts:
            result.outcome = Outcome.NOTIFIED
            parts = [f"alert: {target.facts.get('summary')}"]
            if stopped:
                parts.append("the trail is logging again, nothing to restart; events of the gap are in Event history only")
            else:
                parts.append("the trail is logging, nothing to restart")
            if gaps:
                parts.append(f"its scope is narrowed ({'; '.join(gaps)}): restore it from infrastructure code")
            result.reason = "; ".join(parts)
        return result
