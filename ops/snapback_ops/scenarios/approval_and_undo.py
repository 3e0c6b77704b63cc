"""Scenario: the human side of safety - an exemption, an approval through Security Hub, an undo.

1. A bucket covered by a central exemption (a static website, approved, with an expiry) is made
   public: EXEMPT, recorded and reported, nothing changed.
2. An account override puts member-b (payments) in notify mode: a public bucket there is
   NOTIFIED with the exact action it would take; on-call clicks the Security Hub custom action
   "Snapback: remediate" on Snapback's finding, which approves and enforces it.
3. The application owner needs the old state back for an hour: "Snapback: undo" on the same
   finding restores the bucket's previous block exactly; a second undo changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from typing import Any

from snapback.config import Exemption, ModeOverride
from snapback.operations import custom_action
from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit, has_no_block, runtime_for
from snapback_ops.scenarios.s3_public_bucket import public_policy

ORDER = 95
NAME = "s3_block_public_access"


def custom_action_event(org: LocalOrg, action: str, finding: dict[str, Any]) -> dict[str, Any]:
    """What Security Hub puts on the security account's default bus when someone clicks the action."""
    return {
        "version": "0",
        "id": f"custom-action-{action}",
        "detail-type": "Security Hub Findings - Custom Action",
        "source": "aws.securityhub",
        "account": org.security,
        "region": "us-east-1",
        "time": finding["UpdatedAt"],
        "resources": [f"arn:aws:securityhub:us-east-1:{org.security}:action/custom/Snapback{action.title()}"],
        "detail": {"actionName": f"Snapback {action}", "actionDescription": "", "findings": [finding]},
    }


def finding(org: LocalOrg, finding_id: str) -> dict[str, Any]:
    findings = org.session(org.security).client("securityhub").get_findings(MaxResults=100)["Findings"]
    return next(f for f in findings if f["Id"] == finding_id)


def make_public(org: LocalOrg, account: str, bucket: str) -> None:
    member = org.session(account)
    member.client("s3").create_bucket(Bucket=bucket)
    member.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_policy(bucket)))
    record = cloudtrail_record(
        account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": bucket, "bucketPolicy": public_policy(bucket)}
    )
    emit(member, record)


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """Exemption, notify-mode approval through the Security Hub custom action, and undo."""
    a, b = org.members["member-a"], org.members["member-b"]
    s3_a, s3_b = org.session(a).client("s3"), org.session(b).client("s3")
    original = org.config
    website = f"example-public-website-{a}"
    exemption = Exemption(
        reason="Static website bucket, approved by secops (TICKET-123)",
        resources=("arn:aws:s3:::example-public-website-*",),
        expires=date.today() + timedelta(days=180),
    )
    override = ModeOverride(mode="notify", reason="payments account: a person approves every change", accounts=(b,))
    org.config = dataclasses.replace(original, exemptions=(exemption,), overrides=(override,))
    try:
        # 1. exempted
        make_public(org, a, website)
        timeline.add("change", f"member-a: {website} made public on purpose (exempt until {exemption.expires})")
        (exempt,) = deliver(org, a, timeline, expect=1, only=NAME)

        # 2. notify mode, approved through the custom action
        payments = f"acme-payments-exports-{b}"
        make_public(org, b, payments)
        timeline.add("attack", f"member-b ({b}, notify mode by override): {payments} made public")
        (notified,) = deliver(org, b, timeline, expect=1, only=NAME)
        runtime = runtime_for(org, NAME)
        shown = finding(org, notified.finding_id or "")
        timeline.add("approve", f"on-call clicks 'Snapback: remediate' on finding {shown['Id']}")
        (approved,) = custom_action(runtime, custom_action_event(org, "remediate", shown))
        timeline.add("outcome", f"{approved['outcome']}: {approved['reason']} (audit {approved.get('audit_id')})")
        blocked = not has_no_block(s3_b, payments)

        # 3. undo, twice
        fixed = finding(org, notified.finding_id or "")
        timeline.add("undo", f"the owner asks for the old state: 'Snapback: undo' on finding {fixed['Id']}")
        (undone,) = custom_action(runtime, custom_action_event(org, "undo", fixed))
        timeline.add(
            "outcome", f"{undone['outcome']}: {', '.join(undone.get('actions', []))} (audit {undone.get('undo_audit_id')})"
        )
        (again,) = custom_action(runtime, custom_action_event(org, "undo", fixed))
        timeline.add("outcome", f"second undo: {again['outcome']} (nothing changed)")
        restored = has_no_block(s3_b, payments)
        website_untouched = has_no_block(s3_a, website)
        timeline.add(
            "verify",
            f"{website}: untouched ({website_untouched}); {payments}: blocked after approval ({blocked}), "
            f"back to no block after undo ({restored})",
        )
    finally:
        org.config = original
    passed = (
        exempt.outcome is Outcome.EXEMPT
        and notified.outcome is Outcome.NOTIFIED
        and approved["outcome"] == "REMEDIATED"
        and blocked
        and undone["outcome"] == "UNDONE"
        and again["outcome"] == "ALREADY_UNDONE"
        and restored
        and website_untouched
    )
    return {
        "name": "exemption, approval through Security Hub, undo",
        "passed": passed,
        "outcomes": [exempt.outcome.value, notified.outcome.value, approved["outcome"], undone["outcome"], again["outcome"]],
    }
