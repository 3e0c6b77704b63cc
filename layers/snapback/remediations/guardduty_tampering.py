"""Keep GuardDuty watching: undo what blinds it, and page on-call every time.

Trigger: CloudTrail (successful calls only, never Snapback's own), eventSource
    guardduty.amazonaws.com: DeleteDetector; UpdateDetector that disables the detector
    (`enable` false) or a protection plan (`features[].status` DISABLED, or a legacy
    `dataSources` flag false); CreateIPSet / UpdateIPSet that leaves a trusted IP list active (a
    trusted list silences every finding about its addresses); CreateFilter / UpdateFilter with
    `action` ARCHIVE (a suppression rule: archived findings never reach EventBridge);
    DisassociateFromAdministratorAccount / DisassociateFromMasterAccount (the member leaves the
    delegated administrator's view). Benign neighbours are not applicable (SKIPPED): an
    UpdateDetector that only enables things (the delegated administrator's own feature roll-out),
    a NOOP filter, a trusted list created or updated inactive, a threat list (CreateThreatIntelSet).
Action: re-read the Region's state as the remediator role, then:
    - detector disabled or a protection plan disabled: UpdateDetector enable=true with every
      feature that the event disabled or that the last known good had ENABLED set ENABLED again;
    - detector deleted: CreateDetector (enable=true, the last known good features) when no
      detector exists any more and the `recreate_detector` option is on (default); GuardDuty
      keeps no history of a deleted detector, so its findings are gone; the page says so and that
      the delegated administrator must add the account back (`aws guardduty create-members`);
    - trusted IP list active: DeleteIPSet; its definition (name, format, location, status, tags)
      is kept in the undo data;
    - archive filter created: DeleteFilter, its definition kept in the undo data; a filter that
      existed before and was switched to ARCHIVE is set back to NOOP (its owner keeps it);
    - disassociated: nothing a member account can do (only the administrator adds a member): a
      CRITICAL page with the exact command for the delegated administrator account.
    Every event is paged: a detector already enabled again is NOTIFIED, never silent.
    Last known good: every enabled detector Snapback reads is remembered per account and Region
    (`lkg#guardduty_tampering#<account>#<region>`: its enabled features), by events and by the sweep.
Undo: put back exactly what Snapback changed: UpdateDetector with the before status and the
    re-enabled features DISABLED again; DeleteDetector of a detector Snapback created; CreateIPSet /
    CreateFilter from the kept definition; UpdateFilter action ARCHIVE for a filter set to NOOP.
    Each step reads first, so undoing twice changes nothing.
Permissions: guardduty:ListDetectors, guardduty:GetDetector, guardduty:UpdateDetector,
    guardduty:CreateDetector, guardduty:DeleteDetector (undo of a recreation), guardduty:GetFilter,
    guardduty:DeleteFilter, guardduty:UpdateFilter, guardduty:CreateFilter (undo),
    guardduty:GetIPSet, guardduty:DeleteIPSet, guardduty:CreateIPSet (undo),
    guardduty:GetAdministratorAccount. The GuardDuty user guide also asks for iam:PutRolePolicy /
    iam:DeleteRolePolicy on its service-linked role to manage trusted lists; Snapback's member
    role does not get IAM write for this: if AWS refuses, the outcome is FAILED with the reason.
Sweep (every configured Region): the Region's detector: disabled, or a feature DISABLED that the
    last known good had ENABLED, or no detector where the last known good had one, is a violation.
    A healthy detector becomes the last known good. (Filters and trusted lists are event-driven.)
Side effects: findings suppressed while a filter or trusted list was active stay archived; a
    recreated detector starts with no findings and no administrator until it is added back.
    Options: `recreate_detector` (true).
"""

from __future__ import annotations

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
from snapback.triggers import Trigger, cloudtrail_pattern

