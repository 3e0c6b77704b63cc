"""The management account's IAM users and roles keep the Snapback permission boundary.

Service control policies never apply to the management account, so its own IAM principals are
capped by a permission boundary instead (`boundary_policy` below is the document the management
stack offers, as the customer managed policy `snapback-management-boundary`).

Trigger: CloudTrail in us-east-1 of the MANAGEMENT account only (the configured
    `management_account`; every other account is SKIPPED): CreateUser, CreateRole,
    Put{User,Role}PermissionsBoundary and Delete{User,Role}PermissionsBoundary (successful, never
    Snapback's own).
Action: re-read the principal (GetUser / GetRole). One whose boundary is not the configured one
    (option `boundary_policy_arn`, default `arn:<partition>:iam::<management>:policy/
    snapback-management-boundary`) is paged. With option `attach_boundary` true (or on approval)
    Put{User,Role}PermissionsBoundary sets the configured boundary. Never touched: service-linked
    and IAM Identity Center roles (IAM refuses customer changes), Snapback's own member role (a
    boundary there would stop Snapback's undo from removing one). Break-glass principals: an
    exemption in snapback.yaml (`resources`: their ARNs) - never a name rule in code.
Undo: the boundary the principal had before (Put...PermissionsBoundary back to it), or none
    (Delete...PermissionsBoundary). Idempotent.
Permissions: iam:GetUser, iam:GetRole (inspect); iam:PutUserPermissionsBoundary,
    iam:PutRolePermissionsBoundary (apply); iam:DeleteUserPermissionsBoundary,
    iam:DeleteRolePermissionsBoundary (undo). The sweep: iam:GetAccountAuthorizationDetails.
Sweep (the management account only): every user and role of the account's
    GetAccountAuthorizationDetails snapshot (shared with the other IAM sweeps) whose boundary is
    not the configured one, except the never-touched roles above.
Side effects: the principal keeps only what both its identity policies and the boundary allow;
    the boundary allows everything except tampering with itself, making principals without it,
    and leaving or deleting the organization or its trail.
Moto gap: moto implements neither PutUserPermissionsBoundary nor DeleteUserPermissionsBoundary
    and does not return a user's boundary; the user path is tested with botocore's Stubber.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from snapback import iam_inventory
from snapback.clients import MemberSession, error_code
from snapback.errors import NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

BOUNDARY_POLICY_NAME = "snapback-management-boundary"
KINDS = {"User": "userName", "Role": "roleName"}
EVENTS = {
    "CreateUser": "User",
    "CreateRole": "Role",
    "PutUserPermissionsBoundary": "User",
    "PutRolePermissionsBoundary": "Role",
    "DeleteUserPermissionsBoundary": "User",
    "DeleteRolePermissionsBoundary": "Role",
}
AWS_OWNED_PATHS = ("/aws-service-role/", "/aws-reserved/")
IAM_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}


def default_boundary_arn(management_account: str, partition: str = "aws") -> str:
    """The ARN of the boundary the management stack creates (the default of `boundary_policy_arn`)."""
    return f"arn:{partition}:iam::{management_account}:policy/{BOUNDARY_POLICY_NAME}"


def boundary_policy(boundary_arn: str, partition: str = "aws") -> dict[str, Any]:
    """The permission boundary document the management stack offers (as `snapback-management-boundary`).

    A boundary only caps: identity policies still decide what a principal may do. It allows
    everything except what would let a management-account principal escape or blind the boundary.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "CapNothingElse", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {
                "Sid": "KeepTheBoundary",
                "Effect": "Deny",
                "Action": [
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                ],
                "Resource": boundary_arn,
            },
            {
                "Sid": "NoPrincipalEscapesTheBoundary",
                "Effect": "Deny",
                "Action": ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"],
                "Resource": "*",
            },
            {
                "Sid": "NewPrincipalsGetTheBoundary",
                "Effect": "Deny",
                "Action": [
                    "iam:CreateRole",
                    "iam:CreateUser",
                    "iam:PutRolePermissionsBoundary",
                    "iam:PutUserPermissionsBoundary",
                ],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": boundary_arn}},
            },
            {
                "Sid": "KeepTheOrganizationAndItsTrail",
                "Effect": "Deny",
                "Action": [
                    "organizations:DeleteOrganization",
                    "organizations:LeaveOrganization",
                    "cloudtrail:DeleteTrail",
                    "cloudtrail:StopLogging",
                ],
                "Resource": "*",
            },
        ],
    }


