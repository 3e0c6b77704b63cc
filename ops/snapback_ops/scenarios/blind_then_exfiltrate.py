"""Scenario: an intruder in member-b first blinds the detectors, then goes for the data.

Steps, each answered before the next one starts (`STEPS`, in order; a step is a function
`(org, timeline, ctx) -> dict` with `name`, `passed`, `outcomes` and `results`, and reads or adds to
`ctx`, which carries the account and its admin session between steps):

1. blind GuardDuty: the detector is disabled and its S3 protection switched off -> guardduty_tampering
   turns both back on (REMEDIATED) from the last known good the reconciliation sweep recorded;
2. narrow CloudTrail: the audit trail is made single-Region without log file validation, and its
   event selectors drop management events -> cloudtrail_restore_trail puts the trail and its
   selectors back as the sweep last saw them (REMEDIATED, twice);
3. exfiltrate: a database snapshot is shared publicly and with the intruder's own account ->
   ebs_snapshot_share_revoke removes exactly those two grants (REMEDIATED).

The sweep runs once first, as it does on its schedule: that is how Snapback knows what "good" was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snapback.outcomes import Outcome, Result
from snapback.sweep import Sweeper
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit, runtime_for

ORDER = 90
MEMBER = "member-b"
TRAIL = "acme-org-audit"
FEATURES = [{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}, {"Name": "EKS_AUDIT_LOGS", "Status": "ENABLED"}]
Step = Callable[[LocalOrg, Timeline, dict[str, Any]], dict[str, Any]]


def _outcomes(results: list[Result]) -> list[str]:
    return [f"{r.remediation}: {r.target.facts.get('event_name') if r.target else '-'}: {r.outcome.value}" for r in results]


def _baseline(org: LocalOrg, timeline: Timeline, ctx: dict[str, Any]) -> None:
    """The healthy state, then one reconciliation sweep of the detectors: the last known good."""
    account, member = ctx["account"], ctx["session"]
    gd = member.client("guardduty")
    ctx["detector"] = gd.create_detector(Enable=True, Features=FEATURES)["DetectorId"]
    bucket = f"acme-org-audit-{account}"
    member.client("s3").create_bucket(Bucket=bucket)
    ct = member.client("cloudtrail")
    ct.create_trail(Name=TRAIL, S3BucketName=bucket, IsMultiRegionTrail=True, EnableLogFileValidation=True)
    ct.put_event_selectors(TrailName=TRAIL, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}])
    ct.start_logging(Name=TRAIL)
    timeline.add(
        "setup", f"{MEMBER} ({account}): GuardDuty detector with S3 and EKS protection; trail {TRAIL} multi-Region, validated"
    )
    for name in ("guardduty_tampering", "cloudtrail_restore_trail"):
        summary = Sweeper(runtime_for(org, name), accounts=[account], remediations=[name]).run()
        timeline.add("sweep", f"reconciliation sweep {name}: {summary.violations} violation(s); healthy state remembered")


def blind_guardduty(org: LocalOrg, timeline: Timeline, ctx: dict[str, Any]) -> dict[str, Any]:
    account, member, detector = ctx["account"], ctx["session"], ctx["detector"]
    gd = member.client("guardduty")
    gd.update_detector(
        DetectorId=detector, Enable=False, Features=[{"Name": "S3_DATA_EVENTS", "Status": "DISABLED"}, FEATURES[1]]
    )
    request = {"detectorId": detector, "enable": False, "features": [{"name": "S3_DATA_EVENTS", "status": "DISABLED"}]}
    emit(member, cloudtrail_record(account, "guardduty.amazonaws.com", "UpdateDetector", request, actor="intruder"))
    timeline.add("attack", f"{MEMBER}: UpdateDetector {detector} enable=false, S3_DATA_EVENTS DISABLED -> member default bus")
    results = deliver(org, account, timeline, expect=1)
    now = gd.get_detector(DetectorId=detector)
    s3 = {f["Name"]: f["Status"] for f in now.get("Features") or []}.get("S3_DATA_EVENTS")
    timeline.add("verify", f"read back as {MEMBER}: detector {now['Status']}, S3_DATA_EVENTS {s3}")
    return {
        "name": "blind GuardDuty",
        "outcomes": _outcomes(results),
        "passed": [(r.remediation, r.outcome) for r in results] == [("guardduty_tampering", Outcome.REMEDIATED)]
        and now["Status"] == "ENABLED"
        and s3 == "ENABLED",
        "results": [r.as_dict() for r in results],
    }


def narrow_cloudtrail(org: LocalOrg, timeline: Timeline, ctx: dict[str, Any]) -> dict[str, Any]:
    account, member = ctx["account"], ctx["session"]
    ct = member.client("cloudtrail")
    ct.update_trail(Name=TRAIL, IsMultiRegionTrail=False, EnableLogFileValidation=False)
    request = {"name": TRAIL, "isMultiRegionTrail": False, "enableLogFileValidation": False}
    emit(member, cloudtrail_record(account, "cloudtrail.amazonaws.com", "UpdateTrail", request, actor="intruder"))
    timeline.add("attack", f"{MEMBER}: UpdateTrail {TRAIL} single-Region, log file validation off -> member default bus")
    results = deliver(org, account, timeline, expect=1)
    ct.put_event_selectors(TrailName=TRAIL, EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": False}])
    selectors = {"trailName": TRAIL, "eventSelectors": [{"readWriteType": "ReadOnly", "includeManagementEvents": False}]}
    emit(member, cloudtrail_record(account, "cloudtrail.amazonaws.com", "PutEventSelectors", selectors, actor="intruder"))
    timeline.add("attack", f"{MEMBER}: PutEventSelectors {TRAIL} without management events -> member default bus")
    results += deliver(org, account, timeline, expect=1)
    trail = ct.get_trail(Name=TRAIL)["Trail"]
    (selector,) = ct.get_event_selectors(TrailName=TRAIL)["EventSelectors"]
    timeline.add(
        "verify",
        f"read back as {MEMBER}: multi-Region={trail['IsMultiRegionTrail']} validation={trail['LogFileValidationEnabled']} "
        f"management events={selector.get('IncludeManagementEvents')} ({selector.get('ReadWriteType')})",
    )
    return {
        "name": "narrow CloudTrail",
        "outcomes": _outcomes(results),
        "passed": [(r.remediation, r.outcome) for r in results] == [("cloudtrail_restore_trail", Outcome.REMEDIATED)] * 2
        and trail["IsMultiRegionTrail"] is True
        and trail["LogFileValidationEnabled"] is True
        and selector.get("IncludeManagementEvents") is True
        and selector.get("ReadWriteType") == "All",
        "results": [r.as_dict() for r in results],
    }


def exfiltrate_snapshot(org: LocalOrg, timeline: Timeline, ctx: dict[str, Any]) -> dict[str, Any]:
    from snapback_ops.scenarios.exfiltrate_snapshot import OUTSIDE, grants, share_request

    account, member = ctx["account"], ctx["session"]
    ec2 = member.client("ec2")
    volume = ec2.create_volume(Size=50, AvailabilityZone="us-east-1a")["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume, Description="customers-db")["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"], UserIds=[OUTSIDE]
    )
    request = share_request(snapshot, [{"group": "all"}, {"userId": OUTSIDE}])
    emit(member, cloudtrail_record(account, "ec2.amazonaws.com", "ModifySnapshotAttribute", request, actor="intruder"))
    timeline.add("attack", f"{MEMBER}: {snapshot} shared with everyone and with {OUTSIDE} (outside the org) -> default bus")
    results = deliver(org, account, timeline, expect=1)
    left = grants(ec2, snapshot)
    timeline.add("verify", f"read back as {MEMBER}: createVolumePermission {left or 'none'}")
    return {
        "name": "exfiltrate a snapshot",
        "outcomes": _outcomes(results),
        "passed": [(r.remediation, r.outcome) for r in results] == [("ebs_snapshot_share_revoke", Outcome.REMEDIATED)]
        and left == [],
        "results": [r.as_dict() for r in results],
    }


# The attacker's moves in order: blind the detectors, then take the data.
STEPS: list[Step] = [blind_guardduty, narrow_cloudtrail, exfiltrate_snapshot]


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """Blind the detectors, then take the data: each move answered before the next."""
    account = org.members[MEMBER]
    ctx: dict[str, Any] = {"account": account, "session": org.session(account)}
    _baseline(org, timeline, ctx)
    steps = [step(org, timeline, ctx) for step in STEPS]
    return {
        "name": "blind_then_exfiltrate",
        "account": account,
        "outcomes": [o for s in steps for o in s["outcomes"]],
        "steps": [{k: v for k, v in s.items() if k != "results"} for s in steps],
        "passed": all(s["passed"] for s in steps),
        "results": [r for s in steps for r in s["results"]],
    }
