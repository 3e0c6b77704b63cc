"""Scenario: GuardDuty sees a web server talk to a command-and-control domain; a payments host mines coins.

Shows the web server (in an Auto Scaling group, with an instance role and a data volume)
isolated in incident-response order, the critical payments host held for approval (NOTIFIED with
the plan) and a low-severity brute-force finding never routed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from snapback.events import GUARDDUTY_FINDING
from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, base_image, deliver, emit_event

ORDER = 80


def guardduty_finding(account: str, instance: dict[str, Any], finding_type: str, severity: float, title: str) -> dict[str, Any]:
    """A GuardDuty finding as EventBridge delivers it (detail, schemaVersion 2.0)."""
    finding_id = uuid.uuid4().hex
    detector = "12abc34d567e8fa901bc2d34e56789f0"
    eni = instance["NetworkInterfaces"][0]
    return {
        "schemaVersion": "2.0",
        "accountId": account,
        "region": "us-east-1",
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:us-east-1:{account}:detector/{detector}/finding/{finding_id}",
        "type": finding_type,
        "resource": {
            "resourceType": "Instance",
            "instanceDetails": {
                "instanceId": instance["InstanceId"],
                "instanceType": instance.get("InstanceType", "t3.micro"),
                "iamInstanceProfile": instance.get("IamInstanceProfile"),
                "networkInterfaces": [
                    {
                        "networkInterfaceId": eni["NetworkInterfaceId"],
                        "privateIpAddress": eni.get("PrivateIpAddress"),
                        "subnetId": eni.get("SubnetId"),
                        "vpcId": eni.get("VpcId"),
                        "securityGroups": [{"groupId": g["GroupId"], "groupName": g["GroupName"]} for g in eni.get("Groups", [])],
                    }
                ],
                "tags": [{"key": t["Key"], "value": t["Value"]} for t in instance.get("Tags", [])],
                "instanceState": "running",
                "availabilityZone": "us-east-1a",
                "imageId": instance.get("ImageId"),
            },
        },
        "service": {
            "serviceName": "guardduty",
            "detectorId": detector,
            "action": {"actionType": "DNS_REQUEST", "dnsRequestAction": {"domain": "c2.malicious.example", "protocol": "UDP"}},
            "resourceRole": "ACTOR",
            "additionalInfo": {},
            "eventFirstSeen": "2026-11-22T11:52:10.000Z",
            "eventLastSeen": "2026-11-22T11:58:41.000Z",
            "archived": False,
            "count": 3,
        },
        "severity": severity,
        "createdAt": "2026-11-22T11:59:02.512Z",
        "updatedAt": "2026-11-22T11:59:02.512Z",
        "title": title,
        "description": title,
    }


def _describe(ec2: Any, instance_id: str) -> dict[str, Any]:
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return dict(reservation["Instances"][0])


def _groups(ec2: Any, instance_id: str) -> list[str]:
    found = ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])
    return sorted(g["GroupName"] for e in found["NetworkInterfaces"] for g in e["Groups"])


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """A compromised web server in member-a is isolated; the critical payments host waits for approval."""
    account = org.members["member-a"]
    member = org.session(account)
    ec2, iam, autoscaling = member.client("ec2"), member.client("iam"), member.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    web_sg = ec2.create_security_group(GroupName="acme-web", Description="web tier", VpcId=vpc)["GroupId"]
    ami = base_image(ec2)
    iam.create_role(
        RoleName="acme-web",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            }
        ),
    )
    iam.create_instance_profile(InstanceProfileName="acme-web")
    iam.add_role_to_instance_profile(InstanceProfileName="acme-web", RoleName="acme-web")
    ec2.create_launch_template(
        LaunchTemplateName="acme-web",
        LaunchTemplateData={
            "ImageId": ami,
            "InstanceType": "t3.micro",
            "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [web_sg]}],
        },
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="acme-web",
        LaunchTemplate={"LaunchTemplateName": "acme-web"},
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet,
    )
    web = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["acme-web"])["AutoScalingGroups"][0]["Instances"][0][
        "InstanceId"
    ]
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Name": "acme-web"}, InstanceId=web)
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=web, Device="/dev/sdf")
    payments = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [web_sg]}],
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Name", "Value": "payments"}, {"Key": "snapback:critical", "Value": "true"}],
            }
        ],
    )["Instances"][0]["InstanceId"]
    timeline.add(
        "setup", f"member-a ({account}): web server {web} (Auto Scaling group acme-web, role acme-web), payments {payments}"
    )

    c2 = guardduty_finding(
        account,
        _describe(ec2, web),
        "Backdoor:EC2/C&CActivity.B!DNS",
        8,
        f"Command and Control server domain name queried by EC2 instance {web}.",
    )
    emit_event(member, "aws.guardduty", GUARDDUTY_FINDING, c2)
    timeline.add("attack", f"GuardDuty Backdoor:EC2/C&CActivity.B!DNS (severity 8) on {web} -> member default bus")
    miner = guardduty_finding(
        account,
        _describe(ec2, payments),
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        8,
        f"EC2 instance {payments} is querying a domain name that is associated with Bitcoin-related activity.",
    )
    emit_event(member, "aws.guardduty", GUARDDUTY_FINDING, miner)
    timeline.add("attack", f"GuardDuty CryptoCurrency:EC2/BitcoinTool.B!DNS (severity 8) on {payments} (tagged critical)")
    brute = guardduty_finding(
        account, _describe(ec2, web), "UnauthorizedAccess:EC2/SSHBruteForce", 2, f"203.0.113.9 is brute-forcing SSH on {web}."
    )
    emit_event(member, "aws.guardduty", GUARDDUTY_FINDING, brute)
    timeline.add(
        "event", "GuardDuty UnauthorizedAccess:EC2/SSHBruteForce (severity 2, the instance is the target): no rule matches"
    )

    results = deliver(org, account, timeline, expect=2)

    web_groups = _groups(ec2, web)
    protected = ec2.describe_instance_attribute(InstanceId=web, Attribute="disableApiTermination")["DisableApiTermination"][
        "Value"
    ]
    in_asg = autoscaling.describe_auto_scaling_instances(InstanceIds=[web])["AutoScalingInstances"]
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["acme-web"])["AutoScalingGroups"]
    denied = f"snapback-isolate-{web}" in iam.list_role_policies(RoleName="acme-web")["PolicyNames"]
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:snapback:finding", "Values": [c2["id"]]}])[
        "Snapshots"
    ]
    tags = {t["Key"]: t["Value"] for t in _describe(ec2, web).get("Tags", [])}
    timeline.add(
        "verify",
        f"{web}: groups {web_groups}, termination protection {protected}, in an Auto Scaling group: {bool(in_asg)} "
        f"(acme-web desired {group['DesiredCapacity']}, replacement launched), role deny {denied}, "
        f"{len(snapshots)} snapshot(s), snapback:isolated={tags.get('snapback:isolated')}",
    )
    payments_groups = _groups(ec2, payments)
    timeline.add("verify", f"{payments}: groups {payments_groups} (held for approval)")
    isolated = (
        web_groups == ["snapback-isolation"]
        and protected
        and not in_asg
        and group["DesiredCapacity"] == 1
        and denied
        and len(snapshots) == 2
        and tags.get("snapback:finding") == c2["id"]
    )
    outcomes = {r.target.resource_id if r.target else "-": r.outcome.value for r in results}
    return {
        "name": "compromised_instance",
        "account": account,
        "outcomes": outcomes,
        "passed": isolated
        and payments_groups == ["acme-web"]
        and outcomes.get(web) == Outcome.REMEDIATED.value
        and outcomes.get(payments) == Outcome.NOTIFIED.value
        and len(results) == 2,
        "results": [r.as_dict() for r in results],
    }