DETECTOR_CALLS = ("DeleteDetector", "UpdateDetector")
IPSET_CALLS = ("CreateIPSet", "UpdateIPSet")
FILTER_CALLS = ("CreateFilter", "UpdateFilter")
DISASSOCIATION = ("DisassociateFromAdministratorAccount", "DisassociateFromMasterAccount")
ALL_CALLS = (*DETECTOR_CALLS, *IPSET_CALLS, *FILTER_CALLS, *DISASSOCIATION)
# GuardDuty answers "no such detector / filter / IP set" with a 400 BadRequestException (moto:
# InvalidInputException); both only ever follow a read of something that was named.
NOT_FOUND = frozenset({"BadRequestException", "InvalidInputException", "NotFoundException"})
INACTIVE_IPSET = frozenset({"INACTIVE", "DEACTIVATING", "DELETE_PENDING", "DELETED"})
# Legacy dataSources flags and the protection-plan feature each one is.
LEGACY_SOURCES = {
    ("s3Logs", "enable"): "S3_DATA_EVENTS",
    ("kubernetes", "auditLogs", "enable"): "EKS_AUDIT_LOGS",
    ("malwareProtection", "scanEc2InstanceWithFindings", "ebsVolumes"): "EBS_MALWARE_PROTECTION",
}


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def disabled_by_request(request: Mapping[str, Any]) -> list[str]:
    """The protection plans an UpdateDetector request switches off (features or legacy dataSources)."""
    names = {
        str(f.get("name"))
        for f in request.get("features") or []
        if isinstance(f, Mapping) and str(f.get("status", "")).upper() == "DISABLED" and f.get("name")
    }
    sources = request.get("dataSources")
    names |= {feature for path, feature in LEGACY_SOURCES.items() if _dig(sources, path) is False}
    return sorted(names)


