"""Remove a Lambda resource-policy permission that lets anyone invoke a function (principal `*`, no source condition).

Trigger: CloudTrail AddPermission20150331v2 / AddPermission20150331 (successful calls only, never
    Snapback's own) with principal `*` and none of sourceArn, sourceAccount, principalOrgID (a
    public permission: any AWS account, or anyone through a function URL with auth NONE). A
    permission for a service with a source ARN or account, or pinned to the organization, is
    SKIPPED. IAM Access Analyzer: an ACTIVE finding on an AWS::Lambda::Function that reports
    public access (a finding that names one outside account is recorded as not applicable: only
    public permissions are removed here).
Action: re-read the function's policy (GetPolicy, with the qualifier the call used); a statement is
    public when it allows `*` without a restricting condition (source ARN / account / VPC / IP,
    principal organization...; the same reading as S3's "public"). From a CloudTrail event, only
    the statement id the call added, if still public; from a finding or the sweep, every public
    statement. Each is removed (RemovePermission by statement id); the policy is read again to verify.
Undo: add each removed statement back (AddPermission with its statement id, action, principal and
    its function URL auth type / event source token); one already present counts as restored. A
    removed statement with a condition AddPermission cannot express fails the undo with the
    statement, for a human to restore.
Permissions: lambda:GetPolicy, lambda:RemovePermission, lambda:AddPermission (undo); the sweep:
    lambda:ListFunctions.
Sweep (every configured Region): every function of the account (ListFunctions) whose policy holds a
    public statement is a violation (policies of versions and aliases are not walked).
Side effects: callers relying on the public permission (an unauthenticated function URL, an
    integration from another account) get AccessDenied at once. A sanctioned public function
    belongs in an exemption (snapback.yaml), never in a tag.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, classify, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.policies import public_statements, statements
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.sharing import ACCESS_ANALYZER_FINDING, access_analyzer_pattern, live_finding_problem, parse_access_analyzer
from snapback.triggers import Trigger, cloudtrail_pattern

EVENTS = ("AddPermission20150331", "AddPermission20150331v2")
SOURCE_KEYS = ("sourceArn", "sourceAccount", "principalOrgID")
# Condition keys AddPermission writes, and the parameter that writes each (for undo).
CONDITION_PARAMS = {"lambda:functionurlauthtype": "FunctionUrlAuthType", "lambda:eventsourcetoken": "EventSourceToken"}
NOT_FOUND = "ResourceNotFoundException"


def function_ref(value: str, account: str, region: str) -> tuple[str, str, str, str | None]:
    """(account, region, name, qualifier) of a function named by name, partial ARN or ARN (name:qualifier too)."""
    parts = value.split(":")
    if value.startswith("arn:"):
        if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
            raise MalformedEvent(f"not a Lambda function ARN: {value!r}")
        return parts[4] or account, parts[3] or region, parts[6], parts[7] if len(parts) > 7 else None
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        return parts[0], region, parts[2], parts[3] if len(parts) > 3 else None
    return account, region, parts[0], parts[1] if len(parts) > 1 else None


def _condition_params(statement: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """AddPermission parameters for a statement's conditions, and the condition keys it cannot express."""
    params: dict[str, str] = {}
    unknown: list[str] = []
    if statement.get("FunctionUrlAuthType"):  # moto writes it beside the statement, AWS as a condition
        params["FunctionUrlAuthType"] = str(statement["FunctionUrlAuthType"])
    condition = statement.get("Condition")
    for clauses in condition.values() if isinstance(condition, Mapping) else []:
        for key, value in clauses.items() if isinstance(clauses, Mapping) else []:
            param = CONDITION_PARAMS.get(str(key).lower())
            if param:
                params[param] = str(value[0] if isinstance(value, list) else value)
            else:
                unknown.append(str(key))
    return params, unknown


def _principal(statement: Mapping[str, Any]) -> str:
    principal = statement.get("Principal")
    if isinstance(principal, Mapping):
        principal = principal.get("AWS") or principal.get("Service") or next(iter(principal.values()), "*")
    if isinstance(principal, list):
        principal = principal[0] if principal else "*"
    return str(principal or "*")


