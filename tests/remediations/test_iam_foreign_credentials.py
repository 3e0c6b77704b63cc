"""iam_foreign_credentials under moto: keys and login profiles of IAM users asserted in the member account."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from snapback import registry
from snapback.operations import undo
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback_ops.demo import LocalOrg
from snapback_ops.demo import runtime_for as demo_runtime
from tests.remediations.helpers import load_cases
from tests.remediations.iam_events import iam_call

NAME = "iam_foreign_credentials"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}


@pytest.fixture(scope="module")
def org() -> Iterator[LocalOrg]:
    from moto import mock_aws

    from snapback_ops.demo import build_org

    with mock_aws():
        yield build_org(routing=False)  # no test here reads the member-bus routes


def runtime_for(org: LocalOrg, options: dict[str, Any] | None = None) -> Any:
    from tests.perf.workloads import OPEN_BREAKER

    runtime = demo_runtime(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, breaker=OPEN_BREAKER, options={NAME: options or {}})
    return runtime


def keys(iam: Any, user: str) -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def login_profile(iam: Any, user: str) -> dict[str, Any] | None:
    try:
        profile = iam.get_login_profile(UserName=user)["LoginProfile"]
    except ClientError:
        return None
    return {"UserName": profile["UserName"]}


def prepare(org: LocalOrg, case: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    account = org.members["member-a"]
    iam = org.session(account).client("iam")
    user = f"alice-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    names = {"account": account, "user": user, "key": "AKIAEXAMPLENOTMADE01"}
    if case["setup"] in ("applied", "undone"):
        if case["event"] == "CreateAccessKey":
            names["key"] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        elif case["event"] in ("CreateLoginProfile", "UpdateLoginProfile"):
            iam.create_login_profile(UserName=user, Password="Attacker-Chosen-Passw0rd!")
    if case["setup"] == "undone":
        iam.update_access_key(UserName=user, AccessKeyId=names["key"], Status="Inactive")
    return iam, names


def event_for(case: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    envelope = iam_call(
        names["account"],
        case["event"],
        case["request"],
        case["identity"],
        response=case.get("response"),
        error_code=case.get("error_code"),
        session=case.get("session"),
        **names,
    )
    return envelope.as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    iam, names = prepare(org, case)
    user = names["user"]
    before = (keys(iam, user), login_profile(iam, user))
    event = event_for(case, names)
    assert any(matches(t.pattern, event) for t in registry.get(NAME).triggers) == case["routed"]

    runtime = runtime_for(org)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] != "REMEDIATED":
        assert (keys(iam, user), login_profile(iam, user)) == before
        if case["expect"] == "NOTIFIED":
            assert result.notification_id and result.finding_id and "another user" in result.reason
        return
    assert before[0] == {names["key"]: "Active"} and keys(iam, user) == {names["key"]: "Inactive"}
    assert result.notification_id and result.finding_id
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    assert keys(iam, user) == before[0]
    assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"


def test_only_the_new_key_is_deactivated(org):
    case = BY_NAME["assumed role makes a key for an IAM user (Stratus create-access-key shape)"]
    iam, names = prepare(org, case)
    own = iam.create_access_key(UserName=names["user"])["AccessKey"]["AccessKeyId"]
    (result,) = runtime_for(org).process(event_for(case, names), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    assert keys(iam, names["user"]) == {names["key"]: "Inactive", own: "Active"}


def test_login_profile_deleted_when_opted_in_and_undo_issues_a_reset_required_password(org):
    case = BY_NAME["console password created for another user: paged, not changed (delete_login_profiles off)"]
    iam, names = prepare(org, case)
    user = names["user"]
    runtime = runtime_for(org, {"delete_login_profiles": True})
    (result,) = runtime.process(event_for(case, names), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED, result.reason
    assert login_profile(iam, user) is None
    sent: list[dict[str, Any]] = []  # moto keeps no PasswordResetRequired: check what was asked of IAM
    member_iam = runtime.clients.member(names["account"], "us-east-1", NAME).client("iam")
    member_iam.meta.events.register("provide-client-params.iam.CreateLoginProfile", lambda params, **_: sent.append(dict(params)))
    done = undo(runtime, result.audit_id)
    assert sent and sent[0]["PasswordResetRequired"] is True and sent[0]["UserName"] == user
    assert login_profile(iam, user) == {"UserName": user}
    secret_name = f"snapback/undo/login-profile/{names['account']}/{user}"
    assert secret_name in done["actions"][0]
    # the password is in the security account's Secrets Manager, and nowhere in the audit record
    secrets = org.session(org.security).client("secretsmanager")
    password = secrets.get_secret_value(SecretId=secret_name)["SecretString"]
    assert len(password) == 32 and password not in str(runtime.audit.get(result.audit_id))
    # the member account holds no copy
    member_secrets = org.session(names["account"]).client("secretsmanager").list_secrets()["SecretList"]
    assert not [s for s in member_secrets if user in s["Name"]]


def test_undo_never_overwrites_a_login_profile_made_since(org):
    case = BY_NAME["console password created for another user: paged, not changed (delete_login_profiles off)"]
    iam, names = prepare(org, case)
    runtime = runtime_for(org, {"delete_login_profiles": True})
    (result,) = runtime.process(event_for(case, names), remediations=[NAME])
    iam.create_login_profile(UserName=names["user"], Password="Owner-Chose-This-0ne!")
    refused = undo(runtime, result.audit_id)
    assert refused["outcome"] == "REFUSED" and refused["drift"], refused  # the owner's change is shown, not undone
    done = undo(runtime, result.audit_id, force=True)
    assert done["outcome"] == "UNDONE" and "left as it is" in done["actions"][-1]
    assert iam.get_login_profile(UserName=names["user"])["LoginProfile"]["UserName"] == names["user"]


def test_a_key_event_without_the_key_id_is_failed_with_the_command_to_find_it(org):
    case = BY_NAME["IAM user makes a key for another IAM user"]
    iam, names = prepare(org, case)
    (result,) = runtime_for(org).process(event_for({**case, "response": None}, names), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "list-access-keys" in result.reason
    assert keys(iam, names["user"]) == {names["key"]: "Active"}  # nothing guessed


def test_declared_permissions_are_exactly_the_calls_made(org):
    calls: set[str] = set()
    runtime = runtime_for(org, {"delete_login_profiles": True})
    account = org.members["member-a"]
    client = runtime.clients.member(account, "us-east-1", NAME).client("iam")
    client.meta.events.register("before-call.iam.*", lambda model, **_: calls.add(model.name))
    for name in (
        "assumed role makes a key for an IAM user (Stratus create-access-key shape)",
        "console password created for another user: paged, not changed (delete_login_profiles off)",
    ):
        _, names = prepare(org, BY_NAME[name])
        (result,) = runtime.process(event_for(BY_NAME[name], names), remediations=[NAME])
        assert result.outcome is Outcome.REMEDIATED
        undo(runtime, result.audit_id)
    assert {f"iam:{c}" for c in calls} == set(registry.get(NAME).permissions)
