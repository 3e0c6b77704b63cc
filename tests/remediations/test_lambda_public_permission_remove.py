"""lambda_public_permission_remove under moto: a function in a member account, its resource policy asserted."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import pytest

from snapback import pipeline, registry
from snapback.errors import PermanentError
from snapback.outcomes import Outcome
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.remediations.helpers import envelope, fill, load_cases
from tests.remediations.sharing_helpers import analyzer_event, names, routed

NAME = "lambda_public_permission_remove"
CASES = load_cases(NAME)
BY_NAME = {c["name"]: c for c in CASES}
OPEN = BY_NAME["anyone may invoke"]
PARAMS = {
    "action": "Action",
    "principal": "Principal",
    "sourceArn": "SourceArn",
    "sourceAccount": "SourceAccount",
    "principalOrgID": "PrincipalOrgID",
    "functionUrlAuthType": "FunctionUrlAuthType",
}


def make_function(org: Any, member: str = "member-a") -> tuple[Any, str, str]:
    account = org.members[member]
    session = org.session(account)
    name = f"exports-{uuid.uuid4().hex[:6]}"
    role = session.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    lam = session.client("lambda")
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": buffer.getvalue()}
    )
    return lam, account, name


def sids(lam: Any, name: str) -> list[str]:
    try:
        policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    except lam.exceptions.ResourceNotFoundException:
        return []
    return sorted(s["Sid"] for s in policy["Statement"])


def add(lam: Any, name: str, request: dict[str, Any]) -> None:
    extra = {PARAMS[k]: v for k, v in request.items() if k in PARAMS}
    lam.add_permission(FunctionName=name, StatementId=request["statementId"], **extra)


def case_event(org: Any, case: dict[str, Any], lam: Any, account: str, name: str) -> dict[str, Any]:
    named = names(org, account, function=name)
    request = fill(case["request"], **named)
    if case["setup"]:
        add(lam, name, request)
    if case.get("kind") == "analyzer":
        return analyzer_event(fill(case["finding"], **named), account, f"arn:aws:lambda:us-east-1:{account}:function:{name}")
    statement = {
        "Sid": request["statementId"],
        "Effect": "Allow",
        "Principal": request.get("principal"),
        "Action": request.get("action"),
    }
    record = cloudtrail_record(
        account,
        "lambda.amazonaws.com",
        case["event"],
        request,
        actor=case.get("actor", "developer"),
        response={"statement": json.dumps(statement)},
        error_code=case.get("error_code"),
    )
    return envelope(record).as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    lam, account, name = make_function(org)
    event = case_event(org, case, lam, account, name)
    assert routed(NAME, event) == case["routed"]
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    assert sids(lam, name) == case["after"]


def test_only_the_events_statement_goes_an_older_public_one_stays_for_the_sweep(org):
    lam, account, name = make_function(org)
    add(lam, name, {"statementId": "older", "action": "lambda:InvokeFunction", "principal": "*"})
    add(
        lam,
        name,
        {"statementId": "s3", "action": "lambda:InvokeFunction", "principal": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b"},
    )
    (result,) = runtime_for(org, NAME).process(case_event(org, OPEN, lam, account, name), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED
    assert sids(lam, name) == ["older", "s3"]


@pytest.mark.parametrize("title", ["anyone may invoke", "function URL with auth NONE"])
def test_undo_re_adds_the_permission_and_is_idempotent(org, title):
    from snapback.operations import undo

    lam, account, name = make_function(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(org, BY_NAME[title], lam, account, name), remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and sids(lam, name) == []
    assert undo(runtime, result.audit_id)["outcome"] == "UNDONE"
    (statement,) = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert statement["Sid"] == result.undo["removed"][0]["Sid"] and statement["Principal"] == "*"
    assert statement["Action"] == fill(BY_NAME[title]["request"], function=name)["action"]
    session = runtime.clients.member(account, "us-east-1", NAME)
    assert "already present" in registry.get(NAME)().undo(session, result.target, result.undo)[0]
    assert len(json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]) == 1


def test_undo_refuses_a_condition_it_cannot_express_and_says_what_to_restore(org):
    lam, account, name = make_function(org)
    runtime = runtime_for(org, NAME)
    (result,) = runtime.process(case_event(org, OPEN, lam, account, name), remediations=[NAME])
    odd = dict(result.undo["removed"][0], Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})
    session = runtime.clients.member(account, "us-east-1", NAME)
    with pytest.raises(PermanentError, match="aws:CurrentTime"):
        registry.get(NAME)().undo(session, result.target, {"removed": [odd]})
    assert sids(lam, name) == []


def test_sweep_finds_functions_with_a_public_statement(org):
    lam, account, public = make_function(org)
    _, _, pinned = make_function(org)
    _, _, bare = make_function(org)
    add(lam, public, {"statementId": "open", "action": "lambda:InvokeFunction", "principal": "*"})
    add(lam, pinned, {"statementId": "s3", "action": "lambda:InvokeFunction", "principal": "*", "sourceAccount": account})
    runtime = runtime_for(org, NAME)
    remediation = registry.get(NAME)()
    remediation.configure(runtime)
    session = runtime.clients.member(account, "us-east-1", NAME)
    found = list(remediation.sweep(session, account, "us-east-1", regions=["us-east-1"]))
    assert [t.resource_id for t in found] == [public]
    assert pipeline.reconcile(runtime, remediation, found[0], period="2026-11-22", run_id="s").outcome is Outcome.REMEDIATED
    assert sids(lam, public) == [] and sids(lam, pinned) == ["s3"] and sids(lam, bare) == []


def test_analyzer_finding_from_another_member_is_refused(org):
    lam, account, name = make_function(org)
    add(lam, name, {"statementId": "open", "action": "lambda:InvokeFunction", "principal": "*"})
    finding = {"resourceType": "AWS::Lambda::Function", "principal": {"AWS": "*"}, "isPublic": True}
    event = analyzer_event(
        finding, account, f"arn:aws:lambda:us-east-1:{account}:function:{name}", event_account=org.members["member-b"]
    )
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.SKIPPED and sids(lam, name) == ["open"]


def test_declared_permissions_are_exactly_the_calls_made(org):
    from snapback.operations import undo

    calls: set[str] = set()
    lam, account, name = make_function(org)
    runtime = runtime_for(org, NAME)
    client = runtime.clients.member(account, "us-east-1", NAME).client("lambda")
    client.meta.events.register("before-call.lambda.*", lambda model, **_: calls.add(model.name))
    (result,) = runtime.process(case_event(org, OPEN, lam, account, name), remediations=[NAME])
    undo(runtime, result.audit_id)
    assert {f"lambda:{c.removesuffix('20150331v2').removesuffix('20150331')}" for c in calls} == set(
        registry.get(NAME).permissions
    )
