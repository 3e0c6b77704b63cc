"""Put a deleted or narrowed CloudTrail trail back as it last was when healthy; page on its bucket.

Trigger: CloudTrail (successful calls only, never Snapback's own): DeleteTrail; UpdateTrail that
    narrows (isMultiRegionTrail, includeGlobalServiceEvents or enableLogFileValidation false,
    kmsKeyId emptied or changed, s3BucketName / s3KeyPrefix or the CloudWatch Logs group changed);
    PutEventSelectors (basic or advanced selectors). An UpdateTrail that only widens (turns those
    on, adds a key) is not applicable (SKIPPED). On the trail's bucket (eventSource
    s3.amazonaws.com): PutBucketLifecycle, PutBucketPolicy, DeleteBucketPolicy, DeleteBucket.
    (StopLogging stays with cloudtrail_restart_logging, which restarts the trail.)
Action: re-read the trail (GetTrail, GetTrailStatus, GetEventSelectors) and compare it with its
    last known good, then:
    - narrowed: UpdateTrail with the last known good values of every narrowed setting, and
      PutEventSelectors with the last known good selectors when management events (or data
      events) were dropped; StartLogging if the trail was logging when it was good;
    - deleted: CreateTrail with the last known good settings, PutEventSelectors, StartLogging;
    - no last known good yet: a setting the event switched off (multi-Region, global service
      events, log file validation) is switched back on (never a narrowing); what cannot be known
      from the event (the removed KMS key, the previous bucket, the previous selectors, a deleted
      trail's settings) is paged (CRITICAL for a deletion) with the exact command to restore it;
    - trail bucket: page (lifecycle expiration, a policy change or the bucket deleted destroys or
      exposes the logs). Not reverted: the previous lifecycle and policy are not in the event and
      a wrong policy stops delivery; on-call gets the bucket, the change and the trails writing
      there. A bucket is a trail bucket if a trail visible in the account (DescribeTrails) writes
      there or it matches the `trail_buckets` option (a log-archive account's bucket).
    Last known good: every trail read with no narrowing (by an event or the sweep) is remembered
    per trail (`lkg#cloudtrail_restore_trail#<account>#<home region>#<trail ARN>`): settings,
    selectors and whether it logged; never a read right after an event whose change cannot be
    judged without one (a removed key, a moved bucket, dropped selectors: paged instead).
Undo: put back exactly what Snapback changed: UpdateTrail with the before values, PutEventSelectors
    with the before selectors, StopLogging if Snapback started it, DeleteTrail of a trail Snapback
    recreated. Settings put back by an undo become the last known good (an operator chose them).
    Each step reads first: undoing twice changes nothing.
Permissions: cloudtrail:DescribeTrails, cloudtrail:GetTrail, cloudtrail:GetTrailStatus,
    cloudtrail:GetEventSelectors, cloudtrail:UpdateTrail, cloudtrail:PutEventSelectors,
    cloudtrail:CreateTrail, cloudtrail:StartLogging, cloudtrail:StopLogging (undo),
    cloudtrail:DeleteTrail (undo of a recreation), iam:PassRole (the CloudWatch Logs role).
Sweep (every configured Region): each trail homed in the Region and owned by the account is
    compared with its last known good; a narrowed trail is a violation, a healthy one becomes the
    last known good. Not logging is cloudtrail_restart_logging's violation, not this one's.
Side effects: events of the gap are not re-delivered (Event history keeps 90 days); a recreated
    trail is a new trail with the old name. Options: `trail_buckets` (bucket names or fnmatch
    patterns that count as trail buckets though no trail of the account names them).
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.paging import PageAlways
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.remediations.cloudtrail_restart_logging import management_gaps, trail_ref
from snapback.triggers import Trigger, cloudtrail_pattern

TRAIL_CALLS = ("DeleteTrail", "UpdateTrail", "PutEventSelectors")
BUCKET_CALLS = ("PutBucketLifecycle", "PutBucketPolicy", "DeleteBucketPolicy", "DeleteBucket")
NOT_FOUND = "TrailNotFoundException"
# (GetTrail field, UpdateTrail/CreateTrail parameter, narrowing when it goes from good to this)
FLAGS = (
    ("IsMultiRegionTrail", "IsMultiRegionTrail", "multi-Region off"),
    ("IncludeGlobalServiceEvents", "IncludeGlobalServiceEvents", "global service events off"),
    ("LogFileValidationEnabled", "EnableLogFileValidation", "log file validation off"),
)
VALUES = (
    ("KmsKeyId", "KmsKeyId", "KMS key removed or changed"),
    ("S3BucketName", "S3BucketName", "bucket changed"),
    ("S3KeyPrefix", "S3KeyPrefix", "key prefix changed"),
    ("CloudWatchLogsLogGroupArn", "CloudWatchLogsLogGroupArn", "CloudWatch Logs delivery removed or changed"),
)
REQUEST_FLAGS = {"isMultiRegionTrail": "IsMultiRegionTrail", "includeGlobalServiceEvents": "IncludeGlobalServiceEvents"}
REQUEST_FLAGS["enableLogFileValidation"] = "LogFileValidationEnabled"
SETTINGS = (
    "Name",
    "S3BucketName",
    "S3KeyPrefix",
    "SnsTopicName",
    "CloudWatchLogsLogGroupArn",
    "CloudWatchLogsRoleArn",
    "KmsKeyId",
)
SETTINGS += ("IsMultiRegionTrail", "IncludeGlobalServiceEvents", "LogFileValidationEnabled", "IsOrganizationTrail", "HomeRegion")


def settings_of(trail: Mapping[str, Any]) -> dict[str, Any]:
    return {k: trail.get(k) for k in SETTINGS if trail.get(k) not in (None, "")}


def data_coverage(selectors: Mapping[str, Any]) -> set[str]:
    """What data events the selectors log, as comparable strings."""
    out = set()
    for selector in selectors.get("EventSelectors") or []:
        for resource in selector.get("DataResources") or []:
            out |= {f"{resource.get('Type')}:{v}" for v in resource.get("Values") or []}
    for selector in selectors.get("AdvancedEventSelectors") or []:
        fields = {str(f.get("Field")): f for f in selector.get("FieldSelectors") or []}
        if "Management" not in (fields.get("eventCategory", {}).get("Equals") or []):
            out.add(json.dumps(selector.get("FieldSelectors"), sort_keys=True))
    return out


def narrowing(now: Mapping[str, Any], good: Mapping[str, Any]) -> list[str]:
    """How the trail `now` logs less than, or elsewhere than, `good` ([] if it does not)."""
    was, cur = good.get("settings") or {}, now.get("settings") or {}
    found = [why for field, _, why in FLAGS if was.get(field) and not cur.get(field)]
    found += [why for field, _, why in VALUES if was.get(field) and was.get(field) != cur.get(field)]
    selectors_now, selectors_good = now.get("selectors") or {}, good.get("selectors") or {}
    gaps_now = management_gaps(selectors_now.get("EventSelectors") or [], selectors_now.get("AdvancedEventSelectors") or [])
    gaps_good = management_gaps(selectors_good.get("EventSelectors") or [], selectors_good.get("AdvancedEventSelectors") or [])
    if set(gaps_now) - set(gaps_good):
        found.append(f"management events dropped ({'; '.join(sorted(set(gaps_now) - set(gaps_good)))})")
    if data_coverage(selectors_good) - data_coverage(selectors_now):
        found.append("data events dropped")
    return found


def update_to(was: Mapping[str, Any], cur: Mapping[str, Any]) -> dict[str, Any]:
    """The UpdateTrail parameters that make the settings `cur` the settings `was` exactly."""
    update = {param: bool(was.get(field)) for field, param, _ in FLAGS if bool(was.get(field)) != bool(cur.get(field))}
    update |= {param: was.get(field) or "" for field, param, _ in VALUES if (was.get(field) or "") != (cur.get(field) or "")}
    if update.get("CloudWatchLogsLogGroupArn") and was.get("CloudWatchLogsRoleArn"):
        update["CloudWatchLogsRoleArn"] = was["CloudWatchLogsRoleArn"]
    return update


def _selector_args(selectors: Mapping[str, Any]) -> dict[str, Any]:
    if selectors.get("AdvancedEventSelectors"):
        return {"AdvancedEventSelectors": list(selectors["AdvancedEventSelectors"])}
    return {"EventSelectors": list(selectors.get("EventSelectors") or [])}


def create_command(name: str, region: str, settings: Mapping[str, Any]) -> str:
    """The CLI command that recreates the trail (and starts it), from what is known about it."""
    parts = ["aws", "cloudtrail", "create-trail", "--region", region, "--name", name]
    parts += ["--s3-bucket-name", str(settings.get("S3BucketName") or "<trail bucket>")]
    for field, flag in (("S3KeyPrefix", "--s3-key-prefix"), ("KmsKeyId", "--kms-key-id"), ("SnsTopicName", "--sns-topic-name")):
        if settings.get(field):
            parts += [flag, str(settings[field])]
    parts += ["--is-multi-region-trail", "--include-global-service-events", "--enable-log-file-validation"]
    return f"{shlex.join(parts)} && aws cloudtrail start-logging --region {region} --name {shlex.quote(name)}"


@register
class CloudTrailRestoreTrail(PageAlways, Remediation):
    name = "cloudtrail_restore_trail"
    summary = "CloudTrail trail deleted or narrowed, or its bucket's lifecycle or policy changed"
    severity = Severity.HIGH
    finding_type = "TTPs/Defense Evasion/CloudTrail tampering"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Trail deleted or updated, event selectors changed",
            pattern=cloudtrail_pattern("aws.cloudtrail", "cloudtrail.amazonaws.com", list(TRAIL_CALLS)),
        ),
        Trigger(
            id="bucket",
            description="A bucket's lifecycle or policy changed, or the bucket deleted (trail buckets are paged)",
            pattern=cloudtrail_pattern("aws.s3", "s3.amazonaws.com", list(BUCKET_CALLS)),
        ),
    )
    permissions = (
        "cloudtrail:CreateTrail",
        "cloudtrail:DeleteTrail",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:GetTrail",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:PutEventSelectors",
        "cloudtrail:StartLogging",
        "cloudtrail:StopLogging",
        "cloudtrail:UpdateTrail",
        "iam:PassRole",
    )
    pass_role_to = ("cloudtrail.amazonaws.com",)
    call_budget = 21
    defaults = {"trail_buckets": []}
    sweep_scope = "region"
    # Snapback's memory, not the trail: an undo re-baselines the last known good by design.
    volatile_state = ("last_known_good", "narrowed")

    # -- resolve ---------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_source == "s3.amazonaws.com" and call.event_name in BUCKET_CALLS:
            return self._bucket_target(event, call)
        if call.event_source != "cloudtrail.amazonaws.com" or call.event_name not in TRAIL_CALLS:
            raise NotApplicable(f"{call.event_name} does not delete or narrow a trail")
        request = call.request
        named = request.get("trailName" if call.event_name == "PutEventSelectors" else "name")
        if not isinstance(named, str) or not named:
            raise NotApplicable(f"{call.event_name} names no trail")
        account, region, trail, arn = trail_ref(named, event.account, call.region or event.region)
        facts: dict[str, Any] = {**call.facts(), "kind": "trail", "trail": trail}
        if call.event_name == "UpdateTrail":
            off = sorted(field for key, field in REQUEST_FLAGS.items() if request.get(key) is False)
            moved = sorted(k for k in ("kmsKeyId", "s3BucketName", "s3KeyPrefix", "cloudWatchLogsLogGroupArn") if k in request)
            if not off and not moved:
                raise NotApplicable(f"UpdateTrail of {trail} only widens it or changes nothing that narrows it")
            facts.update(off_by_event=off, changed_by_event=moved)
            facts["summary"] = f"CloudTrail trail {trail} updated: {', '.join([*off, *moved])}"
        elif call.event_name == "DeleteTrail":
            facts.update(summary=f"CloudTrail trail {trail} deleted", critical=True)
        else:
            facts["summary"] = f"event selectors of CloudTrail trail {trail} changed"
        return Target(
            account=account,
            region=region,
            resource_type="AwsCloudTrailTrail",
            resource_id=trail,
            resource_arn=arn,
            idempotency_key=call.idempotency_key(f"trail#{arn}#{call.event_name}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts=facts,
        )

    def _bucket_target(self, event: Envelope, call: CloudTrailCall) -> Target:
        bucket = call.request.get("bucketName")
        if not isinstance(bucket, str) or not bucket:
            raise NotApplicable(f"{call.event_name} names no bucket (requestParameters.bucketName missing)")
        what = {
            "PutBucketLifecycle": "lifecycle configuration changed (log objects may expire)",
            "PutBucketPolicy": "bucket policy changed (delivery may stop, or others may read or delete logs)",
            "DeleteBucketPolicy": "bucket policy deleted (CloudTrail can no longer deliver)",
            "DeleteBucket": "bucket deleted (the logs are gone and delivery fails)",
        }[call.event_name]
        return Target(
            account=event.account,
            region=call.region or event.region,
            resource_type="AwsS3Bucket",
            resource_id=bucket,
            resource_arn=f"arn:aws:s3:::{bucket}",
            idempotency_key=call.idempotency_key(f"trail-bucket#{bucket}#{call.event_name}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts={
                **call.facts(),
                "kind": "bucket",
                "bucket": bucket,
                "change": what,
                "summary": f"S3 bucket {bucket}: {what}",
                "critical": call.event_name in ("DeleteBucket", "DeleteBucketPolicy", "PutBucketLifecycle"),
                "request": json.dumps(call.request, sort_keys=True, default=str)[:2000],
            },
        )

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        client = session.client("cloudtrail", region)
        for trail in client.describe_trails(includeShadowTrails=False).get("trailList", []):
            owner, home, name, arn = trail_ref(str(trail["TrailARN"]), account, region)
            if owner != account or (trail.get("HomeRegion") or home) != region:
                continue
            target = Target(
                account=account,
                region=region,
                resource_type="AwsCloudTrailTrail",
                resource_id=name,
                resource_arn=arn,
                idempotency_key=self.sweep_key(account, region, f"restore#{arn}"),
                facts={"kind": "trail", "trail": name},
            )
            state = self.inspect(session, target)  # a healthy trail becomes the last known good here
            if not self.is_compliant(state):
                target.facts["summary"] = f"CloudTrail trail {name} narrowed: {'; '.join(state['narrowed'])}"
                yield target

    # -- inspect ---------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        if target.facts.get("kind") == "bucket":
            return self._inspect_bucket(session, target)
        client = session.client("cloudtrail", target.region)
        good = self.known_good.recall(target.account, target.region, target.resource_arn) if self.known_good else None
        try:
            trail = client.get_trail(Name=target.resource_arn)["Trail"]
            logging = bool(client.get_trail_status(Name=target.resource_arn).get("IsLogging"))
            selectors = client.get_event_selectors(TrailName=target.resource_arn)
        except ClientError as err:
            if error_code(err) != NOT_FOUND:
                raise
            if not good:
                target.facts["page"] = (
                    f"trail {target.resource_id} deleted and no last known good is recorded: recreate it with "
                    f"`{create_command(target.resource_id, target.region, {})}` (bucket, key and selectors from infrastructure code)"
                )
            return {"kind": "trail", "exists": False, "last_known_good": good, "narrowed": ["trail deleted"] if good else []}
        now = {
            "settings": settings_of(trail),
            "selectors": {k: selectors.get(k) or [] for k in ("EventSelectors", "AdvancedEventSelectors")},
            "logging": logging,
        }
        narrowed = narrowing(now, good) if good else []
        unknown = False
        if not good:  # no baseline: only what the event itself switched off can be put back
            off = target.facts.get("off_by_event") or []
            narrowed = [why for field, _, why in FLAGS if field in off and not now["settings"].get(field)]
            unknown = self._page_unknown(target, now)
        state = {"kind": "trail", "exists": True, **now, "last_known_good": good, "narrowed": narrowed}
        # A healthy read becomes the baseline; never one right after an event whose change cannot be
        # judged without a baseline (a removed key, a moved bucket, dropped selectors): that would make
        # the change itself the baseline, and the page of this event (or of a genuine one after a
        # look-alike read it first) would never go out.
        if not narrowed and not unknown and self.known_good is not None:
            self.known_good.remember(target.account, target.region, now, key=target.resource_arn)
        return state

    @staticmethod
    def _page_unknown(target: Target, now: Mapping[str, Any]) -> bool:
        """Without a last known good, what the event changed that cannot be known is paged with the
        command; True when there is such a change."""
        selectors = now.get("selectors") or {}
        gaps = management_gaps(selectors.get("EventSelectors") or [], selectors.get("AdvancedEventSelectors") or [])
        changed = list(target.facts.get("changed_by_event") or [])
        if target.facts.get("event_name") == "PutEventSelectors" and gaps:
            changed.append(f"event selectors ({'; '.join(gaps)})")
        if not changed:
            return False
        name, region = target.resource_id, target.region
        target.facts["page"] = (
            f"trail {name}: {', '.join(changed)} changed and no last known good is recorded to restore it from: restore it "
            f"from infrastructure code, e.g. `aws cloudtrail update-trail --region {region} --name {name} --kms-key-id <key> "
            f"--s3-bucket-name <bucket>` and `aws cloudtrail put-event-selectors --region {region} --trail-name {name} "
            "--event-selectors ReadWriteType=All,IncludeManagementEvents=true`"
        )
        return True

    def _inspect_bucket(self, session: MemberSession, target: Target) -> dict[str, Any]:
        bucket = target.facts["bucket"]
        trails = [
            t
            for t in session.client("cloudtrail", target.region).describe_trails(includeShadowTrails=True).get("trailList", [])
            if t.get("S3BucketName") == bucket
        ]
        patterns = [str(p) for p in self.options.get("trail_buckets") or []]
        configured = any(fnmatch.fnmatchcase(bucket, p) for p in patterns)
        names = sorted(str(t.get("Name")) for t in trails)
        if trails or configured:
            writers = f"trails writing there: {', '.join(names)}" if names else "a trail bucket named in trail_buckets"
            target.facts["page"] = (
                f"{target.facts['summary']}; {writers}. Not reverted (the previous configuration is not in the event): "
                f"check `aws s3api get-bucket-lifecycle-configuration --bucket {bucket}` and "
                f"`aws s3api get-bucket-policy --bucket {bucket}`, and restore them from infrastructure code; change: "
                f"{target.facts.get('request')}"
            )
        return {"kind": "bucket", "bucket": bucket, "trail_bucket": bool(trails or configured), "trails": names}

    # -- decide ----------------------------------------------------------------------------------
    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        if state.get("kind") == "bucket":
            return True  # paged (PageAlways) when it is a trail bucket; nothing to revert safely
        return not state.get("narrowed")

    def _fix(self, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        """What to do: {"create": settings} | {"update": params, "selectors": args, "start": bool}."""
        good = state.get("last_known_good")
        if not state.get("exists"):
            if not good:
                raise PermanentError(
                    f"trail {target.resource_id} deleted and no last known good is recorded: recreate it with "
                    f"`{create_command(target.resource_id, target.region, {})}` (bucket, key and selectors from infrastructure code)"
                )
            return {
                "create": good["settings"],
                "selectors": _selector_args(good["selectors"]),
                "start": bool(good.get("logging")),
            }
        cur = state.get("settings") or {}
        if not good:
            update = {
                param: True
                for field, param, _ in FLAGS
                if field in (target.facts.get("off_by_event") or []) and not cur.get(field)
            }
            return {"update": update, "selectors": None, "start": bool(update) and not state.get("logging")}
        was = good["settings"]
        update = {param: True for field, param, _ in FLAGS if was.get(field) and not cur.get(field)}
        update |= {param: was[field] for field, param, _ in VALUES if was.get(field) and was.get(field) != cur.get(field)}
        if "CloudWatchLogsLogGroupArn" in update and was.get("CloudWatchLogsRoleArn"):
            update["CloudWatchLogsRoleArn"] = was["CloudWatchLogsRoleArn"]
        selectors_narrowed = any(n.startswith(("management events", "data events")) for n in state.get("narrowed") or [])
        return {
            "update": update,
            "selectors": _selector_args(good["selectors"]) if selectors_narrowed else None,
            "start": bool(good.get("logging")) and not state.get("logging"),
        }

    def finished(self, target: Target, before: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
        """A recreated trail is whole only with the last known good selectors and logging started: a
        try killed after CreateTrail leaves a trail that narrows nothing but does not log."""
        if before.get("kind") == "bucket":
            return True
        try:
            fix = self._fix(target, before)
        except PermanentError:
            return True
        if fix.get("start") and not current.get("logging"):
            return False
        good = before.get("last_known_good") or {}
        return not ("create" in fix and current.get("selectors") != good.get("selectors"))

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        if state.get("kind") == "bucket":
            return []
        try:
            fix = self._fix(target, state)
        except PermanentError as err:
            return [f"alert only: {err}"]
        source = "last known good" if state.get("last_known_good") else "switched back on (no last known good)"
        words = []
        if "create" in fix:
            words.append(
                f"cloudtrail:CreateTrail {target.resource_id} from the last known good (bucket {fix['create'].get('S3BucketName')})"
            )
        elif fix["update"]:
            words.append(f"cloudtrail:UpdateTrail {target.resource_id}: {', '.join(sorted(fix['update']))} ({source})")
        if fix.get("selectors"):
            words.append(f"cloudtrail:PutEventSelectors {target.resource_id} (last known good selectors)")
        if fix.get("start"):
            words.append(f"cloudtrail:StartLogging {target.resource_id}")
        return words or [f"alert only: {'; '.join(state.get('narrowed') or [])} cannot be restored without a last known good"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        client = session.client("cloudtrail", target.region)
        fix = self._fix(target, state)
        if not (fix.get("create") or fix.get("update") or fix.get("selectors") or fix.get("start")):
            raise PermanentError(
                f"{'; '.join(state.get('narrowed') or [])}: nothing recorded to restore trail {target.resource_id} from; "
                "restore it from infrastructure code"
            )
        if "create" in fix:
            existing = self._read_trail(client, target)
            if existing is None:
                params = {k: v for k, v in fix["create"].items() if k not in ("HomeRegion", "LogFileValidationEnabled")}
                params["EnableLogFileValidation"] = bool(fix["create"].get("LogFileValidationEnabled"))
                client.create_trail(**params)
            elif update := update_to(fix["create"], settings_of(existing)):
                # an earlier try of this claim recreated it and was interrupted: finish, never create twice
                client.update_trail(Name=target.resource_arn, **update)
        elif fix["update"]:
            client.update_trail(Name=target.resource_arn, **fix["update"])
        if fix.get("selectors"):
            client.put_event_selectors(
                TrailName=target.resource_id if "create" in fix else target.resource_arn, **fix["selectors"]
            )
        if fix.get("start"):
            client.start_logging(Name=target.resource_id)  # homed in this Region and account: the name is exact
        return self.undo_data_for(target, state) or {}

    @staticmethod
    def _read_trail(client: Any, target: Target) -> dict[str, Any] | None:
        try:
            return dict(client.get_trail(Name=target.resource_arn)["Trail"])
        except ClientError as err:
            if error_code(err) != NOT_FOUND:
                raise
            return None

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        if before.get("kind") == "bucket":
            return None
        if not before.get("exists"):
            return {"created": True}
        return {
            "settings": before.get("settings"),
            "selectors": before.get("selectors"),
            "logging": bool(before.get("logging")),
        }

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        client = session.client("cloudtrail", target.region)
        now = self.inspect(session, target)
        if not now.get("exists"):
            return [f"trail {target.resource_id} no longer exists: nothing to undo"]
        if undo_data.get("created"):
            client.delete_trail(Name=target.resource_id)  # homed here, in this account: the name is exact
            return [f"cloudtrail:DeleteTrail {target.resource_id} (Snapback recreated it; it had been deleted)"]
        actions = []
        update = update_to(undo_data.get("settings") or {}, now.get("settings") or {})
        if update:
            client.update_trail(Name=target.resource_arn, **update)
            actions.append(f"cloudtrail:UpdateTrail {target.resource_id}: {', '.join(sorted(update))} as before")
        selectors = undo_data.get("selectors") or {}
        if selectors and selectors != now.get("selectors"):
            client.put_event_selectors(TrailName=target.resource_arn, **_selector_args(selectors))
            actions.append(f"cloudtrail:PutEventSelectors {target.resource_id}: previous selectors")
        if now.get("logging") and not undo_data.get("logging"):
            client.stop_logging(Name=target.resource_id)
            actions.append(f"cloudtrail:StopLogging {target.resource_id} (it was not logging before)")
        after = self.inspect(session, target)  # remembers nothing while narrowed against the old baseline...
        if self.known_good is not None:  # ...so the operator's choice becomes the baseline explicitly
            self.known_good.remember(
                target.account,
                target.region,
                {k: after.get(k) for k in ("settings", "selectors", "logging")},
                key=target.resource_arn,
            )
        return actions or ["nothing to undo: the trail already matches the recorded before state"]
