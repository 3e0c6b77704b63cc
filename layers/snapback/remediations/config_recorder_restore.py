"""Put AWS Config back to recording after its recorder is stopped, deleted, starved or narrowed.

Trigger: CloudTrail (successful calls only, never Snapback's own): StopConfigurationRecorder,
    DeleteConfigurationRecorder, DeleteDeliveryChannel, PutConfigurationRecorder (checked for
    narrowing), and StartConfigurationRecorder (a recorder just set up: its state is recorded as
    the baseline, see below). Also Security Hub Config.1 FAILED findings from AWS's own products.
    Service-linked recorders (name "AWSConfigurationRecorderFor..." or "aws-service-linked...",
    or a `servicePrincipal`) belong to their service and are left alone (SKIPPED, not applicable).
Action: re-read the Region's customer-managed recorder, its status and the delivery channel, then
    bring back what the event broke, from the last known good settings:
    - recorder deleted: PutConfigurationRecorder with the last known good recorder;
    - recording narrowed (allSupported or includeGlobalResourceTypes turned off, resource types
      dropped, more types excluded by the recordingStrategy) compared with the last known good:
      PutConfigurationRecorder with the last known good recording group, mode and role;
    - delivery channel deleted: PutDeliveryChannel with the last known good channel;
    - not recording: StartConfigurationRecorder.
    Then read everything again to verify. A PutConfigurationRecorder is only checked for
    narrowing (a recorder being set up is not yet recording, which is fine).
    Last known good: every time Snapback reads a recorder that is recording all it recorded
    before, with a channel, it stores that state in its table (`lkg#config_recorder_restore#
    <account>#<region>`, beside the audit items); the audit item of every run also carries the
    full before/after state. Before Snapback has seen a good state in an account and Region, the
    `fallback` option (recorder and channel with {account}/{region} placeholders) stands in;
    with neither, a deleted recorder or channel is FAILED with that reason, and a narrowing
    PutConfigurationRecorder is accepted as the first baseline (trust on first use).
Undo: restore the before state exactly: stop the recorder if it was not recording, delete the
    channel and the recorder if Snapback created them, put back the previous (narrower) recorder
    settings. Idempotent: each step first reads the current state. Settings restored by an undo
    become the last known good (an operator chose them).
Permissions: config:DescribeConfigurationRecorders, config:DescribeConfigurationRecorderStatus,
    config:DescribeDeliveryChannels, config:PutConfigurationRecorder, iam:PassRole (the Config
    role, on PutConfigurationRecorder), config:PutDeliveryChannel, config:StartConfigurationRecorder;
    for undo: config:StopConfigurationRecorder, config:DeleteDeliveryChannel,
    config:DeleteConfigurationRecorder.
Sweep (every configured Region): the Region's recorder, status and channel are inspected as for
    an event; no recorder, not recording, no channel, or a recording group narrower than the last
    known good is a violation. Inspecting a healthy recorder records it as the last known good, so
    the sweep keeps the baseline that a restore after a missed event uses.
Side effects: recording resumes (Config charges per configuration item); the gap is not
    back-filled. Snapback's own table holds one last-known-good item per account and Region.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, MemberSession, classify
from snapback.errors import NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.findings import AsffFinding
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

SERVICE_LINKED_PREFIXES = ("AWSConfigurationRecorderFor", "aws-service-linked")
TAMPERING = ("StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel", "PutConfigurationRecorder")
BASELINE = "StartConfigurationRecorder"
SERVICE_OWNED = ("arn", "servicePrincipal", "recordingScope")  # set by Config, never sent back
CHANNEL_FIELDS = ("name", "s3BucketName", "s3KeyPrefix", "s3KmsKeyArn", "snsTopicARN", "configSnapshotDeliveryProperties")


def service_linked(recorder: Mapping[str, Any]) -> bool:
    name = str(recorder.get("name") or "")
    return name.startswith(SERVICE_LINKED_PREFIXES) or bool(recorder.get("servicePrincipal"))


def coverage(group: Mapping[str, Any] | None) -> tuple[str, frozenset[str], bool]:
    """(kind, types, global IAM types): kind all | exclude (types excluded) | only (types recorded)."""
    group = group or {}
    strategy = str((group.get("recordingStrategy") or {}).get("useOnly") or "")
    if group.get("allSupported") or strategy == "ALL_SUPPORTED_RESOURCE_TYPES" or (not group and not strategy):
        return "all", frozenset(), bool(group.get("includeGlobalResourceTypes"))
    if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
        excluded = frozenset((group.get("exclusionByResourceTypes") or {}).get("resourceTypes") or [])
        return "exclude", excluded, True
    return "only", frozenset(group.get("resourceTypes") or []), False


def narrowing(current: Mapping[str, Any] | None, good: Mapping[str, Any] | None) -> list[str]:
    """How `current` records less than `good` (recording groups); [] if it records at least as much."""
    if good is None or current is None:
        return []
    now_kind, now_types, now_global = coverage(current)
    was_kind, was_types, was_global = coverage(good)
    reasons = []
    if was_global and not now_global and now_kind == "all":
        reasons.append("global IAM resource types no longer recorded (includeGlobalResourceTypes false)")
    if was_kind == "all" and now_kind != "all":
        reasons.append(
            f"allSupported turned off: now {'excluding ' if now_kind == 'exclude' else 'only '}{', '.join(sorted(now_types)) or '-'}"
        )
    elif was_kind == "exclude" and now_kind == "exclude" and now_types - was_types:
        reasons.append(f"more resource types excluded: {', '.join(sorted(now_types - was_types))}")
    elif was_kind == "exclude" and now_kind == "only":
        reasons.append(f"exclusion strategy replaced by an inclusion list of {len(now_types)} type(s)")
    elif was_kind == "only" and now_kind == "only" and was_types - now_types:
        reasons.append(f"resource types no longer recorded: {', '.join(sorted(was_types - now_types))}")
    return reasons


def _fill(value: Any, account: str, region: str) -> Any:
    text = json.dumps(value).replace("{account}", account).replace("{region}", region)
    return json.loads(text)


@dataclass
class LastKnownGood:
    """One item per account and Region in Snapback's table (smallest local form of a base store)."""

    clients: Clients
    table: str
    remediation: str

    def _key(self, account: str, region: str) -> dict[str, Any]:
        return {"pk": {"S": f"lkg#{self.remediation}#{account}#{region}"}}

    def recall(self, account: str, region: str) -> dict[str, Any] | None:
        try:
            item = self.clients.client("dynamodb").get_item(TableName=self.table, Key=self._key(account, region)).get("Item")
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        return json.loads(item["state"]["S"]) if item else None

    def remember(self, account: str, region: str, state: Mapping[str, Any]) -> None:
        item = {
            **self._key(account, region),
            "kind": {"S": "last_known_good"},
            "recorded_at": {"S": datetime.now(UTC).isoformat()},
            "state": {"S": json.dumps(state, sort_keys=True, default=str)},
        }
        try:
            self.clients.client("dynamodb").put_item(TableName=self.table, Item=item)
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err


