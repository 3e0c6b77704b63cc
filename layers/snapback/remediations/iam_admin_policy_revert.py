"""Take back an IAM policy change that grants admin.

Trigger: CloudTrail in us-east-1 (IAM is global; successful calls only, never Snapback's own):
    Attach{User,Role,Group}Policy of any managed policy (AdministratorAccess or a customer policy:
    its live default version decides); Put{User,Role,Group}Policy whose document grants admin;
    CreatePolicyVersion with setAsDefault true whose document grants admin. Also Security Hub
    control IAM.1 (a customer managed policy allowing `*` on `*`) FAILED findings from AWS.
    "Grants admin" (snapback.iam_admin): an Allow over every resource of `*`, of every IAM action
    (`iam:*`), or of a sensitive action (option `sensitive_actions`, default iam:PassRole);
    NotAction is honoured, conditions are not (a conditional admin grant is still one).
Action: re-read the live state first (events are triggers, not truth):
    - managed policy: still attached, and its current default version grants admin -> detach it
      from that user, role or group only (other principals keep it);
    - inline policy: its current document grants admin -> back the document up in the audit
      record (undo data), then delete the inline policy;
    - new default version (CreatePolicyVersion, IAM.1): set the newest earlier version that grants
      no admin back as the default. The admin version is kept, not deleted: it is evidence, it
      grants nothing while not the default, and undo needs it. With no such earlier version the
      outcome is FAILED and on-call decides (detaching everywhere is too blunt to automate).
Undo: re-attach the managed policy; put the inline policy back with the backed-up document; set
    the version that was the default before back as the default. Each is idempotent.
Permissions: iam:ListAttached{User,Role,Group}Policies, iam:GetPolicy, iam:GetPolicyVersion,
    iam:ListPolicyVersions and iam:Get{User,Role,Group}Policy (inspect);
    iam:Detach{User,Role,Group}Policy, iam:Delete{User,Role,Group}Policy,
    iam:SetDefaultPolicyVersion (apply); iam:Attach{User,Role,Group}Policy and
    iam:Put{User,Role,Group}Policy (undo).
Side effects: the principal loses the admin rights at once, whoever granted them. Break-glass
    grants belong in an exemption in snapback.yaml: `principals` match the caller (e.g.
    `arn:aws:sts::*:assumed-role/break-glass/*`), `resources` the user, role, group or policy
    that received the grant (e.g. `arn:aws:iam::*:role/break-glass`). Rolling a policy version
    back affects every principal the policy is attached to (that is the point: the admin
    version reached them all).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.findings import AsffFinding
from snapback.iam_admin import DEFAULT_SENSITIVE_ACTIONS, admin_grants
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

# IAM principal kind -> (requestParameters key, ASFF resource type, ARN resource prefix)
PRINCIPALS = {
    "User": ("userName", "AwsIamUser", "user"),
    "Role": ("roleName", "AwsIamRole", "role"),
    "Group": ("groupName", "AwsIamGroup", "group"),
}
ATTACH = {f"Attach{kind}Policy": kind for kind in PRINCIPALS}
PUT = {f"Put{kind}Policy": kind for kind in PRINCIPALS}
CREATE_VERSION = "CreatePolicyVersion"
# IAM is global: its events and its endpoint live in one Region per partition.
IAM_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}


@dataclass(frozen=True)
class Grant:
    """What received admin: a managed policy on a principal, an inline policy, or a policy version."""

    kind: str  # managed | inline | version
    policy_arn: str | None = None
    policy_name: str | None = None
    principal_type: str | None = None  # User | Role | Group
    principal_name: str | None = None

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> Grant:
        raw = facts.get("grant")
        if not isinstance(raw, Mapping) or raw.get("kind") not in ("managed", "inline", "version"):
            raise PermanentError("the target records no IAM grant to inspect")
        return cls(**{k: raw.get(k) for k in ("kind", "policy_arn", "policy_name", "principal_type", "principal_name")})

    @property
    def principal(self) -> str:
        return f"{(self.principal_type or '').lower()} {self.principal_name}"

    @property
    def name_kwargs(self) -> dict[str, str]:
        return {f"{self.principal_type}Name": str(self.principal_name)}

    def call(self, session: MemberSession, verb: str, **kwargs: Any) -> Any:
        """One IAM call on this grant's principal, e.g. verb "detach_{}_policy" -> detach_role_policy."""
        method = getattr(session.client("iam"), verb.format((self.principal_type or "").lower()))
        return method(**self.name_kwargs, **kwargs)


