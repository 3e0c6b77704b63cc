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
       finding id;
    7. tags on the instance: snapback:isolated (time) and snapback:finding (finding id).
    The instance is read again to verify: every ENI in exactly the empty isolation group,
    protection on, out of its Auto Scaling group, role denied, tagged.
Approval: an instance tagged critical (`critical_tag_key` = `critical_tag_value`, default
    snapback:critical=true) is not isolated automatically, even in enforce mode: the outcome is
    NOTIFIED with the plan, and `snapback approve <audit id>` (or the Security Hub custom action)
    isolates it. The tag is read from the instance, never from the finding.
Undo: put every ENI back in its original security groups, attach the instance to its Auto
    Scaling group again (AWS raises the desired capacity by one), restore termination protection as
    it was, delete the deny policy, restore the instance tags. Snapshots and the Snapback security
    groups are kept (evidence; reused by the next isolation). Each step checks first: idempotent.
Permissions: ec2:DescribeInstances, ec2:DescribeInstanceAttribute, ec2:DescribeNetworkInterfaces,
    ec2:DescribeIamInstanceProfileAssociations, ec2:DescribeSecurityGroups, ec2:DescribeSnapshots,
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
from collections.abc import Mapping
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
        "ec2:DescribeIamInstanceProfileAssociations",
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
    call_budget = 50
    gone_codes = frozenset({"InvalidInstanceID.NotFound"})
    defaults = {
        "type_prefixes": list(TYPE_PREFIXES),
        "min_severity": MIN_SEVERITY,
        "critical_tag_key": "snapback:critical",
        "critical_tag_value": "true",
    }

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
        reservations = session.client("ec2").describe_instances(InstanceIds=[target.resource_id])["Reservations"]
        tags = {t["Key"]: t["Value"] for r in reservations for i in r["Instances"] for t in i.get("Tags", [])}
        return f"{key}={tags[key]}" if key in tags and tags[key].lower() == value.lower() else None

    # -- inspect -----------------------------------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        ec2 = session.client("ec2")
        instance_id = target.resource_id
        (instance,) = [i for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"] for i in r["Instances"]]
        state = instance.get("State", {}).get("Name", "unknown")
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        if state in GONE_STATES:
            return {"instance_id": instance_id, "instance_state": state, "tags": tags}
        enis = [
            {
                "id": e["NetworkInterfaceId"],
                "vpc_id": e.get("VpcId"),
                "device_index": e.get("Attachment", {}).get("DeviceIndex"),
                "groups": [g["GroupId"] for g in e.get("Groups", [])],
            }
            for e in ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])[
                "NetworkInterfaces"
            ]
        ]
        enis.sort(key=lambda e: (e["device_index"] if e["device_index"] is not None else 99, e["id"]))
        protection = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")
        asg = session.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
        associations = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance_id]}, {"Name": "state", "Values": ["associated"]}]
        )["IamInstanceProfileAssociations"]
        vpcs = sorted({e["vpc_id"] for e in enis if e["vpc_id"]})
        return {
            "instance_id": instance_id,
            "instance_state": state,
            "spot": instance.get("InstanceLifecycle") == "spot",
            "tags": tags,
            "metadata": _metadata(instance),
            "network_interfaces": enis,
            "isolation_groups": {vpc: self._snapback_group(ec2, vpc, ISOLATION_GROUP) for vpc in vpcs},
            "termination_protection": bool(protection.get("DisableApiTermination", {}).get("Value")),
            "auto_scaling_group": asg[0]["AutoScalingGroupName"] if asg else None,
            "roles": self._roles(session, [a["IamInstanceProfile"]["Arn"] for a in associations], instance_id),
            "volumes": sorted(
                m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("VolumeId")
            ),
            "snapshots": self._snapshots(ec2, instance_id, str(target.facts.get("finding_id") or "")),
        }

    def _snapback_group(self, ec2: Any, vpc: str, name: str) -> dict[str, Any] | None:
        found = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": [name]}]
        )["SecurityGroups"]
        if not found:
            return None
        group = found[0]
        return {
            "id": group["GroupId"],
            "rules": len(group.get("IpPermissions", [])) + len(group.get("IpPermissionsEgress", [])),
        }

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
        same (remembered) state, so every step that is not idempotent checks the live state first."""
        ec2 = session.client("ec2")
        instance_id = target.resource_id
        finding_id = str(target.facts.get("finding_id") or "unknown")
        undo = self.undo_data_for(target, state)
        assert undo is not None, "apply is only called on a running instance's state"
        if not state["termination_protection"] and not state.get("spot"):
            ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
        if state.get("auto_scaling_group"):
            autoscaling = session.client("autoscaling")
            # a crashed try may have detached it already: detaching twice is an error
            if autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]:
                autoscaling.detach_instances(
                    InstanceIds=[instance_id],
                    AutoScalingGroupName=state["auto_scaling_group"],
                    ShouldDecrementDesiredCapacity=False,
                )
        self._swap_groups(ec2, state["network_interfaces"], finding_id)
        iam = session.client("iam")
        for role in state.get("roles", []):
            if role.get("denied") is False:
                iam.put_role_policy(
                    RoleName=role["role"],
                    PolicyName=policy_name(instance_id),
                    PolicyDocument=json.dumps(deny_policy(target.resource_arn)),
                )
        if state.get("volumes") and not state.get("snapshots"):
            # a crashed try may have taken them already (CreateSnapshots has no idempotency token)
            taken = self._snapshots(ec2, instance_id, finding_id)
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
                taken = sorted(s["SnapshotId"] for s in created.get("Snapshots", []))
            undo["snapshots"] = taken
        new_tags = {ISOLATED_TAG: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), FINDING_TAG: finding_id}
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in new_tags.items()])
        return undo

    def _swap_groups(self, ec2: Any, enis: list[dict[str, Any]], finding_id: str) -> None:
        """Allow-all first (tracked flows become untracked), then the empty isolation group."""
        if not enis:
            return
        vpcs = sorted({e["vpc_id"] for e in enis})
        allow_all = {vpc: self._ensure_group(ec2, vpc, ALLOW_ALL_GROUP, finding_id) for vpc in vpcs}
        isolation = {vpc: self._ensure_group(ec2, vpc, ISOLATION_GROUP, finding_id) for vpc in vpcs}
        for group, created in allow_all.values():
            self._arm(ec2, group, created)
        for group, created in isolation.values():
            self._empty(ec2, group, created)
        # A retry after a crash is handed the groups from before the first try: an ENI that try already
        # isolated must not pass through allow-all again.
        live = {
            e["NetworkInterfaceId"]: [g["GroupId"] for g in e.get("Groups", [])]
            for e in ec2.describe_network_interfaces(NetworkInterfaceIds=[e["id"] for e in enis])["NetworkInterfaces"]
        }
        pending = [e for e in enis if live.get(e["id"]) != [isolation[e["vpc_id"]][0]]]
        for eni in pending:
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["id"], Groups=[allow_all[eni["vpc_id"]][0]])
        for eni in pending:
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["id"], Groups=[isolation[eni["vpc_id"]][0]])
        for group, _ in allow_all.values():
            in_use = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group]}])["NetworkInterfaces"]
            if not in_use:  # another isolation may be mid-swap in this VPC: leave it armed for that one
                self._empty(ec2, group)

    def _ensure_group(self, ec2: Any, vpc: str, name: str, finding_id: str) -> tuple[str, bool]:
        """(group id, made by this call): a group just made has only the default egress rule."""
        existing = self._snapback_group(ec2, vpc, name)
        if existing:
            return str(existing["id"]), False
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
            again = self._snapback_group(ec2, vpc, name)  # created concurrently by another isolation
            if again is None:
                raise
            return str(again["id"]), False
        return str(created["GroupId"]), True

    @staticmethod
    def _arm(ec2: Any, group: str, created: bool = False) -> None:
        # A group this run just made holds only EC2's default egress rule (all traffic to 0.0.0.0/0,
        # EC2 User Guide, "Default security groups and custom security groups"): no read needed.
        current = (
            {"IpPermissions": [], "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [WORLD_V4]}]}
            if created
            else ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
        )
        for rules, authorize in (
            (current.get("IpPermissions", []), ec2.authorize_security_group_ingress),
            (current.get("IpPermissionsEgress", []), ec2.authorize_security_group_egress),
        ):
            have = {
                (r.get("IpProtocol"), c.get("CidrIp") or c.get("CidrIpv6"))
                for r in rules
                for c in r.get("IpRanges", []) + r.get("Ipv6Ranges", [])
            }
            missing = []
            if ("-1", "0.0.0.0/0") not in have:
                missing.append({"IpProtocol": "-1", "IpRanges": [WORLD_V4]})
            if ("-1", "::/0") not in have:
                missing.append({"IpProtocol": "-1", "Ipv6Ranges": [WORLD_V6]})
            if missing:
                authorize(GroupId=group, IpPermissions=missing)

    @staticmethod
    def _empty(ec2: Any, group: str, created: bool = False) -> None:
        if created:  # only the default egress rule (see _arm); a group that has lost it is read after all
            try:
                ec2.revoke_security_group_egress(
                    GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
                )
                return
            except ClientError as err:
                if error_code(err) != "InvalidPermission.NotFound":
                    raise
        (current,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
        if current.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=current["IpPermissions"])
        if current.get("IpPermissionsEgress"):
            ec2.revoke_security_group_egress(GroupId=group, IpPermissions=current["IpPermissionsEgress"])

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
