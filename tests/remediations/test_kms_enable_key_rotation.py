"""kms_enable_key_rotation under moto: keys in a member account, rotation status asserted."""

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
from snapback.remediations.kms_enable_key_rotation import why_not_candidate
from snapback_ops.demo import runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import case_event, inject_error, load_cases, service_event

NAME = "kms_enable_key_rotation"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
PATTERNS = [t.pattern for t in registry.get(NAME).triggers]
REGION = "us-east-1"


def make_key(org: Any, setup: str = "off", member: str = "member-a") -> tuple[Any, str, str, str]:
    """A key in the member account as `setup` describes it; (client, account, key id, ARN)."""
    account = org.members[member]
    kms = org.session(account).client("kms")
    if setup == "asymmetric":
        meta = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    else:
        meta = kms.create_key(Description="app data key")["KeyMetadata"]
        kms.enable_key_rotation(KeyId=meta["KeyId"])
        if setup != "on":
            kms.disable_key_rotation(KeyId=meta["KeyId"])
    if setup == "disabled":
        kms.disable_key(KeyId=meta["KeyId"])
    if setup == "pending-deletion":
        kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    return kms, account, meta["KeyId"], meta["Arn"]


def rotating(kms: Any, key: str) -> bool:
    return bool(kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"])


def event_for(case: dict[str, Any], account: str, key: str, arn: str) -> dict[str, Any]:
    return case_event(case, account, key=key, arn=arn).as_dict()


def kms4_finding(account: str, arn: str) -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:{REGION}:{account}:security-control/KMS.4/finding/{uuid.uuid4()}",
        "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/securityhub",
        "GeneratorId": "security-control/KMS.4",
        "AwsAccountId": account,
        "Region": REGION,
        "Title": "AWS KMS key rotation should be enabled",
        "Compliance": {"Status": "FAILED", "SecurityControlId": "KMS.4"},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Resources": [{"Type": "AwsKmsKey", "Id": arn, "Region": REGION}],
    }


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    kms, account, key, arn = make_key(org, case["setup"])
    event = event_for(case, account, key, arn)
    assert any(matches(p, event) for p in PATTERNS) == case["routed"]

    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    assert rotating(kms, key) is case["after"]
    if case["expect"] == "REMEDIATED":
        assert result.before["rotation_enabled"] is False and result.after["rotation_enabled"] is True
        assert result.undo == {"rotation_enabled": False} and result.target.resource_arn == arn
        assert result.source_identity == "snapback@kms_enable_key_rotation" and result.finding_id and result.notification_id
    if case["expect"] == "FAILED":
        assert "is Disabled" in result.reason and result.notification_id
    if case["setup"] in ("pending-deletion", "asymmetric"):
        assert result.before["not_a_candidate"]


def test_no_shared_sample_is_a_kms_event():
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - shapes the runtime rejects are covered by the corpus test
            continue
        for envelope in envelopes:
            assert not any(matches(p, json.loads(json.dumps(envelope.as_dict()))) for p in PATTERNS), path


def test_rotation_candidates():
    good = {"KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT", "KeyState": "Enabled", "Origin": "AWS_KMS"}
    assert why_not_candidate(good) is None
    assert why_not_candidate({**good, "KeyState": "Disabled"}) is None  # a candidate; apply reports it cannot act
    assert "AWS manages" in why_not_candidate({**good, "KeyManager": "AWS"})
    assert "HMAC_256" in why_not_candidate({**good, "KeySpec": "HMAC_256"})
    assert "EXTERNAL" in why_not_candidate({**good, "Origin": "EXTERNAL"})
    assert "replica" in why_not_candidate({**good, "MultiRegionConfiguration": {"MultiRegionKeyType": "REPLICA"}})
    assert why_not_candidate({**good, "KeySpec": None, "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT"}) is None


def test_undo_disables_rotation_again_and_is_idempotent(org):
    from snapback.operations import undo

    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(event_for(CASES[0], account, key, arn), remediations=[NAME])
    assert rotating(kms, key)
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE" and not rotating(kms, key)
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE" and not rotating(kms, key)
    remediation = registry.get(NAME)()
    session = runtime.clients.member(account, REGION, NAME)
    assert "nothing to undo" in remediation.undo(session, result.target, result.undo)[0]


