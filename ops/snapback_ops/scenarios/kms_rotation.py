"""Scenario: automatic rotation is switched off on member-a's application data key.

Shows the rotation turned back on (REMEDIATED, undoable), a failed attempt on a signing key
(errorCode) and Snapback's own DisableKeyRotation (an undo) never routed to it.
"""

from __future__ import annotations

from typing import Any

from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit

ORDER = 50
SOURCE = "kms.amazonaws.com"


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """DisableKeyRotation on a customer-managed key in member-a, and two events that must not act."""
    account = org.members["member-a"]
    member = org.session(account)
    kms = member.client("kms")
    data_key = kms.create_key(Description="acme application data")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=data_key["KeyId"])
    signing = kms.create_key(Description="acme release signing", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    timeline.add("setup", f"member-a ({account}): data key {data_key['KeyId']} rotates yearly; signing key {signing['KeyId']}")

    kms.disable_key_rotation(KeyId=data_key["KeyId"])
    emit(member, cloudtrail_record(account, SOURCE, "DisableKeyRotation", {"keyId": data_key["Arn"]}))
    timeline.add("attack", f"member-a: DisableKeyRotation on {data_key['KeyId']} -> member default bus")

    emit(
        member,
        cloudtrail_record(
            account, SOURCE, "DisableKeyRotation", {"keyId": signing["KeyId"]}, error_code="UnsupportedOperationException"
        ),
    )
    timeline.add("event", "CloudTrail DisableKeyRotation on the signing key, failed (UnsupportedOperationException)")
    emit(
        member,
        cloudtrail_record(account, SOURCE, "DisableKeyRotation", {"keyId": data_key["KeyId"]}, actor="snapback-remediator"),
    )
    timeline.add("event", "CloudTrail DisableKeyRotation by snapback-remediator (an undo; a loop) -> member default bus")

    results = deliver(org, account, timeline, expect=1)

    rotating = kms.get_key_rotation_status(KeyId=data_key["KeyId"])["KeyRotationEnabled"]
    timeline.add("verify", f"read back as member-a: rotation of {data_key['KeyId']} enabled={rotating}")
    return {
        "name": "kms_rotation",
        "account": account,
        "outcomes": {r.target.resource_id if r.target else "-": r.outcome.value for r in results},
        "passed": rotating is True and [r.outcome for r in results] == [Outcome.REMEDIATED],
        "results": [r.as_dict() for r in results],
    }
