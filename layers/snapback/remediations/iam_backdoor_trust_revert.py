"""Take back a role trust policy that lets in someone outside the organization (a backdoor role).

Trigger: CloudTrail in us-east-1 (IAM is global; successful calls only, never Snapback's own):
    UpdateAssumeRolePolicy and CreateRole whose trust policy (snapback.iam_trust) lets in
    everyone (`*`, `{"AWS": "*"}`, NotPrincipal), an account outside the organization (its root,
    a user, a role or a session of it: `in_org` decides, exactly), or a federated identity
    provider (OIDC, SAML, public web identity) not in option `allowed_identity_providers`
    (fnmatch patterns on the provider ARN or name; default: the IAM Identity Center SAML
    providers, `arn:aws:iam::*:saml-provider/AWSSSO_*_DO_NOT_DELETE`). Never: trust in accounts
    of the organization, AWS service principals, a `*` pinned by aws:PrincipalAccount to
    accounts of the organization. Also IAM Access Analyzer findings (`Access Analyzer Finding`,
    ACTIVE, resourceType AWS::IAM::Role) of an analyzer in the role's own account: the finding
    only names the role, the live trust decides (an account-zone analyzer also reports accounts
    of the organization: those are ALREADY_COMPLIANT here). Findings of an organization-zone
    analyzer in the security account are not acted on yet: the account binding (snapback.guards)
    lets only Security Hub and GuardDuty events from the security account name member resources.
Action: re-read the role (GetRole; events are triggers, not truth):
    - changed trust (UpdateAssumeRolePolicy, or a violation the sweep found): UpdateAssumeRolePolicy
      with the live document minus every untrusted principal (statements and principals the
      organization trusts are kept as they are; nothing left -> one explicit Deny). The live
      document is kept in the audit record for undo. The previous document is not in the event:
      taking out only what lets outsiders in cannot undo a legitimate edit made since.
    - a new role (CreateRole) with such trust: a page, nothing changed (the role may be a partner
      integration being set up). With option `quarantine_new_roles` true (or on approval) the role
      gets an inline deny-all policy `SnapbackQuarantineDenyAll` (Deny * on *): whoever assumes it
      can do nothing, the role and its trust stay for the investigation.
Undo: UpdateAssumeRolePolicy back to the recorded document (the attacker's, restoring exactly
    what was there); or DeleteRolePolicy of the quarantine policy. Both idempotent.
Permissions: iam:GetRole, iam:GetRolePolicy (inspect); iam:UpdateAssumeRolePolicy,
    iam:PutRolePolicy (apply); iam:DeleteRolePolicy (undo). The sweep:
    iam:GetAccountAuthorizationDetails.
Sweep (once per account): every role of the account's GetAccountAuthorizationDetails (the snapshot
    shared with the other IAM sweeps, snapback.iam_inventory) whose trust lets in someone outside
    the organization is a violation, handled like a changed trust. Service-linked and IAM
    Identity Center roles (/aws-service-role/, /aws-reserved/) are never swept: IAM refuses
    customer changes to them.
Side effects: the outside principal can no longer assume the role (its live sessions last until
    they expire: up to the role's maximum session duration). A deliberate partner trust belongs in
    an exemption (`resources`: the role's ARN) - an outside account is never trusted by name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from snapback import iam_inventory
from snapback.clients import MemberSession, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.iam_trust import untrusted_principals, without_untrusted
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

CREATE_ROLE = "CreateRole"
UPDATE_TRUST = "UpdateAssumeRolePolicy"
QUARANTINE_POLICY = "SnapbackQuarantineDenyAll"
DENY_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "SnapbackQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}
IAM_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}
AWS_OWNED_PATHS = ("/aws-service-role/", "/aws-reserved/")
IDENTITY_CENTER_PROVIDERS = "arn:aws:iam::*:saml-provider/AWSSSO_*_DO_NOT_DELETE"
ACCESS_ANALYZER_FINDING = "Access Analyzer Finding"


def _partition(arn: str | None) -> str:
    parts = (arn or "").split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


@register
class IamBackdoorTrustRevert(Remediation):
    name = "iam_backdoor_trust_revert"
    summary = "Role trust policy letting in someone outside the organization"
    severity = Severity.CRITICAL
    finding_type = "TTPs/Persistence/IAM role trusting a principal outside the organization"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Role created or its trust policy changed",
            pattern=cloudtrail_pattern("aws.iam", "iam.amazonaws.com", [CREATE_ROLE, UPDATE_TRUST]),
        ),
        Trigger(
            id="access_analyzer",
            description="IAM Access Analyzer: a role is accessible from outside the zone of trust",
            pattern={
                "source": ["aws.access-analyzer"],
                "detail-type": [ACCESS_ANALYZER_FINDING],
                "detail": {"resourceType": ["AWS::IAM::Role"], "status": ["ACTIVE"]},
            },
        ),
    )
    permissions = ("iam:DeleteRolePolicy", "iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy")
    call_budget = 16
    gone_codes = frozenset({"NoSuchEntity"})
    defaults = {"allowed_identity_providers": [IDENTITY_CENTER_PROVIDERS], "quarantine_new_roles": False}
    sweep_scope = "account"
    sweep_permissions = ("iam:GetAccountAuthorizationDetails",)

    def _untrusted(self, document: Any) -> list[str]:
        return untrusted_principals(
            document, in_org=self.in_org, allowed_providers=self.options.get("allowed_identity_providers") or ()
        )

    # -- resolve ---------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None and event.source == "aws.access-analyzer" and event.detail_type == ACCESS_ANALYZER_FINDING:
            return self._from_access_analyzer(event)
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name not in (CREATE_ROLE, UPDATE_TRUST) or call.event_source != "iam.amazonaws.com":
            raise NotApplicable(f"{call.event_name} sets no role trust")
        role = call.request.get("roleName")
        if not isinstance(role, str) or not role:
            raise NotApplicable(f"{call.event_name} names no role (requestParameters.roleName missing)")
        new = call.event_name == CREATE_ROLE
        document = call.request.get("assumeRolePolicyDocument" if new else "policyDocument")
        partition = _partition(call.actor.arn)
        kind = "new_role" if new else "trust"
        target = self._target(event.account, partition, role, kind, f"{call.event_name}: role {role}")
        target = dataclasses.replace(
            target,
            idempotency_key=call.idempotency_key(f"trust#{event.account}#{role}#{call.event_time}"),
            principal_arn=call.actor.arn,
        )
        target.facts.update(call.facts())
        try:
            outsiders = self._untrusted(document)
        except MalformedEvent:
            target.facts["summary"] += " (trust document unreadable in the event; the live document decides)"
        else:
            if not outsiders:
                raise NotApplicable("the trust policy lets in only the organization and AWS services", target)
            target.facts["summary"] += " trusts " + "; ".join(outsiders)
        return target

    def _from_access_analyzer(self, event: Envelope) -> Target:
        detail = event.detail
        if detail.get("resourceType") != "AWS::IAM::Role" or detail.get("status") != "ACTIVE":
            raise NotApplicable(
                f"Access Analyzer finding on {detail.get('resourceType')} ({detail.get('status')}), not an active role finding"
            )
        arn = detail.get("resource")
        parts = arn.split(":", 5) if isinstance(arn, str) else []
        if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise MalformedEvent(f"Access Analyzer finding resource is not a role ARN: {arn!r}")
        if detail.get("accountId") not in (None, parts[4]):
            raise MalformedEvent(f"finding account {detail.get('accountId')} does not own {arn}")
        role = parts[5].rsplit("/", 1)[-1]
        principal = json.dumps(detail.get("principal") or {}, sort_keys=True)
        target = self._target(
            parts[4], parts[1] or "aws", role, "trust", f"IAM Access Analyzer: role {role} accessible to {principal}"
        )
        finding = detail.get("id")
        if not isinstance(finding, str) or not finding:
            raise MalformedEvent("Access Analyzer finding without an id")
        # The finding's own id and update time: every copy of one finding is one key (never the event id).
        return dataclasses.replace(target, idempotency_key=f"access-analyzer#{finding}#{detail.get('updatedAt') or '-'}")

    def _target(self, account: str, partition: str, role: str, kind: str, summary: str) -> Target:
        return Target(
            account=account,
            region=IAM_REGION.get(partition, "us-east-1"),
            resource_type="AwsIamRole",
            resource_id=role,
            resource_arn=f"arn:{partition}:iam::{account}:role/{role}",
            idempotency_key=self.sweep_key(account, "global", f"role/{role}#trust"),
            facts={"summary": summary, "kind": kind},
        )

    # -- inspect ---------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        iam = session.client("iam")
        trust = iam.get_role(RoleName=target.resource_id)["Role"]["AssumeRolePolicyDocument"]
        state: dict[str, Any] = {"kind": target.facts.get("kind"), "role": target.resource_id, "trust": trust}
        state["untrusted"] = self._untrusted(trust)
        if target.facts.get("kind") == "new_role":
            try:
                iam.get_role_policy(RoleName=target.resource_id, PolicyName=QUARANTINE_POLICY)
                state["quarantined"] = True
            except ClientError as err:
                if error_code(err) != "NoSuchEntity":
                    raise
                state["quarantined"] = False
        return state

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return not state.get("untrusted") or bool(state.get("quarantined"))

    # -- act -------------------------------------------------------------------------------------
    def needs_approval(self, session: MemberSession, target: Target) -> str | None:
        # A new role is paged, not changed, unless the team opted in (or a person approved it).
        if target.facts.get("kind") == "new_role" and not self.options.get("quarantine_new_roles"):
            return "new role trusting outside the organization: on-call paged (quarantine_new_roles is off)"
        return None

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        who = "; ".join(state.get("untrusted") or []) or "principals outside the organization"
        if target.facts.get("kind") == "new_role":
            return [f"iam:PutRolePolicy {QUARANTINE_POLICY} (Deny * on *) on new role {target.resource_id}, which trusts {who}"]
        return [
            f"iam:UpdateAssumeRolePolicy on role {target.resource_id}: take out {who}; "
            "the current trust policy is kept in the audit record for undo"
        ]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        iam = session.client("iam")
        if target.facts.get("kind") == "new_role":
            iam.put_role_policy(RoleName=target.resource_id, PolicyName=QUARANTINE_POLICY, PolicyDocument=json.dumps(DENY_ALL))
        else:
            kept = without_untrusted(
                state["trust"], in_org=self.in_org, allowed_providers=self.options.get("allowed_identity_providers") or ()
            )
            iam.update_assume_role_policy(RoleName=target.resource_id, PolicyDocument=json.dumps(kept))
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        if target.facts.get("kind") == "new_role":
            return {"kind": "new_role", "quarantine_policy": QUARANTINE_POLICY}
        return {"kind": "trust", "trust": before["trust"]}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        iam = session.client("iam")
        if undo_data.get("kind") == "new_role":
            try:
                iam.delete_role_policy(RoleName=target.resource_id, PolicyName=QUARANTINE_POLICY)
            except ClientError as err:
                if error_code(err) != "NoSuchEntity":
                    raise
                return [f"{QUARANTINE_POLICY} is already gone from role {target.resource_id}: nothing to undo"]
            return [f"iam:DeleteRolePolicy {QUARANTINE_POLICY} on role {target.resource_id}"]
        if "trust" not in undo_data:
            raise PermanentError("the audit record holds no trust policy to restore")
        iam.update_assume_role_policy(RoleName=target.resource_id, PolicyDocument=json.dumps(undo_data["trust"]))
        return [f"iam:UpdateAssumeRolePolicy on role {target.resource_id}: the recorded trust policy restored"]

    # -- sweep -----------------------------------------------------------------------------------
    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        for role in iam_inventory.read(session).roles:
            if str(role.get("Path") or "/").startswith(AWS_OWNED_PATHS):
                continue
            outsiders = self._untrusted(role.get("AssumeRolePolicyDocument") or {})
            if outsiders:
                name = str(role["RoleName"])
                yield self._target(
                    account, session.clients.partition, name, "trust", f"role {name} trusts " + "; ".join(outsiders)
                )
