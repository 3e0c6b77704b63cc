"""Safety under moto: per-OU / per-account mode overrides, OU exemptions, the blast-radius breaker."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from snapback.config import Breaker, Exemption, ModeOverride
from snapback.outcomes import Outcome, Severity
from snapback.runtime import Runtime
from snapback_ops.demo import cloudtrail_record, runtime_for
from snapback_ops.scenarios.s3_public_bucket import public_policy

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

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
    from snapback_ops.cli import render_audit

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


# -- the breaker's counting: one atomic update per scope --------------------------------------------
ACCOUNT = "111111111111"


def breaker_item(runtime: Runtime, scope: str) -> dict:
    return (
        runtime.clients.client("dynamodb")
        .get_item(TableName=runtime.table, Key={"pk": {"S": f"breaker#{scope}"}})
        .get("Item", {})
    )


def counted(item: dict) -> int:
    return sum(int(v["N"]) for k, v in item.items() if k[:1] == "h" and k[1:].isdigit())


def test_two_admissions_racing_for_the_last_slot_do_not_both_pass(org):
    runtime = configured(org, breaker=Breaker(max_per_account=3, max_per_remediation=100))
    breaker = runtime.breaker
    assert [breaker.admit(NAME, ACCOUNT) for _ in range(2)] == [None, None]
    client = runtime.clients.client("dynamodb")
    rival: list[str | None] = []

    def race(model, **_):  # just before our first write, a rival admission runs to the end
        if model.name in ("UpdateItem", "PutItem") and not rival:
            rival.append("started")
            rival.append(breaker.admit(NAME, ACCOUNT))

    client.meta.events.register("before-call.dynamodb", race)
    try:
        ours = breaker.admit(NAME, ACCOUNT)
    finally:
        client.meta.events.unregister("before-call.dynamodb", race)
    assert rival[1] is None, "the rival got the last slot"
    assert ours is not None and "breaker tripped: 4 enforce actions" in ours
    assert [s["scope"] for s in breaker.open_scopes()] == [f"account#{ACCOUNT}"]
    # Three actions went ahead, and only they count in the remediation scope.
    assert counted(breaker_item(runtime, f"remediation#{NAME}")) == 3


def test_a_held_action_is_not_counted_in_the_other_scope(org):
    runtime = configured(org, breaker=Breaker(max_per_account=100, max_per_remediation=1))
    breaker = runtime.breaker
    assert breaker.admit(NAME, ACCOUNT) is None
    assert "tripped" in breaker.admit(NAME, "222222222222")
    assert "breaker open for remediation#" in breaker.admit(NAME, "333333333333")
    assert counted(breaker_item(runtime, f"account#{ACCOUNT}")) == 1
    assert counted(breaker_item(runtime, "account#222222222222")) == 0
    assert counted(breaker_item(runtime, "account#333333333333")) == 0
    opened = breaker_item(runtime, f"remediation#{NAME}")
    assert "expires_at" not in opened, "an open breaker must never expire by TTL"
    assert opened["kind"]["S"] == "breaker-open" and opened["count"]["N"] == "2"


def test_the_window_slides_and_old_buckets_are_dropped(org):
    runtime = configured(org, breaker=Breaker(max_per_account=2, max_per_remediation=100, window_minutes=60))
    breaker = runtime.breaker
    t0 = 1_800_000_000.0
    assert [breaker.admit(NAME, ACCOUNT, now=t0 + i) for i in range(2)] == [None, None]
    assert breaker.admit(NAME, ACCOUNT, now=t0 + 59 * 60) is not None  # still inside the hour: trips
    assert breaker.reset(f"account#{ACCOUNT}") is True
    assert [breaker.admit(NAME, ACCOUNT, now=t0 + 3600 + i) for i in range(2)] == [None, None]
    # An hour and two buckets later the first actions have left the window.
    later = t0 + 2 * 3600 + 2 * breaker.bucket_seconds()
    assert breaker.admit(NAME, ACCOUNT, now=later) is None
    assert breaker.admit(NAME, ACCOUNT, now=later + 1) is None
    assert breaker.admit(NAME, ACCOUNT, now=later + 2) is not None
    # The remediation scope saw every admitted action, and its stale buckets were removed as it went.
    item = breaker_item(runtime, f"remediation#{NAME}")
    buckets = sorted(int(k[1:]) for k in item if k[:1] == "h" and k[1:].isdigit())
    assert buckets == [int(later // breaker.bucket_seconds())]
    assert counted(item) == 2 and int(item["expires_at"]["N"]) > later


def test_an_admitted_action_costs_one_dynamodb_call_per_scope(org):
    runtime = configured(org, breaker=Breaker(max_per_account=5, max_per_remediation=100))
    calls: list[str] = []
    client = runtime.clients.client("dynamodb")
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    assert runtime.breaker.admit(NAME, ACCOUNT) is None
    assert calls == ["UpdateItem", "UpdateItem"]


def test_a_trip_is_logged_and_emits_one_breaker_trips_metric(org, capsys, monkeypatch):
    import io
    import json

    from aws_lambda_powertools import Logger

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "snapback")
    runtime = configured(org, breaker=Breaker(max_per_account=1, max_per_remediation=100))
    log = io.StringIO()
    runtime.emit_metrics, runtime.logger = True, Logger(service="snapback", stream=log)
    assert outcome(runtime, make_public(org, "member-a", "m-1")).outcome is Outcome.REMEDIATED
    capsys.readouterr()
    assert outcome(runtime, make_public(org, "member-a", "m-2")).mode == "notify (breaker)"
    assert outcome(runtime, make_public(org, "member-a", "m-3")).mode == "notify (breaker)"  # held: no second trip
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    trips = [m for m in emf if "BreakerTrips" in m]
    assert len(trips) == 1 and trips[0]["BreakerTrips"] == [1.0]
    assert trips[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Snapback"
    (logged,) = [json.loads(line) for line in log.getvalue().splitlines() if '"breaker tripped"' in line]
    assert logged["breaker"]["scope"] == f"account#{org.members['member-a']}" and logged["level"] == "WARNING"