@register
class ManagementPermissionBoundary(Remediation):
    name = "management_permission_boundary"
    summary = "Management-account IAM principal without the Snapback permission boundary"
    severity = Severity.HIGH
    finding_type = "Software and Configuration Checks/AWS Security Best Practices/Management account permission boundary"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="IAM user or role created, or its permission boundary changed",
            pattern=cloudtrail_pattern("aws.iam", "iam.amazonaws.com", list(EVENTS)),
        ),
    )
    permissions = (
        "iam:DeleteRolePermissionsBoundary",
        "iam:DeleteUserPermissionsBoundary",
        "iam:GetRole",
        "iam:GetUser",
        "iam:PutRolePermissionsBoundary",
        "iam:PutUserPermissionsBoundary",
    )
    call_budget = 8
    gone_codes = frozenset({"NoSuchEntity"})
    defaults = {"boundary_policy_arn": None, "attach_boundary": False}
    sweep_scope = "account"
    sweep_permissions = ("iam:GetAccountAuthorizationDetails",)
    management_account: str | None = None
    member_role_name: str = "snapback-remediator"

    def configure(self, runtime: Any) -> None:
        # Needed beyond the base: which account is the management account, and Snapback's own role name.
        super().configure(runtime)
        self.management_account = runtime.config.management_account
        self.member_role_name = runtime.config.member_role_name

    def boundary_arn(self, partition: str = "aws") -> str:
        configured = self.options.get("boundary_policy_arn")
        return str(configured) if configured else default_boundary_arn(str(self.management_account), partition)

    def _never_touched(self, kind: str, name: str, path: str = "/") -> str | None:
        if kind == "Role" and path.startswith(AWS_OWNED_PATHS):
            return f"role {name} is owned by AWS ({path})"
        if kind == "Role" and fnmatch.fnmatchcase(name, self.member_role_name):
            return f"role {name} is Snapback's own member role"
        return None

    def _target(self, account: str, partition: str, kind: str, name: str, summary: str) -> Target:
        prefix = kind.lower()
        return Target(
            account=account,
            region=IAM_REGION.get(partition, "us-east-1"),
            resource_type=f"AwsIam{kind}",
            resource_id=name,
            resource_arn=f"arn:{partition}:iam::{account}:{prefix}/{name}",
            idempotency_key=self.sweep_key(account, "global", f"{prefix}/{name}#boundary"),
            facts={"summary": summary, "kind": kind},
        )

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        kind = EVENTS.get(call.event_name)
        if kind is None or call.event_source != "iam.amazonaws.com":
            raise NotApplicable(f"{call.event_name} creates no principal and changes no boundary")
        if event.account != self.management_account:
            raise NotApplicable(f"account {event.account} is not the management account: SCPs cap its principals")
        name = call.request.get(KINDS[kind])
        if not isinstance(name, str) or not name:
            raise NotApplicable(f"{call.event_name} names no {kind.lower()}")
        path = call.request.get("path") if isinstance(call.request.get("path"), str) else "/"
        partition = (call.actor.arn or "arn:aws").split(":")[1] if (call.actor.arn or "").startswith("arn:") else "aws"
        target = self._target(event.account, partition, kind, name, f"{call.event_name}: {kind.lower()} {name}")
        target = dataclasses.replace(
            target,
            idempotency_key=call.idempotency_key(f"boundary#{event.account}#{kind}#{name}#{call.event_time}"),
            principal_arn=call.actor.arn,
        )
        target.facts.update(call.facts())
        why = self._never_touched(kind, name, path)
        if why:
            raise NotApplicable(why, target)
        given = call.request.get("permissionsBoundary")
        if call.event_name.startswith(("Create", "Put")) and given == self.boundary_arn(partition):
            raise NotApplicable("the principal was given the configured boundary", target)
        return target

    # -- inspect ---------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        kind = str(target.facts.get("kind"))
        iam = session.client("iam")
        if kind == "Role":
            detail = iam.get_role(RoleName=target.resource_id)["Role"]
        else:
            detail = iam.get_user(UserName=target.resource_id)["User"]
        boundary = (detail.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        return {
            "kind": kind,
            "name": target.resource_id,
            "boundary": boundary,
            "expected": self.boundary_arn(session.clients.partition),
        }

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return state.get("boundary") == state.get("expected")

    # -- act -------------------------------------------------------------------------------------
    def needs_approval(self, session: MemberSession, target: Target) -> str | None:
        # Paged by default: attaching a boundary can take rights away from a deliberate principal.
        if not self.options.get("attach_boundary"):
            return "management-account principal without the boundary: on-call paged (attach_boundary is off)"
        return None

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        kind = target.facts.get("kind")
        was = state.get("boundary") or "none"
        return [
            f"iam:Put{kind}PermissionsBoundary {state.get('expected') or self.boundary_arn()} on {target.resource_id} (was {was})"
        ]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        kind = str(target.facts.get("kind"))
        call = getattr(session.client("iam"), f"put_{kind.lower()}_permissions_boundary")
        try:
            call(**{f"{kind}Name": target.resource_id}, PermissionsBoundary=state["expected"])
        except ClientError as err:
            # NoSuchEntity names either the principal or the boundary policy. The pipeline reads it as
            # "the principal is gone" (nothing to fix): true only if the principal is indeed gone.
            if error_code(err) != "NoSuchEntity":
                raise
            self.inspect(session, target)  # raises NoSuchEntity again if the principal is gone
            raise PermanentError(
                f"boundary policy {state['expected']} does not exist in the management account: deploy "
                "SnapbackManagementAccount (it creates snapback-management-boundary) or fix boundary_policy_arn"
            ) from err
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"kind": before.get("kind"), "boundary": before.get("boundary")}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        kind = str(undo_data.get("kind"))
        iam = session.client("iam")
        names = {f"{kind}Name": target.resource_id}
        previous = undo_data.get("boundary")
        if previous:
            getattr(iam, f"put_{kind.lower()}_permissions_boundary")(**names, PermissionsBoundary=previous)
            return [f"iam:Put{kind}PermissionsBoundary {previous} on {target.resource_id} (its boundary before)"]
        getattr(iam, f"delete_{kind.lower()}_permissions_boundary")(**names)
        return [f"iam:Delete{kind}PermissionsBoundary on {target.resource_id} (it had none before)"]

    # -- sweep -----------------------------------------------------------------------------------
    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        if account != self.management_account:
            return
        inventory = iam_inventory.read(session)
        expected = self.boundary_arn(session.clients.partition)
        for kind, details in (("User", inventory.users), ("Role", inventory.roles)):
            for detail in details:
                name = str(detail.get(f"{kind}Name"))
                if self._never_touched(kind, name, str(detail.get("Path") or "/")):
                    continue
                boundary = (detail.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
                if boundary != expected:
                    yield self._target(
                        account,
                        session.clients.partition,
                        kind,
                        name,
                        f"management-account {kind.lower()} {name} has boundary {boundary or 'none'}, not {expected}",
                    )
