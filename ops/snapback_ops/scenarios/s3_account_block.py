"""Scenario: an attacker deletes member-b's account-level S3 block public access; an admin re-asserts it.

Shows the deletion remediated (all four settings back on, read back as member-b), the admin's
all-on PutAccountPublicAccessBlock left alone (SKIPPED), and Snapback's own restoring call never
routed back to it (the loop guard in the pattern).
"""

from __future__ import annotations

import os
from typing import Any

from snapback.clients import strip_account_host_prefix
from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit

ORDER = 15
FULL_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
XMLNS = "http://awss3control.amazonaws.com/doc/2018-08-20/"


def account_call(account: str, event_name: str, config: dict[str, bool] | None, actor: str = "developer") -> dict[str, Any]:
    """An account-level call as CloudTrail records it: eventSource s3, the account in the host."""
    request: dict[str, Any] = {"host": [f"{account}.s3-control.us-east-1.amazonaws.com"]}
    if config is not None:
        request["PublicAccessBlockConfiguration"] = {"xmlns": XMLNS, **config}
    record = cloudtrail_record(account, "s3.amazonaws.com", event_name, request, actor=actor)
    record["additionalEventData"] = {"SignatureVersion": "SigV4", "AuthenticationMethod": "AuthHeader"}
    return record


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """An attacker's foothold in member-b removes the account-wide S3 safety net."""
    account = org.members["member-b"]
    member = org.session(account)
    s3control = member.client("s3control")
    if os.environ.get("AWS_ENDPOINT_URL"):
        s3control.meta.events.register("before-send.s3-control.*", strip_account_host_prefix)
    s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=FULL_BLOCK)
    timeline.add("setup", f"member-b ({account}): account-level block public access on (all four settings)")

    s3control.delete_public_access_block(AccountId=account)
    timeline.add("attack", "member-b: account-level block public access deleted: every bucket may now be made public")
    emit(member, account_call(account, "DeleteAccountPublicAccessBlock", None))
    timeline.add("event", "CloudTrail DeleteAccountPublicAccessBlock -> member default bus")

    emit(member, account_call(account, "PutAccountPublicAccessBlock", FULL_BLOCK, actor="platform-admin"))
    timeline.add("event", "CloudTrail PutAccountPublicAccessBlock (all four on, by platform-admin) -> member default bus")

    emit(member, account_call(account, "PutAccountPublicAccessBlock", FULL_BLOCK, actor="snapback-remediator"))
    timeline.add("event", "CloudTrail PutAccountPublicAccessBlock by snapback-remediator (a loop) -> member default bus")

    results = deliver(org, account, timeline, expect=2)

    block = s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    timeline.add("verify", f"member-b account-level public access block read back as member-b: {block}")
    outcomes = {str(r.target.facts.get("actor", "-")).rsplit("/", 1)[-1] if r.target else "-": r.outcome.value for r in results}
    return {
        "name": "account_block_public_access",
        "account": account,
        "outcomes": outcomes,
        "passed": block == FULL_BLOCK
        and len(results) == 2
        and sorted(r.outcome for r in results) == sorted([Outcome.REMEDIATED, Outcome.SKIPPED])
        and all(r.remediation == "s3_account_block_public_access" for r in results),
        "results": [r.as_dict() for r in results],
    }
