"""Credentials made for someone else: an access key or a console password for another IAM user.

Trigger: CloudTrail in us-east-1 (IAM is global; successful calls only, never Snapback's own, never
    the root user's: root_activity_alert pages those): CreateAccessKey, CreateLoginProfile and
    UpdateLoginProfile whose `requestParameters.userName` is not the caller. The caller owns the
    user only when it IS that IAM user: `userIdentity.type` IAMUser, of the same account, with that
    `userName`. An assumed-role or federated session never owns an IAM user, whatever its session
    name says (the caller chooses the session name); a call naming no user acts on the caller
    itself and never fires.
Action: re-read IAM first (events are triggers, not truth):
    - CreateAccessKey: the new key (`responseElements.accessKey.accessKeyId`), if still Active, is
      deactivated (UpdateAccessKey Inactive; nothing deleted, the key stays as evidence) and
      on-call is paged with the REMEDIATED outcome.
    - CreateLoginProfile / UpdateLoginProfile: a page; the console password stays. With option
      `delete_login_profiles` true (or on approval) the login profile is deleted: nobody signs in
      to the console as that user any more; its access keys and everything else are untouched.
Undo: the key is set Active again. A deleted login profile is recreated with a new random
    password and PasswordResetRequired: the owner must choose their own at the first sign-in.
    The password is put in Secrets Manager of the SECURITY account, where undo runs
    (`snapback/undo/login-profile/<account>/<user>`, default aws/secretsmanager key), before the
    profile is created, and appears nowhere else (not in the audit record, SNS or Security Hub).
    Why there: whoever reads it can sign in first and set the password, so it must not sit in the
    member account whose IAM was just abused; the security team, which ran the undo, verifies the
    owner out of band and hands the password over, then deletes the secret.
Permissions: iam:ListAccessKeys, iam:GetLoginProfile (inspect); iam:UpdateAccessKey,
    iam:DeleteLoginProfile (apply); iam:CreateLoginProfile (undo). The undo's
    secretsmanager:CreateSecret / PutSecretValue are the operator's (security account), not the
    member role's.
Side effects: whoever uses the new key gets InvalidClientTokenId at once. Teams that issue
    credentials to others on purpose (an identity team's automation) belong in an exemption with
    `principals` = that automation's role.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.errors import NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

CREATE_KEY = "CreateAccessKey"
LOGIN_PROFILE = ("CreateLoginProfile", "UpdateLoginProfile")
IAM_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}
SECRET_PREFIX = "snapback/undo/login-profile"


def owner(call: CloudTrailCall, account: str) -> str | None:
    """The IAM user making the call, when it is an IAM user of `account` (its own user name), else None."""
    actor = call.actor
    if actor.type != "IAMUser" or actor.account_id != account:
        return None
    return actor.user_name or (actor.arn.rsplit("/", 1)[-1] if actor.arn and ":user/" in actor.arn else None)


def _pattern() -> dict[str, Any]:
    pattern = cloudtrail_pattern("aws.iam", "iam.amazonaws.com", [CREATE_KEY, *LOGIN_PROFILE])
    pattern["detail"]["userIdentity"]["type"] = [{"anything-but": ["Root"]}]
    return pattern


def new_password(length: int = 32) -> str:
    """A random password meeting any IAM password policy (every character class, max length 128)."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!@#$%^&*()_+-=[]{}|'")
    chars = [secrets.choice(c) for c in classes] + [secrets.choice("".join(classes)) for _ in range(length - len(classes))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


@register
class IamForeignCredentials(Remediation):
    name = "iam_foreign_credentials"
    summary = "Access key or console password created for another IAM user"
    severity = Severity.CRITICAL
    finding_type = "TTPs/Persistence/IAM credentials created for another user"
    triggers = (Trigger(id="cloudtrail", description="Access key or login profile made for an IAM user", pattern=_pattern()),)
    permissions = (
        "iam:CreateLoginProfile",
        "iam:DeleteLoginProfile",
        "iam:GetLoginProfile",
        "iam:ListAccessKeys",
        "iam:UpdateAccessKey",
    )
    call_budget = 13
    gone_codes = frozenset({"NoSuchEntity"})
    defaults = {"delete_login_profiles": False}

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name not in (CREATE_KEY, *LOGIN_PROFILE) or call.event_source != "iam.amazonaws.com":
            raise NotApplicable(f"{call.event_name} makes no IAM user credentials")
        if call.actor.type == "Root":
            raise NotApplicable("made by the root user: root_activity_alert pages that")
        named = call.request.get("userName")
        caller = owner(call, event.account)
        if not isinstance(named, str) or not named:
            raise NotApplicable(f"{call.event_name} names no user: it acts on the caller's own credentials")
        partition = (call.actor.arn or "arn:aws").split(":")[1] if (call.actor.arn or "").startswith("arn:") else "aws"
        kind = "access_key" if call.event_name == CREATE_KEY else "login_profile"
        facts: dict[str, Any] = {"kind": kind, "user": named, **call.facts()}
        if kind == "access_key":
            key = (call.response or {}).get("accessKey")
            key_id = key.get("accessKeyId") if isinstance(key, Mapping) else None
            facts["access_key_id"] = key_id if isinstance(key_id, str) and key_id else None
            what = f"access key {facts['access_key_id'] or '(id not in the event)'}"
        else:
            what = "console password (login profile)" + (" changed" if call.event_name == "UpdateLoginProfile" else "")
        target = Target(
            account=event.account,
            region=IAM_REGION.get(partition, "us-east-1"),
            resource_type="AwsIamUser",
            resource_id=named,
            resource_arn=f"arn:{partition}:iam::{event.account}:user/{named}",
            idempotency_key=call.idempotency_key(f"creds#{event.account}#{named}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts={**facts, "summary": f"{call.event_name}: {what} for user {named} by {call.actor.display}"},
        )
        if caller == named:
            raise NotApplicable(f"user {named} made its own credentials", target)
        return target

    # -- inspect ---------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        iam = session.client("iam")
        user = target.resource_id
        if target.facts.get("kind") == "access_key":
            key_id = target.facts.get("access_key_id")
            keys = {
                k["AccessKeyId"]: k.get("Status")
                for page in iam.get_paginator("list_access_keys").paginate(UserName=user)
                for k in page.get("AccessKeyMetadata", [])
            }
            return {"kind": "access_key", "user": user, "access_key_id": key_id, "status": keys.get(key_id) if key_id else None}
        try:
            profile = iam.get_login_profile(UserName=user)["LoginProfile"]
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            return {"kind": "login_profile", "user": user, "login_profile": False}
        return {
            "kind": "login_profile",
            "user": user,
            "login_profile": True,
            "password_reset_required": bool(profile.get("PasswordResetRequired")),
        }

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        if state.get("kind") == "access_key":
            # A key the event does not name cannot be shown to be off: on-call must look (FAILED, not silence).
            return bool(state.get("access_key_id")) and state.get("status") != "Active"
        return not state.get("login_profile")

    # -- act -------------------------------------------------------------------------------------
    def needs_approval(self, session: MemberSession, target: Target) -> str | None:
        # A console password for someone else is paged; deleting it is opt-in (or approved by a person).
        if target.facts.get("kind") == "login_profile" and not self.options.get("delete_login_profiles"):
            return "console password set for another user: on-call paged (delete_login_profiles is off)"
        return None

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        user = target.resource_id
        if target.facts.get("kind") == "access_key":
            return [f"iam:UpdateAccessKey {target.facts.get('access_key_id')} of user {user} to Inactive (kept as evidence)"]
        return [f"iam:DeleteLoginProfile of user {user}: no console sign-in as {user} until undone"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        iam = session.client("iam")
        user = target.resource_id
        if target.facts.get("kind") == "access_key":
            key_id = target.facts.get("access_key_id")
            if not key_id:
                raise PermanentError(
                    f"the event does not name the new key of {user}: list them with "
                    f"`aws iam list-access-keys --user-name {user}` and deactivate the one created at {target.facts.get('event_time')}"
                )
            iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
        else:
            iam.delete_login_profile(UserName=user)
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        if target.facts.get("kind") == "access_key":
            return {"kind": "access_key", "access_key_id": target.facts.get("access_key_id"), "status": "Active"}
        return {"kind": "login_profile", "user": target.resource_id}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        iam = session.client("iam")
        user = target.resource_id
        if undo_data.get("kind") == "access_key":
            iam.update_access_key(UserName=user, AccessKeyId=undo_data["access_key_id"], Status="Active")
            return [f"iam:UpdateAccessKey {undo_data['access_key_id']} of user {user} to Active again"]
        try:
            iam.get_login_profile(UserName=user)
            return [f"user {user} has a login profile again (made since): left as it is, no password issued"]
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
        password = new_password()
        secret = self._store_password(session, user, password)
        iam.create_login_profile(UserName=user, Password=password, PasswordResetRequired=True)
        return [
            f"iam:CreateLoginProfile for user {user} with a new random password, reset required at first sign-in; "
            f"the password is in Secrets Manager of the security account: {secret} (hand it to the verified owner, then delete it)"
        ]

    def _store_password(self, session: MemberSession, user: str, password: str) -> str:
        """Put the password in the security account's Secrets Manager (the operator's own credentials)."""
        secrets_manager = session.clients.client("secretsmanager")
        name = f"{SECRET_PREFIX}/{session.account}/{user}"
        try:
            secrets_manager.create_secret(
                Name=name,
                SecretString=password,
                Description=f"Snapback undo: console password of IAM user {user} in {session.account} (reset required)",
                Tags=[{"Key": "snapback", "Value": "undo-login-profile"}],
            )
        except ClientError as err:
            if error_code(err) != "ResourceExistsException":
                raise
            secrets_manager.put_secret_value(SecretId=name, SecretString=password)
        return name
