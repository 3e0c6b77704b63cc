"""Turn automatic rotation back on for a customer-managed KMS key whose rotation was disabled.

Trigger: CloudTrail DisableKeyRotation (successful calls only, never Snapback's own); Security Hub
    KMS.4 ("AWS KMS key rotation should be enabled") FAILED findings from AWS's own products.
Action: re-read the key (DescribeKey, GetKeyRotationStatus). Only a rotation candidate is acted
    on: KeyManager CUSTOMER, KeySpec SYMMETRIC_DEFAULT, Origin AWS_KMS (not imported material,
    not a custom key store) and not a multi-Region replica (rotation follows its primary). A key
    pending deletion is left alone. A candidate whose rotation is off gets EnableKeyRotation
    (with the `rotation_period_days` option if set, else AWS's default of 365 days); then the
    status is read again to verify. A candidate that is not Enabled (e.g. Disabled) cannot have
    rotation enabled: FAILED with that reason, for on-call to follow up.
Undo: DisableKeyRotation, only while rotation is on (idempotent); Snapback only ever enabled it
    on a key whose rotation was off, so this is the exact before state.
Permissions: kms:DescribeKey, kms:GetKeyRotationStatus, kms:EnableKeyRotation,
    kms:DisableKeyRotation (undo); the sweep: kms:ListKeys.
Sweep (every configured Region): every key of the account is listed and inspected like an event's
    key; each rotation candidate whose rotation is off is a violation (AWS-managed, asymmetric,
    imported, replica and pending-deletion keys never are).
Side effects: none for users of the key: KMS keeps every earlier key material version, so old
    ciphertexts still decrypt; each rotation adds to the key's monthly cost (first two rotations).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from snapback.clients import MemberSession
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.findings import AsffFinding
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, cloudtrail_pattern

SETTLED = ("PendingDeletion", "PendingReplicaDeletion")  # rotation is moot for a key on its way out


def key_ref(value: str, account: str, region: str) -> tuple[str, str, str, str]:
    """(account, region, key id, key ARN) of a key named by id or key ARN (DisableKeyRotation takes both)."""
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        if len(parts) != 6 or parts[2] != "kms" or not parts[5].startswith("key/"):
            raise MalformedEvent(f"not a KMS key ARN: {value!r}")
        return parts[4], parts[3], parts[5][len("key/") :], value
    return account, region, value, f"arn:aws:kms:{region}:{account}:key/{value}"


def why_not_candidate(meta: Mapping[str, Any]) -> str | None:
    """Why automatic rotation does not apply to this key, or None if it does."""
    spec = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec")
    replica = (meta.get("MultiRegionConfiguration") or {}).get("MultiRegionKeyType") == "REPLICA"
    checks = (
        (meta.get("KeyManager") != "CUSTOMER", f"KeyManager is {meta.get('KeyManager')}: AWS manages its rotation"),
        (spec != "SYMMETRIC_DEFAULT", f"KeySpec {spec} does not support automatic rotation"),
        (meta.get("Origin", "AWS_KMS") != "AWS_KMS", f"Origin {meta.get('Origin')} does not support automatic rotation"),
        (replica, "multi-Region replica: rotation is set on its primary key"),
        (meta.get("KeyState") in SETTLED, f"key is {meta.get('KeyState')}"),
    )
    return next((reason for failed, reason in checks if failed), None)


@register
class KmsEnableKeyRotation(Remediation):
    name = "kms_enable_key_rotation"
    summary = "KMS key rotation disabled"
    severity = Severity.MEDIUM
    finding_type = "Software and Configuration Checks/AWS Security Best Practices/KMS key rotation"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="Automatic rotation disabled on a KMS key",
            pattern=cloudtrail_pattern("aws.kms", "kms.amazonaws.com", ["DisableKeyRotation"]),
        ),
    )
    controls = ("KMS.4",)
    permissions = ("kms:DescribeKey", "kms:DisableKeyRotation", "kms:EnableKeyRotation", "kms:GetKeyRotationStatus")
    call_budget = 14
    gone_codes = frozenset({"NotFoundException"})
    defaults = {"rotation_period_days": None}
    sweep_scope = "region"
    sweep_permissions = ("kms:ListKeys",)

    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is None:
            raise NotApplicable("not a CloudTrail call")
        if call.event_name != "DisableKeyRotation" or call.event_source != "kms.amazonaws.com":
            raise NotApplicable(f"{call.event_name} does not disable key rotation")
        key = call.request.get("keyId")
        if not isinstance(key, str) or not key:
            raise NotApplicable("DisableKeyRotation names no key (requestParameters.keyId missing)")
        account, region, key_id, arn = key_ref(key, event.account, call.region or event.region)
        return Target(
            account=account,
            region=region,
            resource_type="AwsKmsKey",
            resource_id=key_id,
            resource_arn=arn,
            idempotency_key=call.idempotency_key(f"kms#{arn}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts={
                "summary": f"automatic rotation disabled on KMS key {key_id}",
                **call.facts(),
            },
        )

    def resolve_finding(self, event: Envelope, finding: AsffFinding) -> Target:
        resource = next((r for r in finding.resources if r.type == "AwsKmsKey" and r.id), None)
        if resource is None:
            raise NotApplicable(f"{finding.control_id} finding names no AwsKmsKey resource")
        account, region, key_id, arn = key_ref(resource.id, finding.account, resource.region or finding.region)
        return Target(
            account=account,
            region=region,
            resource_type="AwsKmsKey",
            resource_id=key_id,
            resource_arn=arn,
            idempotency_key=f"{finding.idempotency_key}#EnableKeyRotation",
            facts={"summary": f"Security Hub {finding.control_id}: {finding.title}", "control": finding.control_id},
        )

    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        for page in session.client("kms").get_paginator("list_keys").paginate():
            for key in page.get("Keys", []):
                _, _, key_id, arn = key_ref(key["KeyArn"], account, region)
                target = Target(
                    account=account,
                    region=region,
                    resource_type="AwsKmsKey",
                    resource_id=key_id,
                    resource_arn=arn,
                    idempotency_key=self.sweep_key(account, region, arn),
                    facts={"summary": f"automatic rotation is off on KMS key {key_id}"},
                )
                if not self.is_compliant(self.inspect(session, target)):
                    yield target

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        kms = session.client("kms")
        meta = kms.describe_key(KeyId=target.resource_arn)["KeyMetadata"]
        state: dict[str, Any] = {
            "key_manager": meta.get("KeyManager"),
            "key_spec": meta.get("KeySpec") or meta.get("CustomerMasterKeySpec"),
            "key_state": meta.get("KeyState"),
            "origin": meta.get("Origin"),
            "not_a_candidate": why_not_candidate(meta),
            "rotation_enabled": None,
        }
        if state["not_a_candidate"] is None:
            status = kms.get_key_rotation_status(KeyId=target.resource_arn)
            state["rotation_enabled"] = bool(status.get("KeyRotationEnabled"))
            if status.get("RotationPeriodInDays"):
                state["rotation_period_days"] = status["RotationPeriodInDays"]
        return state

    def verify(
        self, session: MemberSession, target: Target, before: Mapping[str, Any], undo: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Rotation is what apply changed: read its status again; the key's metadata is as before."""
        status = session.client("kms").get_key_rotation_status(KeyId=target.resource_arn)
        after = {k: v for k, v in before.items() if k != "rotation_period_days"}
        after["rotation_enabled"] = bool(status.get("KeyRotationEnabled"))
        if status.get("RotationPeriodInDays"):
            after["rotation_period_days"] = status["RotationPeriodInDays"]
        return after

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return bool(state.get("not_a_candidate")) or bool(state.get("rotation_enabled"))

    def _period(self) -> dict[str, Any]:
        days = self.options.get("rotation_period_days")
        return {"RotationPeriodInDays": int(days)} if days else {}

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        if state.get("key_state") not in (None, "Enabled"):
            return [
                f"alert only: key {target.resource_id} is {state['key_state']}; rotation can only be enabled on an Enabled key"
            ]
        days = self._period().get("RotationPeriodInDays")
        return [
            f"kms:EnableKeyRotation on {target.resource_id} ({f'every {days} days' if days else 'AWS default period, 365 days'})"
        ]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        if state.get("key_state") != "Enabled":
            raise PermanentError(
                f"key {target.resource_id} is {state.get('key_state')}: rotation can only be enabled on an Enabled key; "
                "it stays off until the key is enabled again (KMS.4 will report it)"
            )
        session.client("kms").enable_key_rotation(KeyId=target.resource_arn, **self._period())
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"rotation_enabled": False}  # only a key whose rotation was off is acted on

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        kms = session.client("kms")
        if undo_data.get("rotation_enabled") or not kms.get_key_rotation_status(KeyId=target.resource_arn).get(
            "KeyRotationEnabled"
        ):
            return [f"rotation of {target.resource_id} is already off: nothing to undo"]
        kms.disable_key_rotation(KeyId=target.resource_arn)
        return [f"kms:DisableKeyRotation on {target.resource_id} (rotation was off before)"]
