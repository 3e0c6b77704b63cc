"""Take back an IAM change that grants admin, or an admin-equivalent (privilege-escalation) grant.

Trigger: CloudTrail in us-east-1 (IAM is global; successful calls only, never Snapback's own):
    Attach{User,Role,Group}Policy of any managed policy (AdministratorAccess or a customer policy:
    its live default version decides); Put{User,Role,Group}Policy whose document grants admin;
    CreatePolicyVersion with setAsDefault true whose document grants admin; SetDefaultPolicyVersion
    (the live default decides); AddUserToGroup into a group that holds admin. Also Security Hub
    control IAM.1 (a customer managed policy allowing `*` on `*`) FAILED findings from AWS.
    "Grants admin" (snapback.iam_admin): an Allow over every resource of `*`, of every IAM action
    (`iam:*`), or of a sensitive action (option `sensitive_actions`, default iam:PassRole); with
    option `escalation_equivalent` (default true) also a privilege-escalation action on `*`
    (snapback.iam_admin.ESCALATION_ACTIONS: iam:AttachUserPolicy, iam:PutRolePolicy,
    iam:CreatePolicyVersion, iam:AddUserToGroup...) and iam:PassRole with a compute-starting action
    (ec2:RunInstances, lambda:CreateFunction...) on `*`. NotAction is honoured, conditions are not
    (a conditional admin grant is still one).
Action: re-read the live state first (events are triggers, not truth):
    - managed policy: still attached, and its current default version grants admin -> detach it
      from that user, role or group only (other principals keep it);
    - inline policy: its current document grants admin -> back the document up in the audit
      record (undo data), then delete the inline policy;
    - new default version (CreatePolicyVersion, IAM.1): set the newest earlier version that grants
      no admin back as the default. The admin version is kept, not deleted: it is evidence, it
      grants nothing while not the default, and undo needs it. With no such earlier version the
      outcome is FAILED and on-call decides (detaching everywhere is too blunt to automate).
    - default version switched (SetDefaultPolicyVersion) to one that grants admin: set the newest
      other version that grants no admin back as the default (the event does not carry the
      previous default; the newest safe version is the one a rollback most likely undid).
    - group membership (AddUserToGroup): the user is still in the group and the group's policies
      (attached and inline) grant admin -> RemoveUserFromGroup (the group keeps its policies and
      its other members).
Undo: re-attach the managed policy; put the inline policy back with the backed-up document; set
    the version that was the default before back as the default; add the user to the group again.
    Each is idempotent.
Permissions: iam:ListAttached{User,Role,Group}Policies, iam:GetPolicy, iam:GetPolicyVersion,
    iam:ListPolicyVersions, iam:Get{User,Role,Group}Policy, iam:ListGroupsForUser and
    iam:ListGroupPolicies (inspect); iam:Detach{User,Role,Group}Policy,
    iam:Delete{User,Role,Group}Policy, iam:SetDefaultPolicyVersion, iam:RemoveUserFromGroup
    (apply); iam:Attach{User,Role,Group}Policy, iam:Put{User,Role,Group}Policy and
    iam:AddUserToGroup (undo). The sweep: iam:GetAccountAuthorizationDetails.
Sweep (once per account, IAM is global): the account's GetAccountAuthorizationDetails
    (snapback.iam_inventory, one paginated read shared with the other IAM sweeps); every inline
    policy and every attached managed policy of a user, role or group that grants admin (as
    above) is a violation, handled like the event that would have made it. Never swept: service-
    linked roles (/aws-service-role/) and IAM Identity Center roles (/aws-reserved/), which IAM
    does not let a customer change; Snapback's own member role; roles named in option
    `sweep_skip_roles` (default: the roles AWS Organizations, Control Tower and StackSets use to
    administer accounts). Other deliberate admins belong in an exemption (run the sweep in
    dry-run first to list them).
Side effects: the principal loses the admin rights at once, whoever granted them. Break-glass
    grants belong in an exemption in snapback.yaml: `principals` match the caller (e.g.
    `arn:aws:sts::*:assumed-role/break-glass/*`), `resources` the user, role, group or policy
    that received the grant (e.g. `arn:aws:iam::*:role/break-glass`). Rolling a policy version
    back affects every principal the policy is attached to (that is the point: the admin
    version reached them all).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from snapback import iam_inventory
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
SET_DEFAULT = "SetDefaultPolicyVersion"
ADD_TO_GROUP = "AddUserToGroup"
KINDS = ("managed", "inline", "version", "default", "membership")
# Roles through which AWS Organizations, Control Tower and service-managed StackSets administer a
# member account: admin by design, and the path Snapback itself is deployed through.
SWEEP_SKIP_ROLES = ("OrganizationAccountAccessRole", "AWSControlTowerExecution", "stacksets-exec-*")
# IAM refuses customer changes to these (service-linked roles, IAM Identity Center roles).
AWS_OWNED_PATHS = ("/aws-service-role/", "/aws-reserved/")
# IAM is global: its events and its endpoint live in one Region per partition.
IAM_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}


@dataclass(frozen=True)
class Grant:
    """What received admin: a managed policy on a principal, an inline policy, or a policy version."""

    kind: str  # managed | inline | version | default | membership
    policy_arn: str | None = None
    policy_name: str | None = None
    principal_type: str | None = None  # User | Role | Group
    principal_name: str | None = None
    group_name: str | None = None  # membership: the group the user was added to

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> Grant:
        raw = facts.get("grant")
        if not isinstance(raw, Mapping) or raw.get("kind") not in KINDS:
            raise PermanentError("the target records no IAM grant to inspect")
        return cls(
            **{k: raw.get(k) for k in ("kind", "policy_arn", "policy_name", "principal_type", "principal_name", "group_name")}
        )

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
            pattern=cloudtrail_pattern(
                "aws.iam", "iam.amazonaws.com", [*ATTACH, *PUT, CREATE_VERSION, SET_DEFAULT, ADD_TO_GROUP]
            ),
        ),
    )
    controls = ("IAM.1",)
    permissions = tuple(
        sorted(
            {
                "iam:AddUserToGroup",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:ListGroupPolicies",
                "iam:ListGroupsForUser",
                "iam:ListPolicyVersions",
                "iam:RemoveUserFromGroup",
                "iam:SetDefaultPolicyVersion",
                *(f"iam:{verb}{kind}Policy" for kind in PRINCIPALS for verb in ("Attach", "Detach", "Get", "Put", "Delete")),
                *(f"iam:ListAttached{kind}Policies" for kind in PRINCIPALS),
            }
        )
    )
    call_budget = 15
    gone_codes = frozenset({"NoSuchEntity"})
    defaults = {
        "sensitive_actions": list(DEFAULT_SENSITIVE_ACTIONS),
        "escalation_equivalent": True,
        "sweep_skip_roles": list(SWEEP_SKIP_ROLES),
    }
    sweep_scope = "account"
    sweep_permissions = ("iam:GetAccountAuthorizationDetails",)

    # -- resolve ---------------------------------------------------------------------------------
    def _grants(self, document: Any) -> list[str]:
        return admin_grants(
            document,
            self.options.get("sensitive_actions", DEFAULT_SENSITIVE_ACTIONS),
            escalation=bool(self.options.get("escalation_equivalent", True)),
        )

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
        elif name in (CREATE_VERSION, SET_DEFAULT):
            if not policy_arn:
                raise NotApplicable(f"{name} names no policy (requestParameters.policyArn missing)")
            kind = "version" if name == CREATE_VERSION else "default"
            grant = Grant(kind=kind, policy_arn=policy_arn, policy_name=_policy_label(policy_arn))
            resource_type, resource_arn, resource_id = "AwsIamPolicy", policy_arn, grant.policy_name or policy_arn
            if name == CREATE_VERSION:
                version = ((call.response or {}).get("policyVersion") or {}).get("versionId")
                what = f"{name}: new version {version or '?'} of policy {grant.policy_name}"
            else:
                what = f"{name}: policy {grant.policy_name} default switched to {request.get('versionId') or '?'}"
        elif name == ADD_TO_GROUP:
            user, group = request.get("userName"), request.get("groupName")
            if not isinstance(user, str) or not user or not isinstance(group, str) or not group:
                raise NotApplicable(f"{name} names no user and group (requestParameters incomplete or null)")
            grant = Grant(kind="membership", principal_type="User", principal_name=user, group_name=group)
            resource_type, resource_id = "AwsIamUser", user
            resource_arn = f"arn:{partition}:iam::{event.account}:user/{user}"
            what = f"{name}: user {user} added to group {group}"
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
        if grant.kind == "membership":
            return self._inspect_membership(session, grant)
        return self._inspect_version(session, grant)

    def _inspect_membership(self, session: MemberSession, grant: Grant) -> dict[str, Any]:
        iam = session.client("iam")
        group = str(grant.group_name)
        state: dict[str, Any] = {"kind": "membership", "principal": grant.principal, "group": group}
        member = any(
            g.get("GroupName") == group
            for page in iam.get_paginator("list_groups_for_user").paginate(UserName=grant.principal_name)
            for g in page.get("Groups", [])
        )
        if not member:
            return {**state, "member": False, "admin_grants": []}
        grants: list[str] = []
        for page in iam.get_paginator("list_attached_group_policies").paginate(GroupName=group):
            for policy in page.get("AttachedPolicies", []):
                _, document = self._default_document(iam, policy["PolicyArn"])
                grants += [f"{_policy_label(policy['PolicyArn'])}: {g}" for g in self._grants(document)]
        for page in iam.get_paginator("list_group_policies").paginate(GroupName=group):
            for name in page.get("PolicyNames", []):
                document = iam.get_group_policy(GroupName=group, PolicyName=name)["PolicyDocument"]
                grants += [f"inline {name}: {g}" for g in self._grants(document)]
        return {**state, "member": True, "admin_grants": grants}

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
        # A new default (CreatePolicyVersion) rolls back to an earlier version; a switched default
        # (SetDefaultPolicyVersion, possibly to an old version) to the newest other safe one.
        candidates = (
            v for v in versions if v != default and (grant.kind == "default" or _version_number(v) < _version_number(default))
        )
        earlier = sorted(candidates, key=_version_number, reverse=True)
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
        if grant.kind == "membership":
            return [f"iam:RemoveUserFromGroup {grant.principal_name} from group {grant.group_name} ({why})"]
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
        if grant.kind == "membership":
            session.client("iam").remove_user_from_group(GroupName=grant.group_name, UserName=grant.principal_name)
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
        if grant.kind in ("managed", "membership"):
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
        if grant.kind == "membership":
            session.client("iam").add_user_to_group(GroupName=grant.group_name, UserName=grant.principal_name)
            return [f"iam:AddUserToGroup {grant.principal_name} to group {grant.group_name} again"]
        version = str(undo_data["default_version"])
        session.client("iam").set_default_policy_version(PolicyArn=grant.policy_arn, VersionId=version)
        return [f"iam:SetDefaultPolicyVersion {grant.policy_arn} back to {version}"]

    # -- sweep -----------------------------------------------------------------------------------
    def _swept(self, session: MemberSession, kind: str, detail: Mapping[str, Any]) -> bool:
        if kind != "Role":
            return True
        if str(detail.get("Path") or "/").startswith(AWS_OWNED_PATHS):
            return False
        name = str(detail.get("RoleName") or "")
        # Snapback's own member role (its exact name in this account) is never touched by Snapback.
        skip = [session.clients.member_role_name, *self.options.get("sweep_skip_roles", SWEEP_SKIP_ROLES)]
        return not any(fnmatch.fnmatchcase(name, pattern) for pattern in skip)

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        inventory = iam_inventory.read(session)
        partition = session.clients.partition
        for kind, details, inline_key in (
            ("User", inventory.users, "UserPolicyList"),
            ("Role", inventory.roles, "RolePolicyList"),
            ("Group", inventory.groups, "GroupPolicyList"),
        ):
            _, resource_type, prefix = PRINCIPALS[kind]
            for detail in details:
                if not self._swept(session, kind, detail):
                    continue
                name = str(detail.get(f"{kind}Name"))
                arn = str(detail.get("Arn") or f"arn:{partition}:iam::{account}:{prefix}/{name}")
                found: list[tuple[Grant, list[str]]] = []
                for inline in detail.get(inline_key, []):
                    grant = Grant("inline", None, inline.get("PolicyName"), kind, name)
                    found.append((grant, self._grants(inline.get("PolicyDocument"))))
                for attached in detail.get("AttachedManagedPolicies", []):
                    policy_arn = attached["PolicyArn"]
                    grant = Grant("managed", policy_arn, _policy_label(policy_arn), kind, name)
                    found.append((grant, self._grants(inventory.default_document(session, policy_arn))))
                for grant, grants in found:
                    if not grants:
                        continue
                    label = "managed policy" if grant.kind == "managed" else "inline policy"
                    yield Target(
                        account=account,
                        region=IAM_REGION.get(partition, "us-east-1"),
                        resource_type=resource_type,
                        resource_id=name,
                        resource_arn=arn,
                        idempotency_key=self.sweep_key(
                            account, "global", f"{arn}#{grant.kind}#{grant.policy_arn or grant.policy_name}"
                        ),
                        facts={
                            "summary": f"{label} {grant.policy_name} on {grant.principal}: " + "; ".join(grants),
                            "grant": asdict(grant),
                        },
                    )