def test_rotation_period_option_is_passed(org):
    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"rotation_period_days": 180}})
    sent: list[dict[str, Any]] = []
    client = runtime.clients.member(account, REGION, NAME).client("kms")
    client.meta.events.register("provide-client-params.kms.EnableKeyRotation", lambda params, **_: sent.append(dict(params)))
    (result,) = runtime.process(event_for(CASES[0], account, key, arn), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and "every 180 days" in result.actions[0]
    assert sent == [{"KeyId": arn, "RotationPeriodInDays": 180}]


def test_kms_4_finding_enables_rotation(org):
    kms, account, key, arn = make_key(org, member="member-b")
    event = service_event("aws.securityhub", SECURITYHUB_IMPORTED, {"findings": [kms4_finding(account, arn)]}, org.security)
    assert any(matches(p, event.as_dict()) for p in PATTERNS)
    (result,) = runtime_for(org, NAME).process(event.as_dict(), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and rotating(kms, key)


def test_a_key_deleted_meanwhile_is_nothing_to_fix(org):
    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, REGION, NAME).client("kms"), "DescribeKey", "NotFoundException", 400)
    (result,) = runtime.process(event_for(CASES[0], account, key, arn), remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT and "NotFoundException" in result.reason


def test_access_denied_is_failed_and_a_redrive_can_finish(org):
    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, REGION, NAME).client("kms"), "EnableKeyRotation", "AccessDeniedException", 400)
    event = event_for(CASES[0], account, key, arn)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "AccessDenied" in result.reason and not rotating(kms, key)
    (again,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert again.outcome is Outcome.REMEDIATED and rotating(kms, key)


def test_invalid_state_at_apply_time_is_failed(org):
    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    inject_error(
        runtime.clients.member(account, REGION, NAME).client("kms"), "EnableKeyRotation", "KMSInvalidStateException", 400
    )
    (result,) = runtime.process(event_for(CASES[0], account, key, arn), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "KMSInvalidStateException" in result.reason


def test_throttling_raises_for_the_platform_to_retry(org):
    from snapback.errors import RetryableError

    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    inject_error(runtime.clients.member(account, REGION, NAME).client("kms"), "EnableKeyRotation", "ThrottlingException", 400)
    with pytest.raises(RetryableError):
        runtime.process(event_for(CASES[0], account, key, arn), remediations=[NAME])
    assert not rotating(kms, key)


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing_but_say_what_they_would_do(org, mode, outcome):
    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    (result,) = runtime.process(event_for(CASES[0], account, key, arn), remediations=[NAME])
    assert result.outcome is outcome and result.actions == [f"kms:EnableKeyRotation on {key} (AWS default period, 365 days)"]
    assert not rotating(kms, key)


def test_duplicate_deliveries_act_once(org):
    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    event = event_for(CASES[0], account, key, arn)
    outcomes = [r.outcome for _ in range(3) for r in runtime.process(event, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.SKIPPED]


def test_a_key_of_another_account_is_never_touched(org):
    kms, account, key, arn = make_key(org, member="member-b")
    other = org.members["member-a"]
    (result,) = runtime_for(org, NAME).process(event_for(CASES[1], other, key, arn), remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and f"names a resource in {account}" in result.reason
    assert not rotating(kms, key)


def test_declared_permissions_are_exactly_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    kms, account, key, arn = make_key(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, REGION, NAME).client("kms")
    client.meta.events.register("before-call.kms.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(event_for(CASES[0], account, key, arn), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert {f"kms:{c}" for c in calls} == set(registry.get(NAME).permissions)


def test_verify_reads_rotation_as_inspect_does_including_the_period_moto_omits():
    """Real KMS answers GetKeyRotationStatus with RotationPeriodInDays once rotation is on (moto does
    not): verify must carry it exactly as inspect would, or undo would see drift that is not there."""
    import boto3
    from botocore.stub import Stubber

    from snapback.outcomes import Target
    from snapback.remediations.kms_enable_key_rotation import KmsEnableKeyRotation

    arn = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    client = boto3.client("kms", region_name="us-east-1")
    stub = Stubber(client)
    meta = {"KeyId": arn.rsplit("/", 1)[1], "Arn": arn, "KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT"}
    meta.update(KeyState="Enabled", Origin="AWS_KMS", KeyUsage="ENCRYPT_DECRYPT")
    rotation = {"KeyRotationEnabled": True, "RotationPeriodInDays": 180}
    stub.add_response("get_key_rotation_status", rotation, {"KeyId": arn})  # verify
    stub.add_response("describe_key", {"KeyMetadata": meta}, {"KeyId": arn})  # inspect
    stub.add_response("get_key_rotation_status", rotation, {"KeyId": arn})

    class Session:
        def client(self, service: str, region: str | None = None) -> object:
            return client

    remediation = KmsEnableKeyRotation()
    target = Target("111111111111", "us-east-1", "AwsKmsKey", meta["KeyId"], arn, "k")
    before = {
        "key_manager": "CUSTOMER",
        "key_spec": "SYMMETRIC_DEFAULT",
        "key_state": "Enabled",
        "origin": "AWS_KMS",
        "not_a_candidate": None,
        "rotation_enabled": False,
    }
    with stub:
        after = remediation.verify(Session(), target, before, None)  # type: ignore[arg-type]
        assert after == remediation.inspect(Session(), target)  # type: ignore[arg-type]
    assert after["rotation_period_days"] == 180 and remediation.is_compliant(after)
