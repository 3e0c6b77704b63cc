"""waf_block_attacker_ip under moto: GuardDuty findings from a member account, WAFv2 IP sets of the security
account (moto implements CreateIPSet/ListIPSets/GetIPSet/UpdateIPSet with LockTokens), expiry records in
Snapback's table. State is asserted in the security account's IP sets and in the table."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from typing import Any

import pytest

from snapback import registry
from snapback.events import GUARDDUTY_FINDING
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback.remediations.waf_block_attacker_ip import IP_SET_NAMES, host_cidr
from snapback.sweep import Sweeper
from snapback_ops.demo import TABLE, runtime_for
from tests.remediations.helpers import fill, inject_error, load_cases, service_event

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

NAME = "waf_block_attacker_ip"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
SSH = BY_NAME["SSH brute force against an instance (INBOUND): attacker blocked"]


def ip_sets(org: Any, region: str = "us-east-1", scope: str = "REGIONAL") -> Any:
    """Create Snapback's two IP sets in the security account, as stacks/waf.py does; return the client."""
    wafv2 = org.session(org.security).client("wafv2", region_name=region)
    have = {s["Name"] for s in wafv2.list_ip_sets(Scope=scope)["IPSets"]}
    for version, name in IP_SET_NAMES.items():
        if name not in have:
            wafv2.create_ip_set(Name=name, Scope=scope, IPAddressVersion=f"IPV{version}", Addresses=[], Description="Snapback")
    return wafv2


def blocked(wafv2: Any, scope: str = "REGIONAL") -> set[str]:
    out: set[str] = set()
    for summary in wafv2.list_ip_sets(Scope=scope)["IPSets"]:
        out |= set(wafv2.get_ip_set(Name=summary["Name"], Scope=scope, Id=summary["Id"])["IPSet"]["Addresses"])
    return out


def records(org: Any) -> dict[str, dict[str, Any]]:
    table = org.session(org.security).client("dynamodb")
    items = table.scan(TableName=TABLE, FilterExpression="kind = :k", ExpressionAttributeValues={":k": {"S": "waf_block"}})[
        "Items"
    ]
    return {i["pk"]["S"]: i for i in items}


def named_addresses(case: dict[str, Any]) -> set[str]:
    """Every address a fixture case's finding names, as an IP set entry (/32 or /128)."""
    found = re.findall(r'"ipAddressV[46]": "([^"]+)"', json.dumps(case["finding"]))
    return {host_cidr(a) for a in found} | set(case["blocked"])


def fresh_security_state(org: Any, regions: tuple[str, ...] = ("us-east-1",)) -> None:
    """No Snapback IP sets (the cases create fresh ones) and no block records in the security account.
    The reliability and adversarial harnesses run many cases against one security account (every view
    of their organization shares it) and call this before each (tests/reliability/support.run_case)."""
    session = org.session(org.security)
    for region in regions:
        wafv2 = session.client("wafv2", region_name=region)
        for scope in ("REGIONAL", "CLOUDFRONT"):
            for summary in wafv2.list_ip_sets(Scope=scope)["IPSets"]:
                if summary["Name"] in IP_SET_NAMES.values():
                    wafv2.delete_ip_set(Name=summary["Name"], Scope=scope, Id=summary["Id"], LockToken=summary["LockToken"])
    table = session.client("dynamodb")
    # the block records, and the remediation's breaker scope (every case acts in fresh member accounts,
    # but all count in this one: a suite of many runs would open it, as it should in production)
    for key in [*records(org), f"breaker#remediation#{NAME}"]:
        table.delete_item(TableName=TABLE, Key={"pk": {"S": key}})


def security_state(org: Any) -> dict[str, Any]:
    """What this remediation writes in the security account: the addresses of its IP sets (both scopes)
    and its block records (address, expiry, owner), for the harnesses to compare."""
    wafv2 = org.session(org.security).client("wafv2", region_name="us-east-1")
    return {
        "blocked": {scope: sorted(blocked(wafv2, scope)) for scope in ("REGIONAL", "CLOUDFRONT")},
        "records": {k: (i["block_expires"]["N"], i["account"]["S"]) for k, i in sorted(records(org).items())},
    }


