"""guardduty_tampering under moto (detectors, filters) and botocore Stubber (trusted IP lists, which moto lacks)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from botocore.stub import Stubber

from snapback import pipeline, registry
from snapback.outcomes import Outcome, Severity
from snapback.patterns import matches
from snapback.remediations.guardduty_tampering import disabled_by_request
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases

NAME = "guardduty_tampering"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]
GOOD_FEATURES = [{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}, {"Name": "EKS_AUDIT_LOGS", "Status": "ENABLED"}]
CRITERIA = {"Criterion": {"severity": {"Gte": 0}}}


def make_detector(org: Any, member: str = "member-a") -> tuple[Any, str, str]:
    account = org.members[member]
    gd = org.session(account).client("guardduty")
    detector = gd.create_detector(Enable=True, Features=GOOD_FEATURES)["DetectorId"]
    return gd, account, detector


def event_of(case: dict[str, Any], account: str, detector: str) -> dict[str, Any]:
    record = cloudtrail_record(
        account,
        "guardduty.amazonaws.com",
        case["event"],
        fill(case["request"], detector=detector),
        actor=case.get("actor", "developer"),
        response=case.get("response"),
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


def sweep(runtime: Any, account: str, region: str = "us-east-1") -> list[Any]:
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    return list(remediation.sweep(runtime.clients.member(account, region, NAME), account, region, regions=[region]))


def tamper(gd: Any, setup: str, detector: str) -> None:
    if setup == "disable":
        gd.update_detector(DetectorId=detector, Enable=False)
    elif setup == "no-s3":
        gd.update_detector(DetectorId=detector, Features=[{"Name": "S3_DATA_EVENTS", "Status": "DISABLED"}, GOOD_FEATURES[1]])
    elif setup == "no-eks":
        gd.update_detector(DetectorId=detector, Features=[GOOD_FEATURES[0], {"Name": "EKS_AUDIT_LOGS", "Status": "DISABLED"}])
    elif setup == "delete":
        gd.delete_detector(DetectorId=detector)
    elif setup in ("archive-filter", "switch-filter", "noop-filter"):
        action = "ARCHIVE" if setup == "archive-filter" else "NOOP"
        gd.create_filter(DetectorId=detector, Name="quiet", Action=action, FindingCriteria=CRITERIA)
        if setup == "switch-filter":
            gd.update_filter(DetectorId=detector, FilterName="quiet", Action="ARCHIVE")


def observed(gd: Any) -> dict[str, Any]:
    detectors = gd.list_detectors()["DetectorIds"]
    if not detectors:
        return {"detector": "none", "s3": "-", "filter": "absent"}
    answer = gd.get_detector(DetectorId=detectors[0])
    features = {f["Name"]: f["Status"] for f in answer.get("Features") or []}
    try:
        quiet = gd.get_filter(DetectorId=detectors[0], FilterName="quiet")["Action"]
    except gd.exceptions.ClientError:
        quiet = "absent"
    return {"detector": answer["Status"].lower(), "s3": features.get("S3_DATA_EVENTS", "-"), "filter": quiet}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    gd, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    if case["baseline"]:
        assert sweep(runtime, account) == []  # healthy: remembered as the last known good
    tamper(gd, case["setup"], detector)
    event = event_of(case, account, detector)
    assert any(matches(p, event) for p in PATTERNS) == case["routed"]

    (result,) = runtime.process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    assert observed(gd) == case["after"]
    if case["expect"] in ("REMEDIATED", "NOTIFIED"):
        assert result.notification_id and result.finding_id and result.audit_id
    if case["event"].startswith("Disassociate"):
        assert result.severity is Severity.CRITICAL and "aws guardduty create-members" in result.reason
        assert f"AccountId={account}" in result.reason
    if case["event"] == "DeleteDetector" and case["expect"] == "REMEDIATED":
        assert result.severity is Severity.CRITICAL and "findings history is gone" in result.reason


def test_undo_restores_each_before_state_and_is_idempotent(org):
    from snapback.operations import undo

    gd, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    sweep(runtime, account)
    for name, before in (
        ("detector disabled", {"detector": "disabled", "s3": "ENABLED", "filter": "absent"}),
        ("S3 protection disabled (features)", {"detector": "enabled", "s3": "DISABLED", "filter": "absent"}),
        ("archive filter created (suppression rule)", {"detector": "enabled", "s3": "ENABLED", "filter": "ARCHIVE"}),
    ):
        case = BY_NAME[name]
        tamper(gd, case["setup"], detector)
        (result,) = runtime.process(event_of(case, account, detector), remediations=[NAME])
        assert result.outcome is Outcome.REMEDIATED, result.reason
        assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
        assert observed(gd) == before
        assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"
        # back to healthy for the next round (an operator's fix, not Snapback's)
        gd.update_detector(DetectorId=detector, Enable=True, Features=GOOD_FEATURES)
        if before["filter"] == "ARCHIVE":
            (kept,) = [gd.get_filter(DetectorId=detector, FilterName="quiet")]
            assert kept["FindingCriteria"] == CRITERIA and kept["Action"] == "ARCHIVE"  # the kept definition came back
            gd.delete_filter(DetectorId=detector, FilterName="quiet")


def test_undo_of_a_switched_filter_sets_archive_back_and_of_a_recreated_detector_deletes_it(org):
    from snapback.operations import undo

    gd, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    sweep(runtime, account)
    case = BY_NAME["existing filter switched to ARCHIVE"]
    tamper(gd, case["setup"], detector)
    (result,) = runtime.process(event_of(case, account, detector), remediations=[NAME])
    assert observed(gd)["filter"] == "NOOP"
    undo(runtime, result.audit_id)
    assert observed(gd)["filter"] == "ARCHIVE"
    gd.delete_filter(DetectorId=detector, FilterName="quiet")

    case = BY_NAME["detector deleted: recreated with the last known good features"]
    tamper(gd, case["setup"], detector)
    (result,) = runtime.process(event_of(case, account, detector), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and observed(gd)["detector"] == "enabled"
    assert gd.list_detectors()["DetectorIds"] != [detector]  # a new detector, not the deleted one
    undo(runtime, result.audit_id)
    assert observed(gd)["detector"] == "none"


def test_recreate_detector_off_is_failed_with_the_command(org):
    gd, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"recreate_detector": False}})
    tamper(gd, "delete", detector)
    (result,) = runtime.process(
        event_of(BY_NAME["detector deleted, no baseline: recreated with GuardDuty defaults"], account, detector),
        remediations=[NAME],
    )
    assert result.outcome is Outcome.FAILED and "aws guardduty create-detector --enable" in result.reason
    assert observed(gd)["detector"] == "none"


def test_sweep_finds_disabled_deleted_and_narrowed_detectors_against_the_last_known_good(org):
    gd, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    assert sweep(runtime, account) == []
    tamper(gd, "no-s3", detector)
    (found,) = sweep(runtime, account)
    assert "S3_DATA_EVENTS" in found.facts["summary"]
    (result,) = [pipeline.reconcile(runtime, registry.get(NAME)(), found, period="2026-12-01", run_id="sweep-1")]
    assert result.outcome is Outcome.REMEDIATED and observed(gd)["s3"] == "ENABLED"
    tamper(gd, "delete", detector)
    (found,) = sweep(runtime, account)
    assert "no detector" in found.facts["summary"]
    # a Region where GuardDuty never ran (no last known good) is not a violation
    assert sweep(runtime, org.members["member-b"]) == []


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing(org, mode, outcome):
    gd, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    tamper(gd, "disable", detector)
    (result,) = runtime.process(event_of(BY_NAME["detector disabled"], account, detector), remediations=[NAME])
    assert result.outcome is outcome and result.actions[0].startswith("guardduty:UpdateDetector")
    assert observed(gd)["detector"] == "disabled"


# -- trusted IP lists: moto lacks GetIPSet/DeleteIPSet/CreateIPSet, so the member client is stubbed ---------

IPSET = "0cb0141ab9fbde177613ab9436212e90"
KEPT = {
    "Name": "office",
    "Format": "TXT",
    "Location": "https://s3.amazonaws.com/acme-lists/office.txt",
    "Status": "ACTIVE",
    "Tags": {},
}


def ipset_event(account: str, detector: str, name: str = "CreateIPSet", activate: bool = True) -> dict[str, Any]:
    request = {"detectorId": detector, "name": "office", "format": "TXT", "location": KEPT["Location"], "activate": activate}
    if name == "UpdateIPSet":
        request = {"detectorId": detector, "ipSetId": IPSET, "activate": activate}
    record = cloudtrail_record(
        account, "guardduty.amazonaws.com", name, request, response={"ipSetId": IPSET} if name == "CreateIPSet" else None
    )
    return envelope(record).as_dict()


def stub_member(runtime: Any, account: str) -> Stubber:
    return Stubber(runtime.clients.member(account, "us-east-1", NAME).client("guardduty"))


def not_found(stub: Stubber, method: str) -> None:
    stub.add_client_error(
        method,
        service_error_code="BadRequestException",
        service_message="The request is rejected because the input ipSetId is not owned by the current account.",
        http_status_code=400,
    )


@pytest.mark.parametrize("event_name", ["CreateIPSet", "UpdateIPSet"])
def test_an_active_trusted_ip_list_is_deleted_with_its_definition_kept_and_undo_recreates_it(org, event_name):
    from snapback.operations import undo

    _, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    event = ipset_event(account, detector, event_name)
    assert any(matches(p, event) for p in PATTERNS)
    stub = stub_member(runtime, account)
    stub.add_response("get_ip_set", KEPT, {"DetectorId": detector, "IpSetId": IPSET})
    stub.add_response("delete_ip_set", {}, {"DetectorId": detector, "IpSetId": IPSET})
    not_found(stub, "get_ip_set")  # verify: gone
    with stub:
        (result,) = runtime.process(event, remediations=[NAME])
    stub.assert_no_pending_responses()
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert result.undo == {"kind": "ipset", "ipset": KEPT}

    stub = stub_member(runtime, account)
    not_found(stub, "get_ip_set")  # undo: the state now, compared with what Snapback left (gone: no drift)
    not_found(stub, "get_ip_set")  # the hook: still gone, so it is made again
    stub.add_response(
        "create_ip_set",
        {"IpSetId": "1" * 32},
        {"DetectorId": detector, "Name": "office", "Format": "TXT", "Location": KEPT["Location"], "Activate": True},
    )
    not_found(stub, "get_ip_set")  # the after state, recorded: the old id stays gone (the list has a new id)
    with stub:
        assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    stub.assert_no_pending_responses()


def test_an_ip_set_already_inactive_or_gone_is_still_paged(org):
    _, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    stub = stub_member(runtime, account)
    stub.add_response("get_ip_set", {**KEPT, "Status": "INACTIVE"}, {"DetectorId": detector, "IpSetId": IPSET})
    with stub:
        (result,) = runtime.process(ipset_event(account, detector), remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED and "trusted IP list office" in result.reason


def test_an_ip_set_deactivated_is_not_applicable(org):
    _, account, detector = make_detector(org)
    (result,) = runtime_for(org, NAME).process(ipset_event(account, detector, "UpdateIPSet", activate=False), remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and "inactive" in result.reason


def test_access_denied_on_delete_ip_set_is_failed(org):
    _, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    stub = stub_member(runtime, account)
    stub.add_response("get_ip_set", KEPT, {"DetectorId": detector, "IpSetId": IPSET})
    stub.add_client_error("delete_ip_set", service_error_code="AccessDeniedException", http_status_code=403)
    with stub:
        (result,) = runtime.process(ipset_event(account, detector), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "AccessDenied" in result.reason


def test_request_parsing_of_disabled_plans():
    assert disabled_by_request(
        {"features": [{"name": "S3_DATA_EVENTS", "status": "DISABLED"}, {"name": "X", "status": "ENABLED"}]}
    ) == ["S3_DATA_EVENTS"]
    legacy = {
        "dataSources": {"s3Logs": {"enable": False}, "malwareProtection": {"scanEc2InstanceWithFindings": {"ebsVolumes": False}}}
    }
    assert disabled_by_request(legacy) == ["EBS_MALWARE_PROTECTION", "S3_DATA_EVENTS"]
    assert disabled_by_request({"dataSources": {"s3Logs": {"enable": True}}, "enable": True}) == []


def test_declared_permissions_cover_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    gd, account, detector = make_detector(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("guardduty")
    client.meta.events.register("before-call.guardduty.*", lambda model, **_: calls.add(model.name))
    sweep(runtime, account)
    for name in ("detector disabled", "archive filter created (suppression rule)", "existing filter switched to ARCHIVE"):
        case = BY_NAME[name]
        tamper(gd, case["setup"], detector)
        (result,) = runtime.process(event_of(case, account, detector), remediations=[NAME])
        undo(runtime, result.audit_id)
        try:
            gd.delete_filter(DetectorId=detector, FilterName="quiet")
        except gd.exceptions.ClientError:
            pass
        gd.update_detector(DetectorId=detector, Enable=True, Features=GOOD_FEATURES)
    tamper(gd, "delete", detector)
    (result,) = runtime.process(
        event_of(BY_NAME["detector deleted: recreated with the last known good features"], account, detector), remediations=[NAME]
    )
    undo(runtime, result.audit_id)
    gd.create_detector(Enable=True)
    (result,) = runtime.process(
        event_of(
            BY_NAME["disassociated from the administrator: critical page with the command"],
            account,
            gd.list_detectors()["DetectorIds"][0],
        ),
        remediations=[NAME],
    )
    declared = {p.split(":")[1] for p in registry.get(NAME).permissions}
    # IPSet calls are exercised by the Stubber tests; everything moto served is declared, and nothing else is.
    assert calls == declared - {"GetIPSet", "DeleteIPSet", "CreateIPSet"}
