"""Contain IAM credentials that GuardDuty says are compromised: the named key, and older sessions.

Trigger: GuardDuty findings whose type matches `*:IAMUser/*` and that carry an access key
    (`resource.accessKeyDetails.accessKeyId`): UnauthorizedAccess:IAMUser/
    InstanceCredentialExfiltration.OutsideAWS and .InsideAWS first of all. Which types act is the
    `finding_types` option (globs; default the two exfiltration types and `*:IAMUser/*`), from
    `min_severity` (default 4.0, GuardDuty Medium) up. GuardDuty sample findings never act.
Action: re-read the principal first (findings are triggers, not truth).
    - IAM user (userType IAMUser): set the ONE access key the finding names to Inactive (never the
      user's other keys; an ASIA key is a session, not an IAM key, and is left to the deny), and
      deny the user's sessions issued before now (GetSessionToken / GetFederationToken tokens
      outlive the key that minted them).
    - Role session (userType AssumedRole, e.g. stolen instance credentials): revoke the role's
      older sessions exactly as the IAM console does: inline policy `AWSRevokeOlderSessions`
      denying `*` on `*` when `aws:TokenIssueTime` is before now. New sessions (the instance's
      next refresh included) are not affected.
    The deny's time replaces the one of an earlier AWSRevokeOlderSessions policy (as the console
    does); that earlier document is kept for undo. Compliant: the key is not Active and older
    sessions are denied from at least the finding's last activity.
Undo: re-activate the key (only if it was Active), and put the earlier AWSRevokeOlderSessions
    document back, or delete the policy if there was none. Idempotent.
Permissions: iam:ListAccessKeys, iam:UpdateAccessKey, iam:GetUserPolicy, iam:PutUserPolicy,
    iam:DeleteUserPolicy (users); iam:GetRole, iam:GetRolePolicy, iam:PutRolePolicy,
    iam:DeleteRolePolicy (roles).
Side effects: whatever used the key stops working; every holder of a revoked role's older sessions
    (every instance of an instance profile) is denied until it takes a new session, which
    instance profiles do automatically within minutes. Root credentials cannot be restricted by IAM
    (root_activity_alert pages on root use); service-linked and Snapback's own role are refused
    (FAILED, on-call decides). IAM changes take a few minutes to apply everywhere.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import GUARDDUTY_FINDING, CloudTrailCall, Envelope
from snapback.findings import parse_guardduty
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger

REVOKE_POLICY = "AWSRevokeOlderSessions"  # the name the IAM console's "Revoke active sessions" uses
EXFILTRATION = (
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS",
)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def revoke_document(before: str) -> dict[str, Any]:
    """The console's revoke-sessions policy: deny everything to tokens issued before `before`."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": before}},
            }
        ],
    }


