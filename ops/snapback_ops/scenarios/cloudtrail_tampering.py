"""Scenario: an intruder covers their tracks in member-a: stops the audit trail, narrows another, deletes a third.

Shows the stopped trail restarted (cloudtrail_restart_logging, REMEDIATED), the trail the intruder made
single-Region switched back to multi-Region (cloudtrail_restore_trail, REMEDIATED), the deleted trail
paged with the exact command to recreate it (no last known good was recorded for it yet: NOTIFIED,
critical), and Snapback's own StopLogging (an undo) never routed back.
"""

from __future__ import annotations

from typing import Any

from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit

ORDER = 30
SOURCE = "cloudtrail.amazonaws.com"


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """Three tampering calls in member-a: restart, restore, and a page for the deleted trail."""
    account = org.members["member-a"]
    member = org.session(account)
    ct = member.client("cloudtrail")
    bucket = f"acme-cloudtrail-{account}"
    member.client("s3").create_bucket(Bucket=bucket)
    audit, lake, legacy = "acme-audit", "acme-security-lake", "acme-legacy"
    for trail in (audit, lake, legacy):
        ct.create_trail(Name=trail, S3BucketName=bucket, S3KeyPrefix=trail, IsMultiRegionTrail=True)
        ct.start_logging(Name=trail)
    timeline.add("setup", f"member-a ({account}): multi-Region trails {audit}, {lake}, {legacy} logging to {bucket}")

    ct.stop_logging(Name=audit)
    emit(
        member,
        cloudtrail_record(account, SOURCE, "StopLogging", {"name": f"arn:aws:cloudtrail:us-east-1:{account}:trail/{audit}"}),
    )
    timeline.add("attack", f"member-a: StopLogging on {audit} -> member default bus")

    ct.update_trail(Name=lake, IsMultiRegionTrail=False)
    emit(member, cloudtrail_record(account, SOURCE, "UpdateTrail", {"name": lake, "isMultiRegionTrail": False}))
    timeline.add("attack", f"member-a: UpdateTrail {lake} to single-Region -> member default bus")

    ct.delete_trail(Name=legacy)
    emit(member, cloudtrail_record(account, SOURCE, "DeleteTrail", {"name": legacy}))
    timeline.add("attack", f"member-a: DeleteTrail {legacy} -> member default bus")

    emit(member, cloudtrail_record(account, SOURCE, "StopLogging", {"name": audit}, actor="snapback-remediator"))
    timeline.add("event", "CloudTrail StopLogging by snapback-remediator (an undo; a loop) -> member default bus")

    results = deliver(org, account, timeline, expect=3)

    logging = {t: ct.get_trail_status(Name=t)["IsLogging"] for t in (audit, lake)}
    multi = ct.get_trail(Name=lake)["Trail"]["IsMultiRegionTrail"]
    timeline.add(
        "verify", f"read back as member-a: {audit} logging={logging[audit]}, {lake} logging={logging[lake]} multi-Region={multi}"
    )
    outcomes = {r.target.resource_id if r.target else "-": r.outcome.value for r in results}
    return {
        "name": "cloudtrail_tampering",
        "account": account,
        "outcomes": outcomes,
        "passed": len(results) == 3
        and outcomes == {audit: Outcome.REMEDIATED.value, lake: Outcome.REMEDIATED.value, legacy: Outcome.NOTIFIED.value}
        and all(logging.values())
        and multi,
        "results": [r.as_dict() for r in results],
    }