@register
class ConfigRecorderRestore(Remediation):
    name = "config_recorder_restore"
    summary = "AWS Config recorder stopped, deleted, starved of its channel or narrowed"
    severity = Severity.HIGH
    finding_type = "TTPs/Defense Evasion/AWS Config tampering"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Config recorder stopped, deleted or reconfigured; delivery channel deleted; recorder started",
            pattern=cloudtrail_pattern("aws.config", "config.amazonaws.com", [*TAMPERING, BASELINE]),
        ),
    )
    controls = ("Config.1",)
    permissions = (
        "config:DeleteConfigurationRecorder",
        "config:DeleteDeliveryChannel",
        "config:DescribeConfigurationRecorderStatus",
        "config:DescribeConfigurationRecorders",
        "config:DescribeDeliveryChannels",
        "config:PutConfigurationRecorder",
        "config:PutDeliveryChannel",
        "config:StartConfigurationRecorder",
        "config:StopConfigurationRecorder",
        "iam:PassRole",
    )
    pass_role_to = ("config.amazonaws.com",)
    call_budget = 20
    defaults = {"fallback": None}
    memory: LastKnownGood | None = None
    sweep_scope = "region"
    # Snapback's memory, not the recorder: a first action with no baseline records one (not drift), and
    # `narrowed` is the recorder measured against that memory (undo makes what it restores the new
    # baseline, so the same recording group reads "not narrowed" afterwards).
    volatile_state = ("last_known_good", "last_known_good_source", "narrowed")

    def configure(self, runtime: Any) -> None:
        super().configure(runtime)
        self.memory = LastKnownGood(runtime.clients, runtime.table, self.name)

    # -- resolve ---------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name not in (*TAMPERING, BASELINE) or call.event_source != "config.amazonaws.com":
            raise NotApplicable(f"{call.event_name} does not stop, delete or narrow a Config recorder")
        request = call.request
        recorder = request.get("configurationRecorder")
        recorder = recorder if isinstance(recorder, Mapping) else {}
        recorder_name = request.get("configurationRecorderName") or recorder.get("name")
        channel_name = request.get("deliveryChannelName")
        region = call.region or event.region
        target = self._target(event.account, region, f"ct#{call.event_id}" if call.event_id else None, call)
        target.facts.update(
            {
                **call.facts(),
                "recorder_name": recorder_name if isinstance(recorder_name, str) else None,
                "channel_name": channel_name if isinstance(channel_name, str) else None,
            }
        )
        if isinstance(recorder_name, str) and service_linked({"name": recorder_name}):
            raise NotApplicable(f"{recorder_name} is a service-linked recorder, owned by its service", target)
        return target

    def _target(self, account: str, region: str, key: str | None, call: CloudTrailCall | None) -> Target:
        what = {
            "StopConfigurationRecorder": "stopped",
            "DeleteConfigurationRecorder": "deleted",
            "DeleteDeliveryChannel": "lost its delivery channel",
            "PutConfigurationRecorder": "reconfigured",
            BASELINE: "started",
        }
        summary = f"AWS Config recorder in {region} {what.get(call.event_name, 'changed')}" if call else ""
        return Target(
            account=account,
            region=region,
            resource_type="Other",
            resource_id=f"configuration-recorder-{region}",
            resource_arn=f"arn:aws:config:{region}:{account}:configuration-recorder",
            idempotency_key=key
            or f"config#{account}#{region}#{call.event_name if call else '-'}#{call.event_time if call else '-'}",
            principal_arn=call.actor.arn if call else None,
            facts={"summary": summary},
        )

    def resolve_finding(self, event: Envelope, finding: AsffFinding) -> Target:
        target = self._target(finding.account, finding.region or event.region, f"{finding.idempotency_key}#restore", None)
        target.facts.update(summary=f"Security Hub {finding.control_id}: {finding.title}", control=finding.control_id)
        return target

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        target = self._target(account, region, self.sweep_key(account, region, "configuration-recorder"), None)
        state = self.inspect(session, target)  # a healthy recorder becomes the last known good here
        if self.is_compliant(state):
            return
        problems = [
            *(["no configuration recorder"] if not state.get("recorder") else []),
            *(["not recording"] if state.get("recorder") and not state.get("recording") else []),
            *(["no delivery channel"] if not state.get("channel") else []),
            *(state.get("narrowed") or []),
        ]
        target.facts["summary"] = f"AWS Config in {region}: {'; '.join(problems)}"
        yield target

    # -- inspect ---------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        config = session.client("config")
        recorders = config.describe_configuration_recorders().get("ConfigurationRecorders", [])
        ours = [r for r in recorders if not service_linked(r)]
        recorder = {k: v for k, v in ours[0].items() if k not in SERVICE_OWNED} if ours else None
        recording = False
        if recorder:
            statuses = config.describe_configuration_recorder_status(ConfigurationRecorderNames=[recorder["name"]])
            recording = any(s.get("recording") for s in statuses.get("ConfigurationRecordersStatus", []))
        channels = config.describe_delivery_channels().get("DeliveryChannels", [])
        channel = {k: v for k, v in channels[0].items() if k in CHANNEL_FIELDS} if channels else None
        good, source = self._last_known_good(target)
        state: dict[str, Any] = {
            "recorder": recorder,
            "recording": recording,
            "channel": channel,
            "service_linked_ignored": sorted(str(r.get("name")) for r in recorders if service_linked(r)),
            "narrowed": narrowing((recorder or {}).get("recordingGroup"), (good or {}).get("recorder", {}).get("recordingGroup"))
            if recorder and good
            else [],
            "checks": ["scope"] if target.facts.get("event_name") == "PutConfigurationRecorder" else ["all"],
            "last_known_good": good,
            "last_known_good_source": source,
        }
        if recorder and channel and recording and not state["narrowed"] and self.memory is not None:
            self.memory.remember(target.account, target.region, {"recorder": recorder, "channel": channel})
        return state

    def _last_known_good(self, target: Target) -> tuple[dict[str, Any] | None, str | None]:
        recalled = self.memory.recall(target.account, target.region) if self.memory is not None else None
        if recalled:
            return recalled, "snapback table (last state seen recording)"
        fallback = self.options.get("fallback")
        if isinstance(fallback, Mapping) and fallback.get("recorder"):
            return _fill(dict(fallback), target.account, target.region), "fallback option"
        return None, None

    # -- decide ----------------------------------------------------------------------------------
    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        if state.get("narrowed"):
            return False
        if "scope" in (state.get("checks") or []):
            return True
        return bool(state.get("recorder")) and bool(state.get("channel")) and bool(state.get("recording"))

    def _steps(self, state: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """What to do, in order, as (API, argument); raises PermanentError if it cannot be done."""
        good = state.get("last_known_good") or {}
        recorder, channel = state.get("recorder"), state.get("channel")
        steps: list[tuple[str, Any]] = []
        if state.get("narrowed"):
            steps.append(("PutConfigurationRecorder", {**good["recorder"], "name": recorder["name"]}))
        if "scope" in (state.get("checks") or []):
            return steps
        if recorder is None:
            if not good.get("recorder"):
                raise PermanentError(
                    "the configuration recorder is gone and no last known good is recorded for this account and Region: "
                    "recreate it from infrastructure code, or set remediations.config_recorder_restore.options.fallback"
                )
            recorder = good["recorder"]
            steps.append(("PutConfigurationRecorder", recorder))
        if channel is None:
            if not good.get("channel"):
                raise PermanentError(
                    "the delivery channel is gone and no last known good is recorded for this account and Region: "
                    "recreate it from infrastructure code, or set remediations.config_recorder_restore.options.fallback"
                )
            steps.append(("PutDeliveryChannel", good["channel"]))
        if not state.get("recording"):
            steps.append(("StartConfigurationRecorder", recorder["name"]))
        return steps

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        try:
            steps = self._steps(state)
        except PermanentError as err:
            return [f"alert only: {err}"]
        source = state.get("last_known_good_source")
        words = []
        for api, arg in steps:
            if api == "PutConfigurationRecorder":
                why = f": reverts {'; '.join(state['narrowed'])}" if state.get("narrowed") else ""
                words.append(f"config:PutConfigurationRecorder {arg['name']} from the last known good ({source}){why}")
            elif api == "PutDeliveryChannel":
                words.append(f"config:PutDeliveryChannel {arg['name']} to s3://{arg.get('s3BucketName')} ({source})")
            else:
                words.append(f"config:StartConfigurationRecorder {arg}")
        return words

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        config = session.client("config")
        for api, arg in self._steps(state):
            if api == "PutConfigurationRecorder":
                config.put_configuration_recorder(ConfigurationRecorder=arg)
            elif api == "PutDeliveryChannel":
                config.put_delivery_channel(DeliveryChannel=arg)
            else:
                config.start_configuration_recorder(ConfigurationRecorderName=arg)
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"recorder": before.get("recorder"), "channel": before.get("channel"), "recording": bool(before.get("recording"))}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        config = session.client("config")
        now = self.inspect(session, target)
        actions: list[str] = []
        recorder, before_recorder = now.get("recorder"), undo_data.get("recorder")
        if recorder and now.get("recording") and not undo_data.get("recording"):
            config.stop_configuration_recorder(ConfigurationRecorderName=recorder["name"])
            actions.append(f"config:StopConfigurationRecorder {recorder['name']} (it was not recording before)")
        if now.get("channel") and undo_data.get("channel") is None:
            config.delete_delivery_channel(DeliveryChannelName=now["channel"]["name"])
            actions.append(f"config:DeleteDeliveryChannel {now['channel']['name']} (Snapback created it)")
        if recorder and before_recorder is None:
            config.delete_configuration_recorder(ConfigurationRecorderName=recorder["name"])
            actions.append(f"config:DeleteConfigurationRecorder {recorder['name']} (Snapback created it)")
        elif recorder and before_recorder and recorder != before_recorder:
            config.put_configuration_recorder(ConfigurationRecorder=dict(before_recorder))
            actions.append(f"config:PutConfigurationRecorder {recorder['name']}: previous settings restored")
        after = self.inspect(session, target)
        if after["recorder"] and after["channel"] and after["recording"] and self.memory is not None:
            # An operator chose these settings: they are the new baseline, not a narrowing to revert.
            self.memory.remember(target.account, target.region, {"recorder": after["recorder"], "channel": after["channel"]})
        return actions or ["nothing to undo: the state already matches the recorded before state"]
