"""Isolate an EC2 instance that GuardDuty reports as compromised, keeping the evidence.

Trigger: GuardDuty findings of type Backdoor:EC2/*, CryptoCurrency:EC2/*, Trojan:EC2/* or
    UnauthorizedAccess:EC2/* with severity 7 or more (high), sample findings never. The EventBridge
    rule uses the declared defaults; `type_prefixes` and `min_severity` options can narrow them (they
    are checked again when the finding is resolved).
Action: in the order of the AWS incident-response guidance (AWSSupport-ContainEC2Instance does the
    same):
    1. capture metadata: the instance, its ENIs, security groups, instance profile, Auto Scaling
       group and volumes are read and kept in the audit record's before state;
    2. termination protection on (DisableApiTermination; not possible for Spot instances);
    3. detach from its Auto Scaling group with ShouldDecrementDesiredCapacity=False, so the group
       launches a replacement and never terminates the evidence;
    4. per ENI, first an allow-all security group (so tracked connections become untracked), then
       an isolation security group with no rules at all (untracked flows die at once). Both groups
       are per VPC, named and tagged `snapback:role`, created on first use and reused; the allow-all
       group's rules are revoked again once no ENI uses it;
    5. an inline deny-all policy on the instance role(s) for sessions of this instance only
       (condition ec2:SourceInstanceARN, which also covers credentials stolen from IMDS and used
       elsewhere; aws:TokenIssueTime is not used because it would cut every instance of the role);
    6. EBS snapshots of every attached volume (CreateSnapshots, crash-consistent), tagged with the
       finding id; their ids come from CreateSnapshots' answer (a retry after an interrupted try
       looks the finding's snapshots up first: CreateSnapshots has no idempotency token);
    7. tags on the instance: snapback:isolated (time) and snapback:finding (finding id).
    What the isolation changed is read again to verify: every ENI in exactly the empty isolation
    group, protection on, out of its Auto Scaling group, role denied, tagged.
Approval: an instance tagged critical (`critical_tag_key` = `critical_tag_value`, default
    snapback:critical=true) is not isolated automatically, even in enforce mode: the outcome is
    NOTIFIED with the plan, and `snapback approve <audit id>` (or the Security Hub custom action)
    isolates it. The tag is read from the instance, never from the finding.
Undo: put every ENI back in its original security groups, attach the instance to its Auto
    Scaling group again (AWS raises the desired capacity by one), restore termination protection as
    it was, delete the deny policy, restore the instance tags. Snapshots and the Snapback security
    groups are kept (evidence; reused by the next isolation). Each step checks first: idempotent.
Permissions: ec2:DescribeInstances, ec2:DescribeInstanceAttribute, ec2:DescribeNetworkInterfaces,
    ec2:DescribeSecurityGroups, ec2:DescribeSnapshots,
    ec2:ModifyInstanceAttribute, ec2:CreateSecurityGroup, ec2:AuthorizeSecurityGroupIngress,
    ec2:AuthorizeSecurityGroupEgress, ec2:RevokeSecurityGroupIngress, ec2:RevokeSecurityGroupEgress,
    ec2:ModifyNetworkInterfaceAttribute, ec2:CreateSnapshots, ec2:CreateTags, ec2:DeleteTags,
    autoscaling:DescribeAutoScalingInstances, autoscaling:DetachInstances,
    autoscaling:AttachInstances, iam:GetInstanceProfile, iam:GetRolePolicy, iam:PutRolePolicy,
    iam:DeleteRolePolicy.
Side effects: the instance loses all network access (SSM and agents included, plan memory capture
    around it); flows through NAT gateways, load balancers, PrivateLink and similar stay tracked
    and can survive until they time out; ICMP is always tracked; the Route 53 Resolver stays
    reachable. The Auto Scaling group launches a replacement. Snapshots cost storage. A role inline
    policy counts toward the role's 10,240-character inline policy quota.
Options (snapback.yaml `remediations.ec2_isolate_instance.options`): `type_prefixes`,
    `min_severity`, `critical_tag_key`, `critical_tag_value`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import MemberSession, classify, error_code
from snapback.errors import MalformedEvent, NotApplicable
from snapback.events import GUARDDUTY_FINDING, CloudTrailCall, Envelope
from snapback.findings import parse_guardduty
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.remediation import Remediation
from snapback.triggers import Trigger, guardduty_pattern

TYPE_PREFIXES = ("Backdoor:EC2/", "CryptoCurrency:EC2/", "Trojan:EC2/", "UnauthorizedAccess:EC2/")
MIN_SEVERITY = 7.0
ISOLATION_GROUP = "snapback-isolation"
ALLOW_ALL_GROUP = "snapback-isolation-allow-all"
ROLE_TAG = "snapback:role"
ISOLATED_TAG = "snapback:isolated"
FINDING_TAG = "snapback:finding"
WORLD_V4, WORLD_V6 = {"CidrIp": "0.0.0.0/0"}, {"CidrIpv6": "::/0"}
ALL_TRAFFIC = [{"IpProtocol": "-1", "IpRanges": [WORLD_V4], "Ipv6Ranges": [WORLD_V6]}]
GONE_STATES = frozenset({"terminated", "shutting-down"})
# How long this event's inspect stands for the instance's tags in the approval check (the pipeline asks
# right after inspecting; anything older is read again).
FRESH_SECONDS = 60.0


def policy_name(instance_id: str) -> str:
    return f"snapback-isolate-{instance_id}"


def deny_policy(instance_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SnapbackIsolatedInstanceSessions",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"ec2:SourceInstanceARN": instance_arn}},
            }
        ],
    }


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


def _metadata(instance: Mapping[str, Any]) -> dict[str, Any]:
    """What incident responders need later, from DescribeInstances (kept in the audit record)."""
    keys = (
        "InstanceId",
        "InstanceType",
        "ImageId",
        "LaunchTime",
        "State",
        "Placement",
        "PrivateIpAddress",
        "PublicIpAddress",
        "SubnetId",
        "VpcId",
        "KeyName",
        "IamInstanceProfile",
        "InstanceLifecycle",
        "SecurityGroups",
        "BlockDeviceMappings",
        "MetadataOptions",
        "Tags",
    )
    out = {k: instance[k] for k in keys if k in instance}
    out["NetworkInterfaces"] = [
        {
            k: n.get(k)
            for k in ("NetworkInterfaceId", "PrivateIpAddress", "Association", "Groups", "SubnetId", "VpcId", "MacAddress")
            if k in n
        }
        for n in instance.get("NetworkInterfaces", [])
    ]
    return _json_safe(out)


def _describe(ec2: Any, instance_id: str) -> dict[str, Any]:
    (instance,) = [i for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"] for i in r["Instances"]]
    return instance


def _observed(instance: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the state DescribeInstances shows. Its NetworkInterfaces are the attached ENIs with
    their groups; its IamInstanceProfile is the one associated (an instance has one at most: EC2 API
    Reference, AssociateIamInstanceProfile)."""
    state = instance.get("State", {}).get("Name", "unknown")
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    if state in GONE_STATES:
        return {"instance_id": instance["InstanceId"], "instance_state": state, "tags": tags}
    enis = [
        {
            "id": e["NetworkInterfaceId"],
            "vpc_id": e.get("VpcId"),
            "device_index": e.get("Attachment", {}).get("DeviceIndex"),
            "groups": [g["GroupId"] for g in e.get("Groups", [])],
        }
        for e in instance.get("NetworkInterfaces", [])
    ]
    enis.sort(key=lambda e: (e["device_index"] if e["device_index"] is not None else 99, e["id"]))
    return {
        "instance_id": instance["InstanceId"],
        "instance_state": state,
        "spot": instance.get("InstanceLifecycle") == "spot",
        "tags": tags,
        "metadata": _metadata(instance),
        "network_interfaces": enis,
    }