def _partition(*arns: str | None) -> str:
    for arn in arns:
        if arn and arn.startswith("arn:") and arn.count(":") >= 2:
            return arn.split(":")[1] or "aws"
    return "aws"


def _policy_label(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _version_number(version_id: str) -> int:
    digits = version_id.lstrip("vV")
    return int(digits) if digits.isdigit() else -1


def _set_as_default(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


@register
class IamAdminPolicyRevert(Remediation):
    name = "iam_admin_policy_revert"
    summary = "IAM policy change granting admin"
    severity = Severity.CRITICAL
    finding_type = "TTPs/Privilege Escalation/IAM policy granting admin"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Managed policy attached, inline policy put, or new default policy version",
            pattern=cloudtrail_pattern("aws.iam", "iam.amazonaws.com", [*ATTACH, *PUT, CREATE_VERSION]),
        ),
    )
    controls = ("IAM.1",)
    permissions = tuple(
        sorted(
            {
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:ListPolicyVersions",
                "iam:SetDefaultPolicyVersion",
                *(f"iam:{verb}{kind}Policy" for kind in PRINCIPALS for verb in ("Attach", "Detach", "Get", "Put", "Delete")),
                *(f"iam:ListAttached{kind}Policies" for kind in PRINCIPALS),
            }
        )
    )
    call_budget = 18
    gone_codes = frozenset({"NoSuchEntity"})
    defaults = {"sensitive_actions": list(DEFAULT_SENSITIVE_ACTIONS)}

    # -- resolve ---------------------------------------------------------------------------------
    def _grants(self, document: Any) -> list[str]:
        return admin_grants(document, self.options.get("sensitive_actions", DEFAULT_SENSITIVE_ACTIONS))

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        request = call.request
        name = call.event_name
        policy_arn = request.get("policyArn") if isinstance(request.get("policyArn"), str) else None
        partition = _partition(policy_arn, call.actor.arn)
        if name in ATTACH or name in PUT:
            kind = ATTACH.get(name) or PUT[name]
            key, resource_type, prefix = PRINCIPALS[kind]
            principal = request.get(key)
            policy_name = request.get("policyName") if isinstance(request.get("policyName"), str) else None
            if not isinstance(principal, str) or not principal or (name in ATTACH and not policy_arn):
                raise NotApplicable(f"{name} names no {prefix} and policy (requestParameters incomplete or null)")
            if name in PUT and not policy_name:
                raise NotApplicable(f"{name} names no policy (requestParameters.policyName missing)")
            grant = Grant(
                kind="managed" if name in ATTACH else "inline",
                policy_arn=policy_arn if name in ATTACH else None,
                policy_name=_policy_label(policy_arn) if name in ATTACH and policy_arn else policy_name,
                principal_type=kind,
                principal_name=principal,
            )
            resource_arn, resource_id = f"arn:{partition}:iam::{event.account}:{prefix}/{principal}", principal
            what = (
                f"{name}: managed policy {grant.policy_name} on {grant.principal}"
                if grant.kind == "managed"
                else f"{name}: inline policy {policy_name} on {grant.principal}"
            )
        elif name == CREATE_VERSION:
            if not policy_arn:
                raise NotApplicable(f"{name} names no policy (requestParameters.policyArn missing)")
            grant = Grant(kind="version", policy_arn=policy_arn, policy_name=_policy_label(policy_arn))
            resource_type, resource_arn, resource_id = "AwsIamPolicy", policy_arn, grant.policy_name or policy_arn
            version = ((call.response or {}).get("policyVersion") or {}).get("versionId")
            what = f"{name}: new version {version or '?'} of policy {grant.policy_name}"
        else:
            raise NotApplicable(f"{name} does not grant IAM permissions")

        target = Target(
            account=event.account,
            region=IAM_REGION.get(partition, "us-east-1"),
            resource_type=resource_type,
            resource_id=resource_id,
            resource_arn=resource_arn,
            idempotency_key=call.idempotency_key(f"iam#{event.account}#{resource_id}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts={
                "summary": what,
                "grant": asdict(grant),
                **call.facts(),
            },
        )
        if name == CREATE_VERSION and not _set_as_default(request.get("setAsDefault")):
            raise NotApplicable("the new version was not set as the default: it grants nothing until it is", target)
        if grant.kind in ("inline", "version"):
            try:
                grants = self._grants(request.get("policyDocument"))
            except MalformedEvent:
                target.facts["summary"] += " (document unreadable in the event; the live document decides)"
            else:
                if not grants:
                    raise NotApplicable("the new policy document grants no admin", target)
                target.facts["summary"] += ": " + "; ".join(grants)
        return target

    def resolve_finding(self, event: Envelope, finding: AsffFinding) -> Target:
        policy = next((r for r in finding.resources if r.type == "AwsIamPolicy"), None)
        if policy is None:
            raise NotApplicable(f"finding {finding.control_id} names no AwsIamPolicy resource")
        parts = policy.id.split(":")
        if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("policy/"):
            raise MalformedEvent(f"AwsIamPolicy resource id is not a policy ARN: {policy.id!r}")
        if parts[4] != finding.account:
            raise NotApplicable(f"policy {policy.id} is not a customer managed policy of account {finding.account}")
        grant = Grant(kind="version", policy_arn=policy.id, policy_name=_policy_label(policy.id))
        return Target(
            account=finding.account,
            region=IAM_REGION.get(parts[1], "us-east-1"),
            resource_type="AwsIamPolicy",
            resource_id=grant.policy_name or policy.id,
            resource_arn=policy.id,
            idempotency_key=f"{finding.idempotency_key}#set-default-policy-version",
            facts={
                "summary": f"Security Hub {finding.control_id}: policy {grant.policy_name} allows full administrative privileges",
                "grant": asdict(grant),
                "finding_title": finding.title,
            },
        )

    # -- inspect ---------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        grant = Grant.from_facts(target.facts)
        if grant.kind == "managed":
            return self._inspect_managed(session, grant)
        if grant.kind == "inline":
            return self._inspect_inline(session, grant)
        return self._inspect_version(session, grant)

    def _default_document(self, iam: Any, policy_arn: str) -> tuple[str, Any]:
        version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        return version, iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]

    def _inspect_managed(self, session: MemberSession, grant: Grant) -> dict[str, Any]:
        pages = session.client("iam").get_paginator(f"list_attached_{(grant.principal_type or '').lower()}_policies")
        attached = any(
            p.get("PolicyArn") == grant.policy_arn
            for page in pages.paginate(**grant.name_kwargs)
            for p in page.get("AttachedPolicies", [])
        )
        state: dict[str, Any] = {"kind": "managed", "principal": grant.principal, "policy_arn": grant.policy_arn}
        if not attached:
            return {**state, "attached": False, "admin_grants": []}
        version, document = self._default_document(session.client("iam"), str(grant.policy_arn))
        return {**state, "attached": True, "default_version": version, "admin_grants": self._grants(document)}

    def _inspect_inline(self, session: MemberSession, grant: Grant) -> dict[str, Any]:
        state: dict[str, Any] = {"kind": "inline", "principal": grant.principal, "policy_name": grant.policy_name}
        try:
            document = grant.call(session, "get_{}_policy", PolicyName=grant.policy_name)["PolicyDocument"]
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            return {**state, "present": False, "admin_grants": []}
        return {**state, "present": True, "document": document, "admin_grants": self._grants(document)}

    def _inspect_version(self, session: MemberSession, grant: Grant) -> dict[str, Any]:
        iam = session.client("iam")
        arn = str(grant.policy_arn)
        default, document = self._default_document(iam, arn)
        grants = self._grants(document)
        state: dict[str, Any] = {"kind": "version", "policy_arn": arn, "default_version": default, "admin_grants": grants}
        if not grants:
            return state
        versions = [
            v["VersionId"]
            for page in iam.get_paginator("list_policy_versions").paginate(PolicyArn=arn)
            for v in page.get("Versions", [])
        ]
        earlier = sorted(
            (v for v in versions if _version_number(v) < _version_number(default)), key=_version_number, reverse=True
        )
        rollback = None
        for version in earlier:
            older = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            if not self._grants(older):
                rollback = version
                break
        return {**state, "document": document, "versions": sorted(versions, key=_version_number), "rollback_version": rollback}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return not state.get("admin_grants")

    # -- act -------------------------------------------------------------------------------------
    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        grant = Grant.from_facts(target.facts)
        why = "; ".join(state.get("admin_grants") or []) or "grants admin"
        if grant.kind == "managed":
            return [f"iam:Detach{grant.principal_type}Policy {grant.policy_arn} from {grant.principal} ({why})"]
        if grant.kind == "inline":
            return [
                f"iam:Delete{grant.principal_type}Policy {grant.policy_name} on {grant.principal} ({why}); "
                "its document is kept in the audit record for undo"
            ]
        rollback = state.get("rollback_version")
        if state and not rollback:
            return [f"none possible: no earlier version of {grant.policy_arn} grants no admin ({why}); on-call decides"]
        return [
            f"iam:SetDefaultPolicyVersion {grant.policy_arn} to {rollback or 'the newest earlier non-admin version'} "
            f"(default {state.get('default_version', '?')}: {why})"
        ]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        grant = Grant.from_facts(target.facts)
        if grant.kind == "managed":
            grant.call(session, "detach_{}_policy", PolicyArn=grant.policy_arn)
            return self.undo_data_for(target, state)
        if grant.kind == "inline":
            grant.call(session, "delete_{}_policy", PolicyName=grant.policy_name)
            return self.undo_data_for(target, state)
        rollback = state.get("rollback_version")
        if not rollback:
            raise PermanentError(
                f"no earlier version of {grant.policy_arn} grants no admin (versions {', '.join(state.get('versions', []))}); "
                "nothing changed: detach it or edit it by hand"
            )
        session.client("iam").set_default_policy_version(PolicyArn=grant.policy_arn, VersionId=rollback)
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        grant = Grant.from_facts(target.facts)
        undo: dict[str, Any] = {"grant": asdict(grant)}
        if grant.kind == "managed":
            return undo
        if grant.kind == "inline":
            return {**undo, "document": before["document"]}
        return {**undo, "default_version": before["default_version"], "rolled_back_to": before.get("rollback_version")}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        grant = Grant.from_facts(undo_data)
        if grant.kind == "managed":
            grant.call(session, "attach_{}_policy", PolicyArn=grant.policy_arn)
            return [f"iam:Attach{grant.principal_type}Policy {grant.policy_arn} to {grant.principal} again"]
        if grant.kind == "inline":
            grant.call(session, "put_{}_policy", PolicyName=grant.policy_name, PolicyDocument=json.dumps(undo_data["document"]))
            return [f"iam:Put{grant.principal_type}Policy {grant.policy_name} on {grant.principal}: backed-up document restored"]
        version = str(undo_data["default_version"])
        session.client("iam").set_default_policy_version(PolicyArn=grant.policy_arn, VersionId=version)
        return [f"iam:SetDefaultPolicyVersion {grant.policy_arn} back to {version}"]