@register
class LambdaPublicPermissionRemove(Remediation):
    name = "lambda_public_permission_remove"
    summary = "Lambda function made invocable by anyone"
    severity = Severity.HIGH
    finding_type = "Software and Configuration Checks/AWS Security Best Practices/Lambda function public"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Permission added to a Lambda function's resource policy",
            pattern=cloudtrail_pattern("aws.lambda", "lambda.amazonaws.com", list(EVENTS)),
        ),
        Trigger(
            id="access_analyzer",
            description="IAM Access Analyzer: Lambda function shared outside the zone of trust",
            pattern=access_analyzer_pattern(["AWS::Lambda::Function"]),
        ),
    )
    permissions = ("lambda:AddPermission", "lambda:GetPolicy", "lambda:RemovePermission")
    call_budget = 13
    sweep_scope = "region"
    sweep_permissions = ("lambda:ListFunctions",)

    def _target(self, account: str, region: str, name: str, qualifier: str | None, key: str, facts: dict[str, Any]) -> Target:
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}" + (f":{qualifier}" if qualifier else "")
        return Target(
            account=account,
            region=region,
            resource_type="AwsLambdaFunction",
            resource_id=name,
            resource_arn=arn,
            idempotency_key=key,
            facts={"qualifier": qualifier, **facts},
        )

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if event.detail_type == ACCESS_ANALYZER_FINDING:
            return self._resolve_analyzer(event)
        if call is None or call.event_name not in EVENTS or call.event_source != "lambda.amazonaws.com":
            raise NotApplicable("not a Lambda AddPermission call")
        request = call.request
        function, sid = request.get("functionName"), request.get("statementId")
        if not isinstance(function, str) or not function or not isinstance(sid, str) or not sid:
            raise MalformedEvent("AddPermission names no function or statement id (requestParameters.functionName/statementId)")
        account, region, name, qualifier = function_ref(function, event.account, call.region or event.region)
        if isinstance(request.get("qualifier"), str) and request["qualifier"]:
            qualifier = request["qualifier"]
        principal = request.get("principal")
        target = self._target(
            account,
            region,
            name,
            qualifier,
            call.idempotency_key(f"lambda#{account}#{name}#{sid}#{call.event_time}"),
            {
                "summary": f"{name}: permission {sid} lets {principal} call {request.get('action')}",
                "statement_id": sid,
                "match": "statement",
                "principal": principal,
                "action": request.get("action"),
                **call.facts(),
            },
        )
        target = replace(target, principal_arn=call.actor.arn)
        if principal != "*":
            raise NotApplicable(f"the permission is for {principal}, not for everyone", target)
        pinned = [k for k in SOURCE_KEYS if request.get(k)]
        if pinned:
            raise NotApplicable(f"the permission is pinned by {', '.join(pinned)}", target)
        return target

    def _resolve_analyzer(self, event: Envelope) -> Target:
        finding = parse_access_analyzer(event.detail, event.account, event.region)
        if finding.resource_type != "AWS::Lambda::Function":
            raise NotApplicable(f"Access Analyzer finding on a {finding.resource_type}, not a function")
        account, region, name, qualifier = function_ref(finding.resource, finding.account, finding.region)
        target = self._target(
            account,
            region,
            name,
            qualifier,
            finding.idempotency_key,
            {
                "summary": f"IAM Access Analyzer: Lambda function {name} is invocable from outside",
                "match": "public",
                **finding.facts(),
            },
        )
        problem = live_finding_problem(finding)
        if problem:
            raise NotApplicable(problem, target)
        if not finding.is_public and "*" not in finding.principals:
            raise NotApplicable(
                f"the finding names {', '.join(finding.principals) or 'no principal'}, not everyone: "
                "only public permissions are removed (the finding is recorded for review)",
                target,
            )
        return target

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        for page in session.client("lambda").get_paginator("list_functions").paginate():
            for function in page.get("Functions", []):
                name = function["FunctionName"]
                target = self._target(
                    account,
                    region,
                    name,
                    None,
                    self.sweep_key(account, region, function.get("FunctionArn") or name),
                    {"summary": f"Lambda function {name} is invocable by anyone", "match": "public"},
                )
                if not self.is_compliant(self.inspect(session, target)):
                    yield target

    # -- inspect / plan / apply / undo -------------------------------------------------------------
    def _qualifier(self, target: Target) -> dict[str, str]:
        qualifier = target.facts.get("qualifier")
        return {"Qualifier": str(qualifier)} if qualifier else {}

    def _statements(self, session: MemberSession, target: Target) -> list[Mapping[str, Any]]:
        try:
            policy = session.client("lambda").get_policy(FunctionName=target.resource_id, **self._qualifier(target))
        except ClientError as err:
            if error_code(err) == NOT_FOUND:  # no policy at all, or no function: nobody can call it
                return []
            raise
        return statements(json.loads(policy.get("Policy") or "{}"))

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        public = public_statements({"Statement": self._statements(session, target)})
        if target.facts.get("match") == "statement":
            public = [s for s in public if s.get("Sid") == target.facts.get("statement_id")]
        return {"public_statements": [dict(s) for s in public]}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return not state.get("public_statements")

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        sids = [str(s.get("Sid")) for s in state.get("public_statements") or []] or [
            str(target.facts.get("statement_id") or "every public statement")
        ]
        return [f"lambda:RemovePermission on {target.resource_id}: {sid}" for sid in sids]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        client = session.client("lambda")
        for statement in state["public_statements"]:
            try:
                client.remove_permission(
                    FunctionName=target.resource_id, StatementId=str(statement["Sid"]), **self._qualifier(target)
                )
            except ClientError as err:
                if error_code(err) != NOT_FOUND:  # removed meanwhile: that is the goal
                    raise
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"removed": list(before["public_statements"])}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        client = session.client("lambda")
        present = {s.get("Sid") for s in self._statements(session, target)}
        actions = []
        for statement in undo_data.get("removed") or []:
            sid = str(statement.get("Sid"))
            if sid in present:
                actions.append(f"{target.resource_id}: permission {sid} already present")
                continue
            params, unknown = _condition_params(statement)
            if unknown:
                raise PermanentError(
                    f"permission {sid} of {target.resource_id} had conditions AddPermission cannot set ({', '.join(unknown)}); "
                    f"restore it by hand: {json.dumps(statement, sort_keys=True)}"
                )
            action = statement.get("Action")
            try:
                client.add_permission(
                    FunctionName=target.resource_id,
                    StatementId=sid,
                    Action=str(action[0] if isinstance(action, list) else action),
                    Principal=_principal(statement),
                    **params,
                    **self._qualifier(target),
                )
            except ClientError as err:
                if error_code(err) == "ResourceConflictException":
                    actions.append(f"{target.resource_id}: permission {sid} already present")
                    continue
                if error_code(err) == NOT_FOUND:
                    raise PermanentError(f"function {target.resource_id} no longer exists; nothing to restore") from err
                raise classify(err) from err
            actions.append(f"lambda:AddPermission on {target.resource_id}: {sid} restored")
        return actions