def features_of(detector: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(f.get("Name")): str(f.get("Status") or "").upper()
        for f in detector.get("Features") or []
        if isinstance(f, Mapping) and f.get("Name")
    }


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@register
class GuardDutyTampering(PageAlways, Remediation):
    name = "guardduty_tampering"
    summary = "GuardDuty detector deleted or disabled, trusted IP list, archive filter, disassociation"
    severity = Severity.HIGH
    finding_type = "TTPs/Defense Evasion/GuardDuty tampering"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="GuardDuty detector deleted or updated, trusted IP list or filter created or updated, disassociated",
            pattern=cloudtrail_pattern("aws.guardduty", "guardduty.amazonaws.com", list(ALL_CALLS)),
        ),
    )
    permissions = (
        "guardduty:CreateDetector",
        "guardduty:CreateFilter",
        "guardduty:CreateIPSet",
        "guardduty:DeleteDetector",
        "guardduty:DeleteFilter",
        "guardduty:DeleteIPSet",
        "guardduty:GetAdministratorAccount",
        "guardduty:GetDetector",
        "guardduty:GetFilter",
        "guardduty:GetIPSet",
        "guardduty:ListDetectors",
        "guardduty:UpdateDetector",
        "guardduty:UpdateFilter",
    )
    call_budget = 18
    defaults = {"recreate_detector": True}
    sweep_scope = "region"
    # Snapback's memory, not the detector: a first action with no baseline records one (not drift).
    volatile_state = ("last_known_good",)

    # -- resolve ---------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name not in ALL_CALLS or call.event_source != "guardduty.amazonaws.com":
            raise NotApplicable(f"{call.event_name} does not tamper with GuardDuty")
        request, response = call.request, call.response or {}
        account, region = event.account, call.region or event.region
        detector = _str(request.get("detectorId"))
        if not detector:
            raise NotApplicable(f"{call.event_name} names no detector (requestParameters.detectorId missing)")
        base = f"arn:aws:guardduty:{region}:{account}:detector/{detector}"
        facts: dict[str, Any] = {**call.facts(), "detector_id": detector}
        kind, resource_id, arn = "detector", detector, base
        name = call.event_name
        if name == "UpdateDetector":
            disabled = disabled_by_request(request)
            if request.get("enable") is not False and not disabled:
                raise NotApplicable("UpdateDetector enables or tunes GuardDuty, disables nothing")
            facts["disabled_by_event"] = disabled
            facts["summary"] = (
                f"GuardDuty detector {detector} disabled"
                if request.get("enable") is False
                else f"GuardDuty protection plans disabled on detector {detector}: {', '.join(disabled)}"
            )
        elif name == "DeleteDetector":
            facts["summary"] = f"GuardDuty detector {detector} deleted in {region}"
        elif name in IPSET_CALLS:
            ipset = _str(request.get("ipSetId")) or _str(response.get("ipSetId"))
            if not ipset:
                raise NotApplicable(f"{name} names no IP set (ipSetId missing)")
            if request.get("activate") is not True and (name == "CreateIPSet" or request.get("activate") is False):
                raise NotApplicable(f"{name} leaves the trusted IP list inactive")
            kind, resource_id, arn = "ipset", ipset, f"{base}/ipset/{ipset}"
            facts["summary"] = f"GuardDuty trusted IP list {request.get('name') or ipset} active on detector {detector}"
            facts["location"] = request.get("location")
        elif name in FILTER_CALLS:
            filter_name = _str(request.get("name")) or _str(request.get("filterName")) or _str(response.get("name"))
            if not filter_name:
                raise NotApplicable(f"{name} names no filter")
            if str(request.get("action") or "").upper() != "ARCHIVE":
                raise NotApplicable(f"{name} {filter_name}: action {request.get('action') or 'unchanged'}, not ARCHIVE")
            kind, resource_id, arn = "filter", filter_name, f"{base}/filter/{filter_name}"
            facts["summary"] = f"GuardDuty suppression rule {filter_name} (action ARCHIVE) on detector {detector}"
            facts["created"] = name == "CreateFilter"
        else:
            kind = "administrator"
            facts["summary"] = f"GuardDuty detector {detector} disassociated from its administrator account"
            facts["critical"] = True
            facts["page"] = (
                f"{facts['summary']}: findings of {account} in {region} no longer reach the administrator, and a member "
                "cannot re-join by itself. In the delegated administrator account run "
                f"`aws guardduty create-members --region {region} --detector-id <administrator detector id> "
                f"--account-details AccountId={account},Email=<account email>` (organization members need no invitation)"
            )
        if name == "DeleteDetector":
            facts["critical"] = True
            facts["page"] = (
                f"{facts['summary']}: its findings history is gone; once recreated, the delegated administrator must add the "
                f"account back (`aws guardduty create-members --region {region} --detector-id <administrator detector id> "
                f"--account-details AccountId={account},Email=<account email>`) unless auto-enable does"
            )
        facts.setdefault("page", facts["summary"])
        facts["kind"] = kind
        return Target(
            account=account,
            region=region,
            resource_type="AwsGuardDutyDetector" if kind in ("detector", "administrator") else "Other",
            resource_id=resource_id,
            resource_arn=arn,
            idempotency_key=call.idempotency_key(f"guardduty#{arn}#{name}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts=facts,
        )

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        target = Target(
            account=account,
            region=region,
            resource_type="AwsGuardDutyDetector",
            resource_id=f"guardduty-{region}",
            resource_arn=f"arn:aws:guardduty:{region}:{account}:detector",
            idempotency_key=self.sweep_key(account, region, "guardduty-detector"),
            facts={"kind": "detector", "disabled_by_event": []},
        )
        state = self.inspect(session, target)
        if self.is_compliant(state):
            return
        problems = self._problems(state)
        target.facts["summary"] = f"GuardDuty in {region}: {'; '.join(problems)}"
        target.facts["page"] = "; ".join(problems)
        yield target

    # -- inspect ---------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        client = session.client("guardduty")
        kind = target.facts.get("kind")
        detector = target.facts.get("detector_id")
        if kind == "ipset":
            return {"kind": kind, "ipset": self._read(lambda: client.get_ip_set(DetectorId=detector, IpSetId=target.resource_id))}
        if kind == "filter":
            found = self._read(lambda: client.get_filter(DetectorId=detector, FilterName=target.resource_id))
            return {"kind": kind, "filter": found, "created": bool(target.facts.get("created"))}
        detectors = client.list_detectors().get("DetectorIds") or []
        if kind == "administrator":
            admin = None
            if detector in detectors:
                answer = client.get_administrator_account(DetectorId=detector)
                admin = answer.get("Administrator") or answer.get("Master") or None
            return {"kind": kind, "detector_id": detector if detector in detectors else None, "administrator": admin}
        good = self._last_known_good(target)
        state: dict[str, Any] = {
            "kind": "detector",
            "detector_id": None,
            "enabled": False,
            "features": {},
            "last_known_good": good,
        }
        if detectors:
            current = detector if detector in detectors else detectors[0]
            answer = client.get_detector(DetectorId=current)
            state.update(detector_id=current, enabled=answer.get("Status") == "ENABLED", features=features_of(answer))
        state["deleted_by_event"] = target.facts.get("event_name") == "DeleteDetector"
        wanted = set(target.facts.get("disabled_by_event") or []) | set((good or {}).get("features") or [])
        state["to_enable"] = sorted(f for f in wanted if state["features"].get(f) == "DISABLED")
        if state["detector_id"] and state["enabled"] and not state["to_enable"] and self.known_good is not None:
            enabled = sorted(f for f, s in state["features"].items() if s == "ENABLED")
            self.known_good.remember(target.account, target.region, {"features": enabled})
        return state

    @staticmethod
    def _read(call: Any) -> dict[str, Any] | None:
        try:
            answer = dict(call())
        except ClientError as err:
            if error_code(err) in NOT_FOUND:
                return None
            raise
        answer.pop("ResponseMetadata", None)
        return answer

    def _last_known_good(self, target: Target) -> dict[str, Any] | None:
        return self.known_good.recall(target.account, target.region) if self.known_good is not None else None

    # -- decide ----------------------------------------------------------------------------------
    @staticmethod
    def _problems(state: Mapping[str, Any]) -> list[str]:
        if not state.get("detector_id"):
            return ["no detector (it was deleted)"]
        problems = [] if state.get("enabled") else ["detector disabled"]
        if state.get("to_enable"):
            problems.append(f"protection plans disabled: {', '.join(state['to_enable'])}")
        return problems

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        kind = state.get("kind")
        if kind == "ipset":
            ipset = state.get("ipset")
            return ipset is None or str(ipset.get("Status")).upper() in INACTIVE_IPSET
        if kind == "filter":
            found = state.get("filter")
            return found is None or str(found.get("Action")).upper() != "ARCHIVE"
        if kind == "administrator":
            return True  # nothing a member can do: paged (PageAlways) with the administrator's command
        if not state.get("detector_id"):
            return not (state.get("last_known_good") or state.get("deleted_by_event"))
        return bool(state.get("enabled")) and not state.get("to_enable")

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        kind = state.get("kind")
        if kind == "ipset":
            ipset = state.get("ipset") or {}
            return [
                f"guardduty:DeleteIPSet {target.resource_id} ({ipset.get('Name')}, {ipset.get('Location')}); definition kept for undo"
            ]
        if kind == "filter":
            if state.get("created"):
                return [f"guardduty:DeleteFilter {target.resource_id}; definition kept for undo"]
            return [f"guardduty:UpdateFilter {target.resource_id} action NOOP (it archived findings)"]
        if not state.get("detector_id"):
            if not self.options.get("recreate_detector", True):
                return ["alert only: recreate_detector is off"]
            features = (state.get("last_known_good") or {}).get("features") or []
            return [f"guardduty:CreateDetector enable=true, features {', '.join(features) or 'GuardDuty defaults'}"]
        words = [] if state.get("enabled") else ["enable the detector"]
        if state.get("to_enable"):
            words.append(f"enable {', '.join(state['to_enable'])}")
        return [f"guardduty:UpdateDetector {state['detector_id']}: {' and '.join(words)}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        client = session.client("guardduty")
        detector = target.facts.get("detector_id")
        kind = state.get("kind")
        if kind == "ipset":
            client.delete_ip_set(DetectorId=detector, IpSetId=target.resource_id)
        elif kind == "filter":
            if state.get("created"):
                client.delete_filter(DetectorId=detector, FilterName=target.resource_id)
            else:
                client.update_filter(DetectorId=detector, FilterName=target.resource_id, Action="NOOP")
        elif not state.get("detector_id"):
            if not self.options.get("recreate_detector", True):
                raise PermanentError(
                    f"GuardDuty detector deleted in {target.region} and recreate_detector is off: run "
                    f"`aws guardduty create-detector --enable --region {target.region}` in account {target.account}"
                )
            features = (state.get("last_known_good") or {}).get("features") or []
            extra = {"Features": [{"Name": f, "Status": "ENABLED"} for f in features]} if features else {}
            created = client.create_detector(Enable=True, **extra)["DetectorId"]
            return {"kind": "detector", "created": created}
        else:
            self._set_detector(client, state["detector_id"], True, state.get("to_enable") or [], "ENABLED", state)
        return self.undo_data_for(target, state) or {}

    @staticmethod
    def _set_detector(client: Any, detector: str, enable: bool, names: list[str], status: str, state: Mapping[str, Any]) -> None:
        # The whole feature list is sent (every other feature as it is now): GuardDuty applies the
        # features named, and a partial list must not reset the others wherever an API replaces it.
        current = dict(state.get("features") or {})
        current.update({n: status for n in names})
        features = [{"Name": n, "Status": s} for n, s in sorted(current.items()) if s in ("ENABLED", "DISABLED")]
        client.update_detector(DetectorId=detector, Enable=enable, **({"Features": features} if features else {}))

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        kind = before.get("kind")
        if kind == "ipset":
            return {"kind": kind, "ipset": before.get("ipset")}
        if kind == "filter":
            return {"kind": kind, "filter": before.get("filter"), "created": bool(before.get("created"))}
        if kind == "detector" and before.get("detector_id"):
            return {
                "kind": kind,
                "detector_id": before["detector_id"],
                "enabled": bool(before.get("enabled")),
                "re_enabled": list(before.get("to_enable") or []),
            }
        return None  # a recreated detector's id is only known to the run that created it

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        client = session.client("guardduty")
        detector = target.facts.get("detector_id")
        kind = undo_data.get("kind")
        if kind == "ipset":
            kept = undo_data.get("ipset") or {}
            if self._read(lambda: client.get_ip_set(DetectorId=detector, IpSetId=target.resource_id)) is not None:
                return [f"IP set {target.resource_id} still exists: nothing to undo"]
            new = client.create_ip_set(
                DetectorId=detector,
                Name=kept["Name"],
                Format=kept["Format"],
                Location=kept["Location"],
                Activate=str(kept.get("Status")).upper() not in INACTIVE_IPSET,
                **({"Tags": kept["Tags"]} if kept.get("Tags") else {}),
            )
            return [f"guardduty:CreateIPSet {kept['Name']} from the kept definition (new id {new.get('IpSetId')})"]
        if kind == "filter":
            kept = undo_data.get("filter") or {}
            now = self._read(lambda: client.get_filter(DetectorId=detector, FilterName=target.resource_id))
            if not undo_data.get("created"):
                if now is None or str(now.get("Action")).upper() == "ARCHIVE":
                    return [f"filter {target.resource_id} is gone or archiving already: nothing to undo"]
                client.update_filter(DetectorId=detector, FilterName=target.resource_id, Action="ARCHIVE")
                return [f"guardduty:UpdateFilter {target.resource_id} action ARCHIVE (as before)"]
            if now is not None:
                return [f"filter {target.resource_id} exists again: nothing to undo"]
            optional = {k: kept[k] for k in ("Description", "Rank", "Tags") if kept.get(k)}
            client.create_filter(
                DetectorId=detector, Name=kept["Name"], Action=kept["Action"], FindingCriteria=kept["FindingCriteria"], **optional
            )
            return [f"guardduty:CreateFilter {kept['Name']} from the kept definition"]
        if undo_data.get("created"):
            created = undo_data["created"]
            if created not in (client.list_detectors().get("DetectorIds") or []):
                return [f"detector {created} no longer exists: nothing to undo"]
            client.delete_detector(DetectorId=created)
            return [f"guardduty:DeleteDetector {created} (Snapback created it; the account had no detector before)"]
        detector_id = undo_data.get("detector_id")
        now = self._read(lambda: client.get_detector(DetectorId=detector_id))
        if now is None:
            return [f"detector {detector_id} no longer exists: nothing to undo"]
        names = list(undo_data.get("re_enabled") or [])
        current = features_of(now)
        if (now.get("Status") == "ENABLED") == bool(undo_data.get("enabled")) and all(
            current.get(n) == "DISABLED" for n in names
        ):
            return ["nothing to undo: the detector already matches the recorded before state"]
        self._set_detector(client, detector_id, bool(undo_data.get("enabled")), names, "DISABLED", {"features": current})
        return [
            f"guardduty:UpdateDetector {detector_id}: enable={bool(undo_data.get('enabled'))}, DISABLED again: {', '.join(names) or '-'}"
        ]
