"""Safety under moto: per-OU / per-account mode overrides, OU exemptions, the blast-radius breaker."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from snapback.config import Breaker, Exemption, ModeOverride
from snapback.demo import cloudtrail_record, runtime_for
from snapback.outcomes import Outcome, Severity
from snapback.runtime import Runtime
from snapback.scenarios.s3_public_bucket import public_policy

NAME = "s3_block_public_access"


def make_public(org, member: str, bucket: str) -> dict:
    account = org.members[member]
    org.session(account).client("s3").create_bucket(Bucket=bucket)
    record = cloudtrail_record(
        account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": bucket, "bucketPolicy": public_policy(bucket)}
    )
    return {
        "id": record["eventID"],
        "source": "aws.s3",
        "detail-type": "AWS API Call via CloudTrail",
        "account": account,
        "region": "us-east-1",
        "time": record["eventTime"],
        "resources": [],
        "detail": record,
    }


def configured(org, **changes) -> Runtime:
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, **changes)
    return runtime


def outcome(runtime: Runtime, event: dict):
    (result,) = runtime.process(event, remediations=[NAME])
    return result


def test_an_ou_override_applies_to_its_accounts_and_an_account_override_beats_it(org):
    ou_notify = ModeOverride(mode="notify", reason="workloads OU is in its first week", ous=(org.ou,))
    a_enforce = ModeOverride(mode="enforce", reason="member-a owner approved", accounts=(org.members["member-a"],))
    runtime = configured(org, overrides=(ou_notify, a_enforce))
    a = outcome(runtime, make_public(org, "member-a", "bucket-a"))
    b = outcome(runtime, make_public(org, "member-b", "bucket-b"))
    assert (a.outcome, a.mode) == (Outcome.REMEDIATED, "enforce")
    assert (b.outcome, b.mode) == (Outcome.NOTIFIED, "notify")
    # An override limited to other remediations leaves this one at its configured mode.
    other = ModeOverride(mode="dry-run", reason="only for root alerts", ous=(org.ou,), remediations=("root_activity_alert",))
    runtime = configured(org, overrides=(other,))
    assert outcome(runtime, make_public(org, "member-b", "bucket-c")).outcome is Outcome.REMEDIATED


def test_an_ou_exemption_applies_until_it_expires(org):
    today = date.today()
    live = Exemption(reason="sandbox OU, approved by secops", ous=(org.ou,), expires=today + timedelta(days=1))
    result = outcome(configured(org, exemptions=(live,)), make_public(org, "member-a", "sandbox-1"))
    assert result.outcome is Outcome.EXEMPT and "sandbox OU" in result.reason
    expired = dataclasses.replace(live, expires=today - timedelta(days=1))
    assert (
        outcome(configured(org, exemptions=(expired,)), make_public(org, "member-a", "sandbox-2")).outcome is Outcome.REMEDIATED
    )


def has_block(org, member: str, bucket: str) -> bool:
    s3 = org.session(org.members[member]).client("s3")
    try:
        return all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    except s3.exceptions.ClientError:
        return False


def test_the_breaker_trips_past_its_limit_holds_the_scope_in_notify_and_needs_a_reset(org):
    runtime = configured(org, breaker=Breaker(max_per_account=2, max_per_remediation=100, window_minutes=60))
    first = [outcome(runtime, make_public(org, "member-a", f"burst-{i}")) for i in range(2)]
    assert [r.outcome for r in first] == [Outcome.REMEDIATED, Outcome.REMEDIATED]

    tripped = outcome(runtime, make_public(org, "member-a", "burst-2"))
    assert tripped.outcome is Outcome.NOTIFIED and tripped.severity is Severity.CRITICAL
    assert "breaker tripped" in tripped.reason and tripped.mode == "notify (breaker)"
    assert not has_block(org, "member-a", "burst-2")
    held = outcome(runtime, make_public(org, "member-a", "burst-3"))
    assert held.outcome is Outcome.NOTIFIED and "breaker open for account#" in held.reason
    # Another account is its own scope.
    assert outcome(runtime, make_public(org, "member-b", "elsewhere")).outcome is Outcome.REMEDIATED
    # The audit shows the trip; on-call got a critical notification.
    item = runtime.audit.get(tripped.audit_id)
    assert item["outcome"] == "NOTIFIED" and "breaker tripped" in item["reason"]

    scopes = [s["scope"] for s in runtime.breaker.open_scopes()]
    assert scopes == [f"account#{org.members['member-a']}"]
    assert runtime.breaker.reset(scopes[0]) is True
    assert runtime.breaker.open_scopes() == []
    assert outcome(runtime, make_public(org, "member-a", "after-reset")).outcome is Outcome.REMEDIATED
    assert has_block(org, "member-a", "after-reset")


def test_an_approved_action_is_a_human_decision_and_passes_an_open_breaker(org):
    from snapback.operations import approve

    runtime = configured(org, breaker=Breaker(max_per_account=1, max_per_remediation=100))
    assert outcome(runtime, make_public(org, "member-a", "one")).outcome is Outcome.REMEDIATED
    held = outcome(runtime, make_public(org, "member-a", "two"))
    assert held.outcome is Outcome.NOTIFIED
    approved = approve(runtime, held.audit_id, approver="alice")
    assert approved.outcome is Outcome.REMEDIATED, approved.reason
    assert has_block(org, "member-a", "two")


def test_a_disabled_breaker_counts_nothing(org):
    runtime = configured(org, breaker=Breaker(enabled=False, max_per_account=1))
    results = [outcome(runtime, make_public(org, "member-a", f"free-{i}")).outcome for i in range(3)]
    assert results == [Outcome.REMEDIATED] * 3


def test_audit_lists_and_filters_every_decision(org, capsys):
    from snapback.cli import render_audit

    runtime = configured(org)
    fixed = outcome(runtime, make_public(org, "member-a", "audited-1"))
    other = outcome(runtime, make_public(org, "member-b", "audited-2"))
    skipped = outcome(runtime, {**make_public(org, "member-a", "audited-3"), "source": "custom.forged"})
    assert skipped.outcome is Outcome.SKIPPED
    everything = runtime.audit.scan()
    assert {fixed.audit_id, other.audit_id, skipped.audit_id} <= {i["audit_id"] for i in everything}
    only_a = runtime.audit.scan(account=org.members["member-a"], outcome="REMEDIATED")
    assert [i["audit_id"] for i in only_a] == [fixed.audit_id]
    assert [i["audit_id"] for i in runtime.audit.scan(resource="audited-2")] == [other.audit_id]
    assert runtime.audit.scan(since="2999-01-01") == []
    table = render_audit(only_a)
    assert table.splitlines()[0].startswith("recorded_at") and fixed.audit_id in table