def event_for(org: Any, case: dict[str, Any], account: str | None = None) -> dict[str, Any]:
    account = account or org.members["member-a"]
    detail = fill(case["finding"], account=account, finding_id=uuid.uuid4().hex, member_b=org.members["member-b"])
    return service_event("aws.guardduty", GUARDDUTY_FINDING, detail, account).as_dict()


def routed(event: dict[str, Any]) -> bool:
    return any(matches(t.pattern, event) for t in registry.get(NAME).triggers)


def runtime(org: Any, **options: Any) -> Any:
    rt = runtime_for(org, NAME)
    if options:
        rt.config = dataclasses.replace(rt.config, options={NAME: options})
    return rt


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    wafv2 = ip_sets(org)
    event = event_for(org, case)
    assert routed(event) == case["routed"]

    (result,) = runtime(org, **case.get("options", {})).process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    # Every address the finding names (the only ones the remediation can block): the harnesses run
    # other cases beside this one, interleaved, against the same security account.
    named = named_addresses(case)
    assert blocked(wafv2) & named == set(case["blocked"])
    held = {k: i for k, i in records(org).items() if k.rsplit("#", 1)[-1] in named}
    assert {k.rsplit("#", 1)[-1] for k in held} == set(case["blocked"])
    if case["expect"] == "REMEDIATED":
        for item in held.values():
            expires = int(item["block_expires"]["N"])
            assert 71 * 3600 < expires - time.time() <= 72 * 3600  # default block_hours
            assert item["account"]["S"] == org.members["member-a"]
            assert int(item["expires_at"]["N"]) > expires  # the table's TTL never drops a live record
        assert result.source_identity == f"snapback@{NAME}" and result.finding_id and result.notification_id


def test_undo_removes_only_what_this_finding_added(org):
    from snapback.operations import undo

    wafv2 = ip_sets(org)
    rt = runtime(org)
    (first,) = rt.process(event_for(org, BY_NAME["port probe of an unprotected port by two scanners"]), remediations=[NAME])
    (second,) = rt.process(event_for(org, SSH), remediations=[NAME])
    assert first.outcome is second.outcome is Outcome.REMEDIATED
    assert blocked(wafv2) == {"45.155.205.9/32", "80.82.77.44/32", "45.155.205.77/32"}
    assert undo(rt, second.audit_id)["outcome"] == "UNDONE"
    assert blocked(wafv2) == {"45.155.205.9/32", "80.82.77.44/32"}
    assert {k.rsplit("#", 1)[-1] for k in records(org)} == {"45.155.205.9/32", "80.82.77.44/32"}


def test_a_second_finding_for_a_blocked_address_extends_and_its_undo_keeps_the_block(org):
    from snapback.operations import undo

    wafv2 = ip_sets(org)
    rt = runtime(org)
    (first,) = rt.process(event_for(org, SSH), remediations=[NAME])
    key = next(iter(records(org)))
    before = int(records(org)[key]["block_expires"]["N"])
    rt.config = dataclasses.replace(rt.config, options={NAME: {"block_hours": 200}})
    (second,) = rt.process(event_for(org, SSH), remediations=[NAME])
    assert second.outcome is Outcome.REMEDIATED and int(records(org)[key]["block_expires"]["N"]) > before + 100 * 3600
    assert undo(rt, second.audit_id)["outcome"] == "UNDONE"
    assert blocked(wafv2) == {"45.155.205.77/32"}  # the first finding's block stays
    assert int(records(org)[key]["block_expires"]["N"]) == before
    assert first.outcome is Outcome.REMEDIATED


