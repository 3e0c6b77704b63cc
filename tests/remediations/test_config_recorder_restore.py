"""config_recorder_restore under moto: a member account's Config recorder and channel, state asserted."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest

from snapback import registry
from snapback.events import SECURITYHUB_IMPORTED, normalise
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback.remediations.config_recorder_restore import coverage, narrowing, service_linked
from snapback_ops.demo import runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import case_event, envelope, fill, inject_error, load_cases, service_event

NAME = "config_recorder_restore"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]
GOOD_GROUP = {"allSupported": True, "includeGlobalResourceTypes": True}
START = {
    "event_source": "config.amazonaws.com",
    "event": "StartConfigurationRecorder",
    "request": {"configurationRecorderName": "default"},
}


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"


def make_recorder(org: Any, member: str = "member-a", region: str = "us-east-1") -> tuple[Any, str]:
    """A good recorder 'default': all supported types with global IAM types, a channel, recording."""
    account = org.members[member]
    session = org.session(account)
    config = session.client("config", region_name=region)
    bucket = f"config-{account}-{uuid.uuid4().hex[:6]}"
    session.client("s3").create_bucket(Bucket=bucket)
    config.put_configuration_recorder(
        ConfigurationRecorder={"name": "default", "roleARN": role(account), "recordingGroup": GOOD_GROUP}
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": bucket, "s3KeyPrefix": "config"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    return config, account


def event_of(case: dict[str, Any], account: str, region: str = "us-east-1") -> dict[str, Any]:
    event = case_event(fill(case, account=account), account).as_dict()
    event["detail"]["awsRegion"] = event["region"] = region
    return event


def see_baseline(runtime: Any, account: str, region: str = "us-east-1") -> None:
    (result,) = runtime.process(event_of(START, account, region), remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT, result.reason


def tamper(config: Any, case: dict[str, Any], account: str) -> None:
    setup = case["setup"]
    if setup in ("stopped", "no-recorder", "no-channel", "fresh"):
        config.stop_configuration_recorder(ConfigurationRecorderName="default")
    if setup in ("no-channel", "fresh"):
        config.delete_delivery_channel(DeliveryChannelName="default")
    if setup in ("no-recorder", "fresh"):
        config.delete_configuration_recorder(ConfigurationRecorderName="default")
    if setup == "fresh":
        config.put_configuration_recorder(
            ConfigurationRecorder={"name": "default", "roleARN": role(account), "recordingGroup": GOOD_GROUP}
        )
    if setup in ("narrowed", "excluded"):
        config.put_configuration_recorder(ConfigurationRecorder=fill(case["request"]["configurationRecorder"], account=account))


def observed(config: Any) -> dict[str, Any]:
    recorders = config.describe_configuration_recorders()["ConfigurationRecorders"]
    if not recorders:
        return {"recording": False, "kind": "none"}
    (status,) = config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    return {"recording": bool(status["recording"]), "kind": coverage(recorders[0]["recordingGroup"])[0]}


def channels(config: Any) -> list[str]:
    return [c["name"] for c in config.describe_delivery_channels()["DeliveryChannels"]]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    if case["baseline"]:
        see_baseline(runtime, account)
    tamper(config, case, account)
    event = event_of(case, account)
    assert any(matches(p, event) for p in PATTERNS) == case["routed"]

    (result,) = runtime.process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    assert observed(config) == case["after"]
    if case["expect"] == "REMEDIATED":
        assert channels(config) == ["default"]
        assert (
            result.before["recorder"] != result.after["recorder"]
            or not result.before["recording"]
            or not result.before["channel"]
        )
        assert result.source_identity == "snapback@config_recorder_restore" and result.finding_id and result.audit_id
    if case["expect"] == "FAILED":
        assert "no last known good" in result.reason and result.notification_id


def test_routing_of_the_real_config_samples():
    routed = set()
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - shapes the runtime rejects are covered by the corpus test
            continue
        if any(any(matches(p, json.loads(json.dumps(e.as_dict()))) for p in PATTERNS) for e in envelopes):
            routed.add(path.relative_to(SHARED_EVENTS).as_posix())
    # the failed deletion (errorCode) and the benign PutDeliveryChannel stay out
    assert routed == {"d_config/deletedeliverychannel-panther.json"}


def test_the_real_delete_delivery_channel_sample_is_restored_in_its_region(org):
    region = "us-west-2"
    config, account = make_recorder(org, region=region)
    runtime = runtime_for(org, NAME)
    see_baseline(runtime, account, region)
    config.stop_configuration_recorder(ConfigurationRecorderName="default")
    config.delete_delivery_channel(DeliveryChannelName="default")
    text = (SHARED_EVENTS / "d_config/deletedeliverychannel-panther.json").read_text().replace("123456789012", account)
    (event,) = normalise(text)
    (result,) = runtime.process(event.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and result.target.region == region
    assert observed(config) == {"recording": True, "kind": "all"} and channels(config) == ["default"]


def test_last_known_good_is_kept_beside_the_audit_items(org):
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    see_baseline(runtime, account)
    item = runtime.clients.client("dynamodb").get_item(
        TableName=runtime.table, Key={"pk": {"S": f"lkg#{NAME}#{account}#us-east-1"}}
    )["Item"]
    state = json.loads(item["state"]["S"])
    assert state["recorder"]["recordingGroup"]["allSupported"] is True and state["channel"]["name"] == "default"


def test_the_fallback_option_stands_in_before_any_baseline(org):
    config, account = make_recorder(org)
    tamper(config, {"setup": "no-recorder"}, account)
    runtime = runtime_for(org, NAME)
    fallback = {"recorder": {"name": "default", "roleARN": role("{account}"), "recordingGroup": GOOD_GROUP}}
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"fallback": fallback}})
    case = BY_NAME["recorder deleted: recreated from the last known good"]
    (result,) = runtime.process(event_of(case, account), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and "fallback option" in " ".join(result.actions)
    (recorder,) = config.describe_configuration_recorders()["ConfigurationRecorders"]
    assert recorder["roleARN"] == role(account) and observed(config) == {"recording": True, "kind": "all"}


def test_undo_of_a_recreated_recorder_restores_the_deleted_state_and_is_idempotent(org):
    from snapback.operations import undo

    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    see_baseline(runtime, account)
    case = BY_NAME["recorder deleted: recreated from the last known good"]
    tamper(config, case, account)
    (result,) = runtime.process(event_of(case, account), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED

    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert observed(config) == {"recording": False, "kind": "none"} and channels(config) == ["default"]  # as before
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"
    # the hook itself is idempotent too
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    session = runtime.clients.member(account, "us-east-1", NAME)
    assert remediation.undo(session, result.target, result.undo) == [
        "nothing to undo: the state already matches the recorded before state"
    ]


def test_undo_of_a_restored_channel_deletes_it_again(org):
    from snapback.operations import undo

    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    see_baseline(runtime, account)
    case = BY_NAME["delivery channel deleted"]
    tamper(config, case, account)
    (result,) = runtime.process(event_of(case, account), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert channels(config) == [] and observed(config) == {"recording": False, "kind": "all"}


def test_undo_of_a_narrowing_restores_it_and_it_becomes_the_baseline(org):
    from snapback.operations import undo

    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    see_baseline(runtime, account)
    case = BY_NAME["recording narrowed to one resource type"]
    tamper(config, case, account)
    (result,) = runtime.process(event_of(case, account), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and observed(config)["kind"] == "all"
    undo(runtime, result.audit_id)
    assert observed(config) == {"recording": True, "kind": "only"}
    # an operator chose the narrower settings: a later re-put of them is not reverted
    (again,) = runtime.process(event_of(case, account), remediations=[NAME])
    assert again.outcome is Outcome.ALREADY_COMPLIANT and observed(config)["kind"] == "only"


def test_config_1_finding_restarts_the_recorder(org):
    config, account = make_recorder(org, member="member-b")
    config.stop_configuration_recorder(ConfigurationRecorderName="default")
    finding = {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:us-east-1:{account}:security-control/Config.1/finding/{uuid.uuid4()}",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "GeneratorId": "security-control/Config.1",
        "AwsAccountId": account,
        "Region": "us-east-1",
        "Title": "AWS Config should be enabled and use the service-linked role for resource recording",
        "Compliance": {"Status": "FAILED", "SecurityControlId": "Config.1"},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [{"Type": "AwsAccount", "Id": f"AWS::::Account:{account}", "Region": "us-east-1"}],
    }
    event = service_event("aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [finding]}, org.security)
    assert any(matches(p, event.as_dict()) for p in PATTERNS)
    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert observed(config) == {"recording": True, "kind": "all"}


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing_but_say_what_they_would_do(org, mode, outcome):
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    see_baseline(runtime, account)
    case = BY_NAME["delivery channel deleted"]
    tamper(config, case, account)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    (result,) = runtime.process(event_of(case, account), remediations=[NAME])
    assert result.outcome is outcome
    assert [a.split(" ")[0] for a in result.actions] == ["config:PutDeliveryChannel", "config:StartConfigurationRecorder"]
    assert channels(config) == [] and observed(config)["recording"] is False


def test_access_denied_is_failed_and_a_redrive_can_finish(org):
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    case = BY_NAME["recorder stopped"]
    tamper(config, case, account)
    inject_error(
        runtime.clients.member(account, "us-east-1", NAME).client("config"),
        "StartConfigurationRecorder",
        "AccessDeniedException",
        400,
    )
    (result,) = runtime.process(event_of(case, account), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "AccessDenied" in result.reason and observed(config)["recording"] is False
    (again,) = runtime_for(org, NAME).process(event_of(case, account), remediations=[NAME])
    assert again.outcome is Outcome.REMEDIATED and observed(config)["recording"] is True


def test_throttling_raises_for_the_platform_to_retry(org):
    from snapback.errors import RetryableError

    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    tamper(config, {"setup": "stopped"}, account)
    inject_error(
        runtime.clients.member(account, "us-east-1", NAME).client("config"),
        "DescribeConfigurationRecorders",
        "ThrottlingException",
        400,
    )
    with pytest.raises(RetryableError):
        runtime.process(event_of(BY_NAME["recorder stopped"], account), remediations=[NAME])
    assert observed(config)["recording"] is False


def test_a_recorder_deleted_after_a_stop_is_recreated_not_crashed_on(org):
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    see_baseline(runtime, account)
    tamper(config, {"setup": "no-recorder"}, account)
    (result,) = runtime.process(event_of(BY_NAME["recorder stopped"], account), remediations=[NAME])  # the stop event, late
    assert result.outcome is Outcome.REMEDIATED and observed(config) == {"recording": True, "kind": "all"}


def test_duplicate_deliveries_act_once(org):
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    tamper(config, {"setup": "stopped"}, account)
    event = event_of(BY_NAME["recorder stopped"], account)
    outcomes = [r.outcome for _ in range(3) for r in runtime.process(event, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.SKIPPED]


def test_narrowing_and_service_linked_rules():
    assert narrowing({"allSupported": True, "includeGlobalResourceTypes": False}, GOOD_GROUP) == [
        "global IAM resource types no longer recorded (includeGlobalResourceTypes false)"
    ]
    assert narrowing(GOOD_GROUP, {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket"]}) == []
    only = {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket"]}
    assert narrowing(only, {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket", "AWS::IAM::Role"]}) == [
        "resource types no longer recorded: AWS::IAM::Role"
    ]
    excl = {
        "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"},
        "exclusionByResourceTypes": {"resourceTypes": ["A", "B"]},
    }
    fewer = {
        "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"},
        "exclusionByResourceTypes": {"resourceTypes": ["A"]},
    }
    assert narrowing(excl, fewer) == ["more resource types excluded: B"] and narrowing(fewer, excl) == []
    assert narrowing(None, GOOD_GROUP) == [] and narrowing(GOOD_GROUP, None) == []
    assert service_linked({"name": "AWSConfigurationRecorderForSecurityHub"}) and service_linked({"name": "aws-service-linked-x"})
    assert service_linked({"name": "x", "servicePrincipal": "securityhub.amazonaws.com"}) and not service_linked(
        {"name": "default"}
    )


def test_inspect_ignores_service_linked_recorders(org, monkeypatch):
    """moto cannot create service-linked recorders: describe answers with one beside ours."""
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("config")
    linked = {
        "name": "AWSConfigurationRecorderForSecurityHub",
        "servicePrincipal": "securityhub.amazonaws.com",
        "recordingGroup": {},
    }
    original = client.describe_configuration_recorders

    def with_linked(**kwargs: Any) -> dict[str, Any]:
        answer = original(**kwargs)
        return {**answer, "ConfigurationRecorders": [linked, *answer["ConfigurationRecorders"]]}

    monkeypatch.setattr(client, "describe_configuration_recorders", with_linked)
    (result,) = runtime.process(event_of(START, account), remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT
    assert result.before["recorder"]["name"] == "default" and result.before["service_linked_ignored"] == [linked["name"]]


def test_declared_permissions_are_exactly_the_calls_made(org):
    """Record every member-account call of inspect, apply, verify and undo; map to IAM actions."""
    from snapback.operations import undo

    calls: set[str] = set()
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("config")
    client.meta.events.register("before-call.config-service.*", lambda model, **_: calls.add(model.name))
    see_baseline(runtime, account)
    for name in ("recorder deleted: recreated from the last known good", "recording narrowed to one resource type"):
        case = BY_NAME[name]
        tamper(config, case, account)
        (result,) = runtime.process(event_of(case, account), remediations=[NAME])
        assert result.outcome is Outcome.REMEDIATED
        undo(runtime, result.audit_id)
        config.put_configuration_recorder(
            ConfigurationRecorder={"name": "default", "roleARN": role(account), "recordingGroup": GOOD_GROUP}
        )
        config.start_configuration_recorder(ConfigurationRecorderName="default")
        see_baseline(runtime, account)
    case = BY_NAME["delivery channel deleted"]
    tamper(config, case, account)
    (result,) = runtime.process(event_of(case, account), remediations=[NAME])
    undo(runtime, result.audit_id)
    # PutConfigurationRecorder passes the Config role: it needs iam:PassRole as well.
    iam_actions = {f"config:{c}" for c in calls} | ({"iam:PassRole"} if "PutConfigurationRecorder" in calls else set())
    assert iam_actions == set(registry.get(NAME).permissions)


def test_records_from_a_log_file_shape_are_handled(org):
    config, account = make_recorder(org)
    runtime = runtime_for(org, NAME)
    tamper(config, {"setup": "stopped"}, account)
    record = event_of(BY_NAME["recorder stopped"], account)["detail"]
    (result,) = runtime.process({"Records": [record]}, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and envelope(record).account == account