def _vpcs(observed: Mapping[str, Any]) -> list[str]:
    return sorted({e["vpc_id"] for e in observed.get("network_interfaces", []) if e["vpc_id"]})


def _profile_arns(instance: Mapping[str, Any]) -> list[str]:
    """The associated instance profile (DescribeInstances' IamInstanceProfile, or the metadata kept of it)."""
    arn = (instance.get("IamInstanceProfile") or {}).get("Arn")
    return [str(arn)] if arn else []


def _read_instance(ec2: Any, instance_id: str) -> tuple[Any, dict[str, Any], Any]:
    """The instance (one DescribeInstances) and the Snapback groups of its VPCs (one
    DescribeSecurityGroups); no groups (None) when the instance is gone."""
    instance = _describe(ec2, instance_id)
    observed = _observed(instance)
    if observed["instance_state"] in GONE_STATES:
        return instance, observed, None
    return instance, observed, _snapback_groups(ec2, _vpcs(observed))


def _snapback_groups(ec2: Any, vpcs: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Both Snapback groups of every VPC, (vpc, name) -> group: one DescribeSecurityGroups (filter
    values are ORed within a filter, filters ANDed)."""
    if not vpcs:
        return {}
    found = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": vpcs}, {"Name": "group-name", "Values": [ISOLATION_GROUP, ALLOW_ALL_GROUP]}]
    )["SecurityGroups"]
    return {(g["VpcId"], g["GroupName"]): g for g in found}


def _summary(group: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not group:
        return None
    return {"id": group["GroupId"], "rules": len(group.get("IpPermissions", [])) + len(group.get("IpPermissionsEgress", []))}


def _auto_scaling_group(session: MemberSession, instance_id: str) -> str | None:
    found = session.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    return str(found[0]["AutoScalingGroupName"]) if found else None


def _state(
    observed: Mapping[str, Any],
    instance: Mapping[str, Any],
    groups: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    protected: bool,
    auto_scaling_group: str | None,
    roles: list[dict[str, Any]],
) -> dict[str, Any]:
    """The state `inspect` (and `verify`, with the same shape) returns for a running instance."""
    return {
        **observed,
        "isolation_groups": {vpc: _summary(groups.get((vpc, ISOLATION_GROUP))) for vpc in _vpcs(observed)},
        "termination_protection": protected,
        "auto_scaling_group": auto_scaling_group,
        "roles": roles,
        "volumes": sorted(
            m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("VolumeId")
        ),
    }


@dataclass
class _Read:
    """What this event's `inspect` read (the plugin object lives for one event): `apply` works from it
    without reading again only when it is handed that very state (the first try); a retry is handed the
    before state an interrupted try remembered, another object, and reads what that try may have
    changed. The approval check takes the instance's tags from it."""

    target: tuple[str, str, str]
    state: dict[str, Any]
    groups: dict[tuple[str, str], dict[str, Any]]
    at: float


def _key(target: Target) -> tuple[str, str, str]:
    return (target.account, target.region, target.resource_id)


@register
class Ec2IsolateInstance(Remediation):
    name = "ec2_isolate_instance"
    summary = "EC2 instance compromised (GuardDuty): isolated"
    severity = Severity.CRITICAL
    finding_type = "Unusual Behaviors/VM/Compromised instance isolated"
    triggers = (
        Trigger(
            id="guardduty",
            description="GuardDuty high-severity EC2 compromise finding",
            pattern=guardduty_pattern(list(TYPE_PREFIXES), MIN_SEVERITY),
        ),
    )
    permissions = (
        "autoscaling:AttachInstances",
        "autoscaling:DescribeAutoScalingInstances",
        "autoscaling:DetachInstances",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:CreateSecurityGroup",
        "ec2:CreateSnapshots",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DescribeInstanceAttribute",
        "ec2:DescribeInstances",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSnapshots",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress",
        "iam:DeleteRolePolicy",
        "iam:GetInstanceProfile",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
    )
    call_budget = 36
    gone_codes = frozenset({"InvalidInstanceID.NotFound"})
    defaults = {
        "type_prefixes": list(TYPE_PREFIXES),
        "min_severity": MIN_SEVERITY,
        "critical_tag_key": "snapback:critical",
        "critical_tag_value": "true",
    }
    _read: _Read | None = None  # this event's inspect (see _Read)

    # -- resolve -----------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if event.detail_type != GUARDDUTY_FINDING:
            raise NotApplicable(f"not a GuardDuty finding ({event.detail_type})")
        finding = parse_guardduty(event.detail)
        region = finding.region or event.region
        if not finding.instance_id:
            raise MalformedEvent(f"GuardDuty {finding.type} finding names no instance (resource.instanceDetails.instanceId)")
        partition = str(event.detail.get("partition") or "aws")
        instance = finding.instance_id
        service = event.detail.get("service") if isinstance(event.detail.get("service"), Mapping) else {}
        target = Target(
            account=finding.account,
            region=region,
            resource_type="AwsEc2Instance",
            resource_id=instance,
            resource_arn=f"arn:{partition}:ec2:{region}:{finding.account}:instance/{instance}",
            idempotency_key=f"{finding.idempotency_key}#isolate",
            facts={
                "summary": f"GuardDuty {finding.type} (severity {finding.severity:g}) on {instance}: {finding.title}",
                "finding_type": finding.type,
                "finding_id": finding.id,
                "finding_arn": finding.arn,
                "severity": finding.severity,
                "resource_role": service.get("resourceRole"),
            },
        )
        prefixes = [str(p) for p in self.options.get("type_prefixes", TYPE_PREFIXES)]
        if not any(finding.type.startswith(p) for p in prefixes):
            raise NotApplicable(f"{finding.type} is not an EC2 compromise type ({', '.join(prefixes)})", target)
        minimum = float(self.options.get("min_severity", MIN_SEVERITY))
        if finding.severity < minimum:
            raise NotApplicable(f"severity {finding.severity:g} is below {minimum:g}", target)
        return target

    # -- approval for critical instances -----------------------------------------------------------
    def needs_approval(self, session: MemberSession, target: Target) -> str | None:
        """An instance tagged critical needs a person's approval: in enforce mode, notify instead.

        An approval (`snapback approve`, the Security Hub custom action) is never held back (the
        pipeline does not ask). The tag is read from the instance, never from the finding; if it
        cannot be read the instance is treated as critical.
        """
        try:
            critical = self._critical_tag(session, target)
        except (ClientError, BotoCoreError):
            critical = "tags unreadable"
        return f"critical instance ({critical}): isolation needs approval" if critical else None

    def _critical_tag(self, session: MemberSession, target: Target) -> str | None:
        key, value = str(self.options["critical_tag_key"]), str(self.options["critical_tag_value"])
        read = self._read
        if read is not None and read.target == _key(target) and time.monotonic() - read.at < FRESH_SECONDS:
            tags = dict(read.state["tags"])  # this event's inspect read the instance a moment ago
        else:
            tags = _observed(_describe(session.client("ec2"), target.resource_id))["tags"]
        return f"{key}={tags[key]}" if key in tags and tags[key].lower() == value.lower() else None

    # -- inspect -----------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        """The instance from one DescribeInstances (state, tags, ENIs and their groups, instance profile,
        volumes), the Snapback groups of its VPCs from one DescribeSecurityGroups, then what
        DescribeInstances does not show: termination protection, Auto Scaling membership, the roles."""
        ec2 = session.client("ec2")
        instance, observed, groups = _read_instance(ec2, target.resource_id)
        if groups is None:
            return observed
        protection = ec2.describe_instance_attribute(InstanceId=target.resource_id, Attribute="disableApiTermination")
        state = _state(
            observed,
            instance,
            groups,
            protected=bool(protection.get("DisableApiTermination", {}).get("Value")),
            auto_scaling_group=_auto_scaling_group(session, target.resource_id),
            roles=self._roles(session, _profile_arns(instance), target.resource_id),
        )
        self._read = _Read(_key(target), state, groups, time.monotonic())
        return state

    def verify(
        self, session: MemberSession, target: Target, before: Mapping[str, Any], undo: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Read again what the isolation changed, from AWS: the instance (ENI groups, tags), the isolation
        groups' rules, termination protection when it was off, Auto Scaling membership when it had a
        group, the deny policy on each role it put one on. The rest is as `before` had it: nothing
        here changes it (the instance profile is compared, and its roles read again if it changed)."""
        ec2 = session.client("ec2")
        instance, observed, groups = _read_instance(ec2, target.resource_id)
        if groups is None:
            return observed
        protected = bool(before.get("termination_protection"))
        if not protected and not before.get("spot"):
            answer = ec2.describe_instance_attribute(InstanceId=target.resource_id, Attribute="disableApiTermination")
            protected = bool(answer.get("DisableApiTermination", {}).get("Value"))
        group = _auto_scaling_group(session, target.resource_id) if before.get("auto_scaling_group") else None
        profiles = _profile_arns(instance)
        if profiles == _profile_arns(before.get("metadata") or {}):
            iam = session.client("iam")
            roles = [
                {**r, "denied": self._has_policy(iam, r["role"], policy_name(target.resource_id))}
                if r.get("denied") is False
                else dict(r)
                for r in before.get("roles", [])
            ]
        else:  # another profile was associated meanwhile: its roles, read
            roles = self._roles(session, profiles, target.resource_id)
        return _state(observed, instance, groups, protected=protected, auto_scaling_group=group, roles=roles)

    def _roles(self, session: MemberSession, profile_arns: list[str], instance_id: str) -> list[dict[str, Any]]:
        iam = session.client("iam")
        roles = []
        for arn in profile_arns:
            profile = iam.get_instance_profile(InstanceProfileName=arn.rsplit("/", 1)[-1])["InstanceProfile"]
            for role in profile.get("Roles", []):
                entry: dict[str, Any] = {"role": role["RoleName"], "profile": profile["InstanceProfileName"]}
                if role.get("Path", "/").startswith("/aws-service-role/"):
                    entry["denied"], entry["note"] = None, "service-linked role: sessions cannot be revoked"
                else:
                    entry["denied"] = self._has_policy(iam, role["RoleName"], policy_name(instance_id))
                roles.append(entry)
        return roles

    @staticmethod
    def _has_policy(iam: Any, role: str, name: str) -> bool:
        try:
            iam.get_role_policy(RoleName=role, PolicyName=name)
        except ClientError as err:
            if error_code(err) == "NoSuchEntity":
                return False
            raise
        return True

    @staticmethod
    def _snapshots(ec2: Any, instance_id: str, finding_id: str) -> list[str]:
        """The snapshots an earlier try or run took for this finding (tagged with it when created)."""
        if not finding_id:
            return []
        found = ec2.describe_snapshots(
            OwnerIds=["self"],
            Filters=[
                {"Name": f"tag:{FINDING_TAG}", "Values": [finding_id]},
                {"Name": "tag:snapback:instance", "Values": [instance_id]},
            ],
        )["Snapshots"]
        return sorted(s["SnapshotId"] for s in found)

    # -- decide / plan -----------------------------------------------------------------------------
    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        if state.get("instance_state") in GONE_STATES:
            return True  # nothing left running to contain
        return not self._open_items(state)

    def _open_items(self, state: Mapping[str, Any]) -> list[str]:
        """What is not isolated yet (empty: contained)."""
        groups = state.get("isolation_groups") or {}
        items = []
        for eni in state.get("network_interfaces", []):
            group = groups.get(eni["vpc_id"])
            if not group or group["rules"] or eni["groups"] != [group["id"]]:
                items.append(f"network:{eni['id']}")
        if not state.get("termination_protection") and not state.get("spot"):
            items.append("termination_protection")
        if state.get("auto_scaling_group"):
            items.append("auto_scaling_group")
        items += [f"role:{r['role']}" for r in state.get("roles", []) if r.get("denied") is False]
        if ISOLATED_TAG not in (state.get("tags") or {}):
            items.append("tags")
        return items

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        instance = target.resource_id
        if not state:
            return [
                f"isolate {instance}: metadata capture, termination protection, detach from its Auto Scaling group, "
                "allow-all then isolation security group per ENI, deny the instance role's sessions, EBS snapshots, tags"
            ]
        open_items = self._open_items(state)
        actions = [f"capture metadata of {instance} in the audit record (before state)"]
        if "termination_protection" in open_items:
            actions.append(f"ec2:ModifyInstanceAttribute DisableApiTermination=true on {instance}")
        if state.get("auto_scaling_group"):
            actions.append(
                f"autoscaling:DetachInstances {instance} from {state['auto_scaling_group']} (ShouldDecrementDesiredCapacity=false)"
            )
        for eni in state.get("network_interfaces", []):
            if f"network:{eni['id']}" in open_items:
                actions.append(
                    f"ec2:ModifyNetworkInterfaceAttribute {eni['id']}: {','.join(eni['groups']) or '-'} -> "
                    f"{ALLOW_ALL_GROUP} -> {ISOLATION_GROUP} ({eni['vpc_id']})"
                )
        for role in state.get("roles", []):
            if role.get("denied") is False:
                actions.append(
                    f"iam:PutRolePolicy {policy_name(instance)} on role {role['role']}: deny all to sessions of {instance} "
                    "(ec2:SourceInstanceARN)"
                )
            elif role.get("note"):
                actions.append(f"role {role['role']}: {role['note']}")
        volumes = state.get("volumes") or []
        if volumes and not state.get("snapshots"):
            actions.append(f"ec2:CreateSnapshots of {len(volumes)} volume(s) ({', '.join(volumes)}), tagged with the finding id")
        actions.append(f"ec2:CreateTags {ISOLATED_TAG}, {FINDING_TAG} on {instance}")
        return actions

    # -- apply -------------------------------------------------------------------------------------
    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        """Everything undo needs comes from the before state (the snapshots are kept as evidence)."""
        if "network_interfaces" not in before:
            return None  # gone, or never read
        instance_id = target.resource_id
        return {
            "instance_id": instance_id,
            "termination_protection": bool(before.get("termination_protection")),
            "auto_scaling_group": before.get("auto_scaling_group"),
            "network_interfaces": [{"id": e["id"], "groups": e["groups"]} for e in before["network_interfaces"]],
            "role_policies": [
                {"role": r["role"], "policy": policy_name(instance_id)}
                for r in before.get("roles", [])
                if r.get("denied") is False
            ],
            "tags": {key: (before.get("tags") or {}).get(key) for key in (ISOLATED_TAG, FINDING_TAG)},
            "snapshots": list(before.get("snapshots") or []),
        }

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        """Isolate, from the state before the first try. Re-entrant: a retry after a crash is handed the
        same (remembered) state, so every step that is not idempotent checks the live state first. The
        first try is handed the state this event's inspect just read: that is the live state."""
        ec2 = session.client("ec2")
        instance_id = target.resource_id
        finding_id = str(target.facts.get("finding_id") or "unknown")
        undo = self.undo_data_for(target, state)
        assert undo is not None, "apply is only called on a running instance's state"
        read = self._read if self._read is not None and self._read.state is state else None
        if not state["termination_protection"] and not state.get("spot"):
            ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
        if state.get("auto_scaling_group"):
            self._detach(session, instance_id, str(state["auto_scaling_group"]), known_in_group=read is not None)
        self._swap_groups(ec2, state["network_interfaces"], finding_id, read)
        iam = session.client("iam")
        for role in state.get("roles", []):
            if role.get("denied") is False:
                iam.put_role_policy(
                    RoleName=role["role"],
                    PolicyName=policy_name(instance_id),
                    PolicyDocument=json.dumps(deny_policy(target.resource_arn)),
                )
        if state.get("volumes") and not state.get("snapshots"):
            # CreateSnapshots has no idempotency token: a try killed after it must not take them twice.
            # Looked up only when one may have been taken: on a retry (handed the remembered state), or
            # when the instance already carries this finding's tag (a run for it got that far and failed).
            earlier = read is None or (state.get("tags") or {}).get(FINDING_TAG) == finding_id
            taken = self._snapshots(ec2, instance_id, finding_id) if earlier else []
            if not taken:
                created = ec2.create_snapshots(
                    InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": False},
                    Description=f"Snapback isolation of {instance_id} for GuardDuty finding {finding_id}",
                    TagSpecifications=[
                        {
                            "ResourceType": "snapshot",
                            "Tags": [
                                {"Key": FINDING_TAG, "Value": finding_id},
                                {"Key": "snapback:instance", "Value": instance_id},
                            ],
                        }
                    ],
                    CopyTagsFromSource="volume",
                )
                # the response lists one snapshot per volume (EC2 API Reference, CreateSnapshots)
                taken = sorted(s["SnapshotId"] for s in created.get("Snapshots", []))
            undo["snapshots"] = taken
        new_tags = {ISOLATED_TAG: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), FINDING_TAG: finding_id}
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in new_tags.items()])
        return undo

    @staticmethod
    def _detach(session: MemberSession, instance_id: str, group: str, *, known_in_group: bool) -> None:
        """Detach without decrementing. `known_in_group`: this event just read it in the group; a retry
        reads first, since a crashed try may have detached it already (detaching twice is an error)."""
        if not known_in_group and _auto_scaling_group(session, instance_id) is None:
            return
        session.client("autoscaling").detach_instances(
            InstanceIds=[instance_id], AutoScalingGroupName=group, ShouldDecrementDesiredCapacity=False
        )

    def _swap_groups(self, ec2: Any, enis: list[dict[str, Any]], finding_id: str, read: _Read | None) -> None:
        """Allow-all first (tracked flows become untracked), then the empty isolation group."""
        if not enis:
            return
        vpcs = sorted({e["vpc_id"] for e in enis})
        known = read.groups if read is not None else _snapback_groups(ec2, vpcs)
        allow_all = {
            vpc: self._ensure_group(ec2, vpc, ALLOW_ALL_GROUP, finding_id, known.get((vpc, ALLOW_ALL_GROUP))) for vpc in vpcs
        }
        isolation = {
            vpc: self._ensure_group(ec2, vpc, ISOLATION_GROUP, finding_id, known.get((vpc, ISOLATION_GROUP))) for vpc in vpcs
        }
        for group in allow_all.values():
            self._arm(ec2, group)
        for group in isolation.values():
            self._empty(ec2, group)
        # A retry after a crash is handed the groups from before the first try: an ENI that try already
        # isolated must not pass through allow-all again. The first try's state is the live one.
        if read is not None:
            live = {e["id"]: e["groups"] for e in enis}
        else:
            live = {
                e["NetworkInterfaceId"]: [g["GroupId"] for g in e.get("Groups", [])]
                for e in ec2.describe_network_interfaces(NetworkInterfaceIds=[e["id"] for e in enis])["NetworkInterfaces"]
            }
        pending = [e for e in enis if live.get(e["id"]) != [isolation[e["vpc_id"]]["GroupId"]]]
        for eni in pending:
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["id"], Groups=[allow_all[eni["vpc_id"]]["GroupId"]])
        for eni in pending:
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["id"], Groups=[isolation[eni["vpc_id"]]["GroupId"]])
        armed = [g["GroupId"] for g in allow_all.values()]
        in_use = {
            g["GroupId"]
            for e in ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": armed}])["NetworkInterfaces"]
            for g in e.get("Groups", [])
        }
        for group in allow_all.values():
            if group["GroupId"] not in in_use:  # another isolation may be mid-swap in this VPC: leave it armed for that one
                self._empty(ec2, group)

    @staticmethod
    def _ensure_group(ec2: Any, vpc: str, name: str, finding_id: str, existing: Mapping[str, Any] | None) -> dict[str, Any]:
        """The group as read (`existing`), or made now: a group just made holds only EC2's default egress
        rule, all traffic to 0.0.0.0/0 (EC2 User Guide, "Default security groups and custom security
        groups"), so it needs no read. A copy: arming it notes the rules added."""
        if existing:
            return {k: list(existing.get(k, [])) if k.startswith("IpPermissions") else v for k, v in existing.items()}
        purpose = "allow-all step of an isolation" if name == ALLOW_ALL_GROUP else "isolation: no inbound, no outbound"
        try:
            created = ec2.create_security_group(
                GroupName=name,
                Description=f"Snapback {purpose}; do not use",
                VpcId=vpc,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": [
                            {"Key": "Name", "Value": name},
                            {"Key": ROLE_TAG, "Value": "isolation-allow-all" if name == ALLOW_ALL_GROUP else "isolation"},
                            {"Key": "snapback:created-for", "Value": finding_id},
                        ],
                    }
                ],
            )
        except ClientError as err:
            if error_code(err) != "InvalidGroup.Duplicate":
                raise
            again = _snapback_groups(ec2, [vpc]).get((vpc, name))  # made meanwhile (another isolation, a killed try)
            if again is None:
                raise
            return dict(again)
        return {
            "GroupId": created["GroupId"],
            "IpPermissions": [],
            "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [dict(WORLD_V4)]}],
        }

    @staticmethod
    def _arm(ec2: Any, group: dict[str, Any], again: bool = True) -> None:
        """All traffic in and out, IPv4 and IPv6, on top of what `group` (as last read or made) holds."""
        for key, authorize in (
            ("IpPermissions", ec2.authorize_security_group_ingress),
            ("IpPermissionsEgress", ec2.authorize_security_group_egress),
        ):
            have = {
                (r.get("IpProtocol"), c.get("CidrIp") or c.get("CidrIpv6"))
                for r in group.get(key, [])
                for c in r.get("IpRanges", []) + r.get("Ipv6Ranges", [])
            }
            missing = []
            if ("-1", "0.0.0.0/0") not in have:
                missing.append({"IpProtocol": "-1", "IpRanges": [dict(WORLD_V4)]})
            if ("-1", "::/0") not in have:
                missing.append({"IpProtocol": "-1", "Ipv6Ranges": [dict(WORLD_V6)]})
            if not missing:
                continue
            try:
                authorize(GroupId=group["GroupId"], IpPermissions=missing)
            except ClientError as err:
                # armed meanwhile (another isolation in this VPC): the whole request failed; read and arm again
                if error_code(err) != "InvalidPermission.Duplicate" or not again:
                    raise
                group.update(Ec2IsolateInstance._read_group(ec2, group["GroupId"]))
                Ec2IsolateInstance._arm(ec2, group, again=False)
                return
            group[key] = [*group.get(key, []), *missing]

    @staticmethod
    def _empty(ec2: Any, group: Mapping[str, Any]) -> None:
        """Revoke every rule `group` (as last read, made or armed) holds. A rule that is not there any more
        (InvalidPermission.NotFound in a non-default VPC; listed as unknown, without an error, in a
        default VPC: EC2 API Reference, RevokeSecurityGroupIngress) means the group changed since: it is
        read and emptied as it is now."""
        current: Mapping[str, Any] = group
        for attempt in (1, 2):
            stale = False
            try:
                for key, revoke in (
                    ("IpPermissions", ec2.revoke_security_group_ingress),
                    ("IpPermissionsEgress", ec2.revoke_security_group_egress),
                ):
                    if current.get(key):
                        answer = revoke(GroupId=current["GroupId"], IpPermissions=current[key])
                        stale = stale or bool(answer.get("UnknownIpPermissions"))
            except ClientError as err:
                if error_code(err) != "InvalidPermission.NotFound" or attempt == 2:
                    raise
                stale = True
            if not stale or attempt == 2:
                return
            current = Ec2IsolateInstance._read_group(ec2, str(group["GroupId"]))

    @staticmethod
    def _read_group(ec2: Any, group_id: str) -> dict[str, Any]:
        (group,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        return dict(group)

    # -- undo --------------------------------------------------------------------------------------
    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        try:
            return self._undo(session, target, undo_data)
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err

    def _undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        ec2 = session.client("ec2")
        instance_id = str(undo_data.get("instance_id") or target.resource_id)
        actions: list[str] = []
        current = {
            e["NetworkInterfaceId"]: sorted(g["GroupId"] for g in e.get("Groups", []))
            for e in ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])[
                "NetworkInterfaces"
            ]
        }
        for eni in undo_data.get("network_interfaces") or []:
            if eni["id"] not in current:
                actions.append(f"{eni['id']} is no longer attached to {instance_id}: groups not restored")
            elif current[eni["id"]] == sorted(eni["groups"]):
                actions.append(f"{eni['id']} already in {','.join(eni['groups'])}")
            else:
                ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["id"], Groups=list(eni["groups"]))
                actions.append(f"ec2:ModifyNetworkInterfaceAttribute {eni['id']}: restored {','.join(eni['groups'])}")
        group = undo_data.get("auto_scaling_group")
        if group:
            autoscaling = session.client("autoscaling")
            now = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
            if now:
                actions.append(f"{instance_id} already in Auto Scaling group {now[0]['AutoScalingGroupName']}")
            else:
                autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=group)
                actions.append(f"autoscaling:AttachInstances {instance_id} to {group} (desired capacity +1)")
        protection = bool(undo_data.get("termination_protection"))
        now_protected = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")
        if bool(now_protected.get("DisableApiTermination", {}).get("Value")) != protection:
            ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": protection})
            actions.append(f"ec2:ModifyInstanceAttribute DisableApiTermination={str(protection).lower()} on {instance_id}")
        iam = session.client("iam")
        for policy in undo_data.get("role_policies") or []:
            try:
                iam.delete_role_policy(RoleName=policy["role"], PolicyName=policy["policy"])
                actions.append(f"iam:DeleteRolePolicy {policy['policy']} on role {policy['role']}")
            except ClientError as err:
                if error_code(err) != "NoSuchEntity":
                    raise
                actions.append(f"{policy['policy']} on role {policy['role']} already gone")
        previous = undo_data.get("tags") or {}
        removed = [k for k, v in previous.items() if v is None]
        restored = [{"Key": k, "Value": v} for k, v in previous.items() if v is not None]
        if removed:
            ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": k} for k in removed])
        if restored:
            ec2.create_tags(Resources=[instance_id], Tags=restored)
        if previous:
            actions.append(f"tags of {instance_id} restored ({', '.join(sorted(previous))})")
        if undo_data.get("snapshots"):
            actions.append(f"snapshots kept as evidence: {', '.join(undo_data['snapshots'])}")
        return actions