def test_sweep_removes_expired_blocks_of_each_account_only(org):
    wafv2 = ip_sets(org)
    rt = runtime(org, block_hours=-1)  # already expired when recorded
    (gone,) = rt.process(event_for(org, SSH), remediations=[NAME])
    rt.config = dataclasses.replace(rt.config, options={})
    (live,) = rt.process(event_for(org, BY_NAME["Tor exit node calling AWS APIs"]), remediations=[NAME])
    wafv2.update_ip_set(  # a block people added by hand: no record, never touched
        Name=IP_SET_NAMES[4],
        Scope="REGIONAL",
        Id=next(s["Id"] for s in wafv2.list_ip_sets(Scope="REGIONAL")["IPSets"] if s["Name"] == IP_SET_NAMES[4]),
        Addresses=sorted(blocked(wafv2) - {"2a0b:f4c2:2::1/128"} | {"80.82.79.1/32"}),
        LockToken=wafv2.get_ip_set(
            Name=IP_SET_NAMES[4],
            Scope="REGIONAL",
            Id=next(s["Id"] for s in wafv2.list_ip_sets(Scope="REGIONAL")["IPSets"] if s["Name"] == IP_SET_NAMES[4]),
        )["LockToken"],
    )
    assert gone.outcome is live.outcome is Outcome.REMEDIATED
    summary = Sweeper(rt, accounts=list(org.members.values()), regions=["us-east-1"], remediations=[NAME]).run()
    assert summary.errors == [] and summary.violations == 1, summary.found
    assert summary.found[0]["outcome"] == "REMEDIATED" and summary.found[0]["account"] == org.members["member-a"]
    assert blocked(wafv2) == {"185.220.101.4/32", "80.82.79.1/32"}
    assert {k.rsplit("#", 1)[-1] for k in records(org)} == {"185.220.101.4/32"}