def parse_time(value: Any) -> datetime | None:
    """GuardDuty and IAM timestamps: ISO with Z, with or without fractions, or with a space."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" ", "T").removesuffix("Z").removesuffix("+00:00")
    if "." in text:
        head, fraction = text.split(".", 1)
        text = f"{head}.{fraction[:6]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def revoked_before(document: Any) -> str | None:
    """The TokenIssueTime cut-off of a revoke-sessions policy, or None if it is not one."""
    if not isinstance(document, Mapping):
        return None
    raw = document.get("Statement")
    for statement in raw if isinstance(raw, list) else [raw]:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        actions = statement.get("Action")
        if "*" not in (actions if isinstance(actions, list) else [actions]):
            continue
        condition = statement.get("Condition")
        clause = condition.get("DateLessThan") if isinstance(condition, Mapping) else None
        moment = parse_time(clause.get("aws:TokenIssueTime")) if isinstance(clause, Mapping) else None
        if moment:
            return _stamp(moment)
    return None


def _last_activity(detail: Mapping[str, Any]) -> datetime | None:
    service = detail.get("service") if isinstance(detail.get("service"), Mapping) else {}
    for value in (service.get("eventLastSeen"), detail.get("updatedAt"), detail.get("createdAt")):
        moment = parse_time(value)
        if moment:
            return moment
    return None


def _remote_ip(detail: Mapping[str, Any]) -> str | None:
    service = detail.get("service") if isinstance(detail.get("service"), Mapping) else {}
    action = service.get("action") if isinstance(service.get("action"), Mapping) else {}
    call = action.get("awsApiCallAction") if isinstance(action.get("awsApiCallAction"), Mapping) else {}
    remote = call.get("remoteIpDetails") if isinstance(call.get("remoteIpDetails"), Mapping) else {}
    ip = remote.get("ipAddressV4") or remote.get("ipAddressV6")
    return ip if isinstance(ip, str) else None


@register
class IamContainCredentials(Remediation):
    name = "iam_contain_credentials"
    summary = "IAM credentials reported compromised by GuardDuty"
    severity = Severity.CRITICAL
    finding_type = "TTPs/Credential Access/IAM credentials compromised"
    triggers = (
        Trigger(
            id="guardduty",
            description="GuardDuty IAM finding naming an access key",
            pattern={
                "source": ["aws.guardduty"],
                "detail-type": [GUARDDUTY_FINDING],
                "detail": {
                    "type": [{"wildcard": "*:IAMUser/*"}],
                    "resource": {"accessKeyDetails": {"accessKeyId": [{"exists": True}]}},
                },
            },
        ),
    )
    permissions = (
        "iam:DeleteRolePolicy",
        "iam:DeleteUserPolicy",
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:GetUserPolicy",
        "iam:ListAccessKeys",
        "iam:PutRolePolicy",
        "iam:PutUserPolicy",
        "iam:UpdateAccessKey",
    )
    call_budget = 16
    gone_codes = frozenset({"NoSuchEntity"})
    defaults = {"finding_types": [*EXFILTRATION, "*:IAMUser/*"], "min_severity": 4.0}

    # -- resolve ---------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if event.detail_type != GUARDDUTY_FINDING:
            raise NotApplicable("not a GuardDuty finding")
        finding = parse_guardduty(event.detail)
        kind = {"IAMUser": "user", "AssumedRole": "role"}.get(finding.user_type or "")
        name, key = finding.user_name, finding.access_key_id
        arn = f"arn:aws:iam::{finding.account}:{kind}/{name}" if kind and name else None
        target = Target(
            account=finding.account,
            region="us-east-1",  # IAM is global; the finding's own Region is in the facts
            resource_type="AwsIamAccessKey" if kind == "user" else "AwsIamRole",
            resource_id=(key if kind == "user" else name) or finding.id or "unknown",
            resource_arn=arn or f"arn:aws:iam::{finding.account}:unknown/{finding.user_type}",
            idempotency_key=f"{finding.idempotency_key}#contain-credentials",
            principal_arn=arn,
            facts={
                "summary": f"GuardDuty {finding.type} (severity {finding.severity:g}): "
                f"{finding.user_type or 'unknown'} {name or '?'}, key {key or '?'}",
                "finding_id": finding.id,
                "finding_arn": finding.arn,
                "finding_type": finding.type,
                "finding_region": finding.region,
                "severity": finding.severity,
                "principal_id": finding.principal_id,
                "source_ip": _remote_ip(event.detail),
                "credential": {"kind": kind, "name": name, "access_key_id": key},
            },
        )
        patterns = [str(p) for p in self.options.get("finding_types", [])]
        if not any(fnmatch.fnmatchcase(finding.type, p) for p in patterns):
            raise NotApplicable(f"finding type {finding.type} is not in the finding_types option", target)
        if finding.severity < float(self.options.get("min_severity", 0)):
            raise NotApplicable(f"severity {finding.severity:g} is below min_severity {self.options['min_severity']}", target)
        if finding.user_type == "Root":
            raise NotApplicable("root credentials cannot be restricted by IAM (root_activity_alert pages on root use)", target)
        if not kind:
            raise NotApplicable(
                f"userType {finding.user_type or 'missing'}: only IAM users and role sessions are contained", target
            )
        if not name:
            raise MalformedEvent("finding names no user or role (resource.accessKeyDetails.userName missing)")
        if kind == "user" and not key:
            raise MalformedEvent("finding names no access key (resource.accessKeyDetails.accessKeyId missing)")
        # Sessions used up to the finding's last activity must be denied; never a time in the future.
        now = datetime.now(UTC)
        seen = min(_last_activity(event.detail) or now, now)
        target.facts["deny_sessions_issued_before"] = _stamp(seen)
        return target

    # -- inspect ---------------------------------------------------------------------------------
    @staticmethod
    def _credential(target: Target) -> tuple[str, str, str | None]:
        raw = target.facts.get("credential")
        if not isinstance(raw, Mapping) or raw.get("kind") not in ("user", "role") or not raw.get("name"):
            raise PermanentError("the target records no user or role to contain")
        return str(raw["kind"]), str(raw["name"]), raw.get("access_key_id")

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        kind, name, key = self._credential(target)
        iam = session.client("iam")
        state: dict[str, Any] = {
            "principal": f"{kind}/{name}",
            "must_deny_before": target.facts.get("deny_sessions_issued_before"),
        }
        if kind == "user":
            keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]  # NoSuchEntity: the user is gone
            status = next((k.get("Status") for k in keys if k.get("AccessKeyId") == key), None)
            state["access_key"] = {"id": key, "status": status or ("session key" if str(key).startswith("ASIA") else "not found")}
        else:
            role = iam.get_role(RoleName=name)["Role"]  # NoSuchEntity: the role is gone
            state["role_path"] = role.get("Path", "/")
        try:
            kwargs = {"UserName": name} if kind == "user" else {"RoleName": name}
            getter = iam.get_user_policy if kind == "user" else iam.get_role_policy
            document = getter(PolicyName=REVOKE_POLICY, **kwargs)["PolicyDocument"]
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            document = None
        state["revoke_policy"] = document
        state["sessions_denied_before"] = revoked_before(document)
        return state

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        key = state.get("access_key")
        if isinstance(key, Mapping) and key.get("status") == "Active":
            return False
        denied, needed = state.get("sessions_denied_before"), state.get("must_deny_before")
        return bool(denied) and (not needed or str(denied) >= str(needed))

    # -- act -------------------------------------------------------------------------------------
    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        kind, name, key = self._credential(target)
        steps = []
        access_key = state.get("access_key")
        if kind == "user" and (not state or (isinstance(access_key, Mapping) and access_key.get("status") == "Active")):
            steps.append(f"iam:UpdateAccessKey {key} of user {name} -> Inactive (only this key)")
        where = "user" if kind == "user" else "role"
        steps.append(
            f"iam:Put{where.capitalize()}Policy {REVOKE_POLICY} on {where} {name}: deny sessions issued before now"
            + (f" (replaces the cut-off {state['sessions_denied_before']})" if state.get("sessions_denied_before") else "")
        )
        return steps

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        kind, name, key = self._credential(target)
        if kind == "role" and name == session.clients.member_role_name:
            raise PermanentError(f"refusing to revoke Snapback's own role {name}: rotate it by hand and investigate")
        if kind == "role" and str(state.get("role_path", "/")).startswith("/aws-service-role/"):
            raise PermanentError(f"{name} is a service-linked role: its sessions cannot be revoked")
        iam = session.client("iam")
        undo = self.undo_data_for(target, state)
        if undo["reactivate_key"]:
            iam.update_access_key(UserName=name, AccessKeyId=key, Status="Inactive")
        document = json.dumps(revoke_document(_stamp(datetime.now(UTC))))
        if kind == "user":
            iam.put_user_policy(UserName=name, PolicyName=REVOKE_POLICY, PolicyDocument=document)
        else:
            iam.put_role_policy(RoleName=name, PolicyName=REVOKE_POLICY, PolicyDocument=document)
        return undo

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        kind, name, key = self._credential(target)
        access_key = before.get("access_key") if isinstance(before.get("access_key"), Mapping) else {}
        return {
            "credential": {"kind": kind, "name": name, "access_key_id": key},
            "reactivate_key": kind == "user" and access_key.get("status") == "Active",
            "previous_revoke_policy": before.get("revoke_policy"),
        }

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        credential = undo_data.get("credential") if isinstance(undo_data.get("credential"), Mapping) else {}
        kind, name, key = credential.get("kind"), str(credential.get("name")), credential.get("access_key_id")
        iam = session.client("iam")
        done = []
        if kind == "user" and undo_data.get("reactivate_key"):
            iam.update_access_key(UserName=name, AccessKeyId=key, Status="Active")
            done.append(f"iam:UpdateAccessKey {key} of user {name} -> Active")
        kwargs = {"UserName": name} if kind == "user" else {"RoleName": name}
        previous = undo_data.get("previous_revoke_policy")
        if previous:
            putter = iam.put_user_policy if kind == "user" else iam.put_role_policy
            putter(PolicyName=REVOKE_POLICY, PolicyDocument=json.dumps(previous), **kwargs)
            done.append(f"{REVOKE_POLICY} on {kind} {name}: the earlier document put back")
            return done
        deleter = iam.delete_user_policy if kind == "user" else iam.delete_role_policy
        try:
            deleter(PolicyName=REVOKE_POLICY, **kwargs)
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
        done.append(f"{REVOKE_POLICY} removed from {kind} {name} (there was none before)")
        return done