def test_an_elastic_ip_of_the_finding_account_is_never_blocked(org):
    wafv2 = ip_sets(org)
    ec2 = org.session(org.members["member-a"]).client("ec2")
    own = ec2.allocate_address(Domain="vpc", Address="80.82.77.50")["PublicIp"]  # a public address (moto's default is 127.x)
    assert own == "80.82.77.50"
    case = json.loads(json.dumps(SSH).replace("45.155.205.77", own))
    (result,) = runtime(org).process(event_for(org, case), remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT, result.reason
    assert blocked(wafv2) == set()


def test_cloudfront_option_blocks_in_the_global_sets_too(org):
    regional, cloudfront = ip_sets(org), ip_sets(org, scope="CLOUDFRONT")
    (result,) = runtime(org, cloudfront=True).process(event_for(org, SSH), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    assert blocked(regional) == blocked(cloudfront, "CLOUDFRONT") == {"45.155.205.77/32"}


def test_missing_ip_set_fails_loudly_with_the_fix(org):
    (result,) = runtime(org).process(event_for(org, SSH), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "deploy stacks/waf.py" in result.reason


def test_a_concurrent_update_is_retried_not_overwritten(org):
    """Someone else updates the IP set between our read and our write: the LockToken fails our write;
    we read again and keep their address."""
    wafv2 = ip_sets(org)
    rt = runtime(org)
    security = rt.clients.client("wafv2", "us-east-1")
    state = {"done": False}

    def meanwhile(params: Any, **_: Any) -> None:
        if state["done"] or params.get("Name") != IP_SET_NAMES[4]:
            return
        state["done"] = True
        set_id = params["Id"]
        token = wafv2.get_ip_set(Name=IP_SET_NAMES[4], Scope="REGIONAL", Id=set_id)["LockToken"]
        wafv2.update_ip_set(Name=IP_SET_NAMES[4], Scope="REGIONAL", Id=set_id, Addresses=["80.82.79.2/32"], LockToken=token)

    security.meta.events.register("before-parameter-build.wafv2.UpdateIPSet", meanwhile)
    (result,) = rt.process(event_for(org, SSH), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and state["done"]
    assert blocked(wafv2) == {"80.82.79.2/32", "45.155.205.77/32"}


def test_access_denied_on_the_ip_set_is_a_failed_outcome(org):
    wafv2 = ip_sets(org)
    rt = runtime(org)
    inject_error(rt.clients.client("wafv2", "us-east-1"), "UpdateIPSet", "WAFAccessDeniedException", 400)
    (result,) = rt.process(event_for(org, SSH), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "WAFAccessDeniedException" in result.reason
    assert blocked(wafv2) == set()


def test_notify_mode_changes_nothing(org):
    wafv2 = ip_sets(org)
    rt = runtime_for(org, NAME)
    rt.config = dataclasses.replace(rt.config, modes={NAME: "notify"})
    (result,) = rt.process(event_for(org, SSH), remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED and "45.155.205.77/32" in result.actions[0]
    assert blocked(wafv2) == set() and records(org) == {}


def test_declared_member_permissions_are_the_member_calls_and_security_ones_the_rest(org):
    from snapback.operations import undo

    ip_sets(org)
    member: set[str] = set()
    own: set[str] = set()
    rt = runtime(org)
    rt.clients.member(org.members["member-a"], "us-east-1", NAME).client("ec2").meta.events.register(
        "before-call.ec2.*", lambda model, **_: member.add(f"ec2:{model.name}")
    )
    rt.clients.client("wafv2", "us-east-1").meta.events.register(
        "before-call.wafv2.*", lambda model, **_: own.add(f"wafv2:{model.name}")
    )
    (result,) = rt.process(event_for(org, SSH), remediations=[NAME])
    undo(rt, result.audit_id)
    cls = registry.get(NAME)
    assert member == set(cls.permissions)
    assert own == set(cls.security_permissions)


def test_two_findings_for_one_address_from_two_accounts_at_once_write_the_ip_set_once(org, monkeypatch):
    """The lock is on what is written (the address in the security account's IP set), not on the
    finding's member account: the second finding waits, then finds the address blocked."""
    import threading

    from tests.adversarial.test_concurrency import serialize_moto_dynamodb

    serialize_moto_dynamodb(monkeypatch)
    wafv2 = ip_sets(org)
    updates: list[str] = []
    runtimes = [runtime(org), runtime(org)]  # two Lambda invocations
    for rt in runtimes:
        rt.clients.client("wafv2", "us-east-1").meta.events.register(
            "before-parameter-build.wafv2.UpdateIPSet", lambda params, **_: updates.append(params["Name"])
        )
    events = [event_for(org, SSH, org.members["member-a"]), event_for(org, SSH, org.members["member-b"])]
    barrier, answers = threading.Barrier(2), [None, None]

    def deliver(i: int) -> None:
        barrier.wait()
        answers[i] = runtimes[i].process(events[i], remediations=[NAME])

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    outcomes = sorted(r.outcome.value for answer in answers for r in answer or [])
    assert outcomes == ["ALREADY_COMPLIANT", "REMEDIATED"], [(r.outcome, r.reason) for a in answers for r in a or []]
    assert updates == [IP_SET_NAMES[4]]
    assert blocked(wafv2) == {"45.155.205.77/32"}
    (record,) = records(org).values()
    winner = next(r for a in answers for r in a or [] if r.outcome is Outcome.REMEDIATED)
    assert record["account"]["S"] == winner.target.account


def test_a_retry_after_a_kill_between_the_ip_set_and_the_record_knows_it_added_the_address(org):
    """Killed after UpdateIPSet, before the expiry record: the retry finds the address blocked, but the
    before state the killed run remembered says it was not, so undo removes it."""
    from snapback.operations import undo
    from snapback.remediations import waf_block_attacker_ip as module

    wafv2 = ip_sets(org)
    rt = runtime(org)

    class Killed(Exception):
        pass

    plain_put = module.BlockRecords.put
    state = {"kill": True}

    def put(self: Any, *args: Any, **kwargs: Any) -> bool:
        if state.pop("kill", False):
            raise Killed("the process died after UpdateIPSet")
        return plain_put(self, *args, **kwargs)

    event = event_for(org, SSH)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module.BlockRecords, "put", put)
        with pytest.raises(Killed):
            rt.process(event, remediations=[NAME])
        assert blocked(wafv2) == {"45.155.205.77/32"} and records(org) == {}
        (result,) = rt.process(event, remediations=[NAME])  # the retry (the lease was ended by abandon)
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert result.before["entries"][0]["present"] is False
    assert [e["cidr"] for e in result.undo["added"]] == ["45.155.205.77/32"] and result.undo["extended"] == []
    assert undo(rt, result.audit_id)["outcome"] == "UNDONE"
    assert blocked(wafv2) == set() and records(org) == {}
