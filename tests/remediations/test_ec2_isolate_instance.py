"""ec2_isolate_instance under moto: a real org, the member role assumed through STS, state asserted.

moto gap: an ENI attached to an instance reports its own groups *plus* the instance's launch
groups (`SecurityGroupIds` of RunInstances), so a launch group never leaves the primary ENI after
ModifyNetworkInterfaceAttribute. The instances here are launched with ENI-level groups (as a
launch template's NetworkInterfaces does), where moto behaves like EC2; the gap itself is shown in
`test_moto_gap_launch_groups_stay_on_the_eni_and_verification_says_so`: verification re-reads the
ENIs and reports FAILED rather than claim an isolation it cannot see.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from snapback import registry
from snapback.config import Exemption
from snapback.events import GUARDDUTY_FINDING, normalise
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback_ops.demo import base_image, runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import FIXTURES, fill, inject_error, load_cases, service_event

NAME = "ec2_isolate_instance"
CASES = load_cases(NAME)
TEMPLATE = json.loads((FIXTURES / f"{NAME}.json").read_text())["finding"]
BY_NAME = {c["name"]: c for c in CASES}
WEB = BY_NAME["Backdoor C&C, instance with role, two ENIs and a data volume"]
ASG = BY_NAME["CryptoCurrency miner in an Auto Scaling group"]
PLAIN = BY_NAME["Trojan DNS exfiltration, no role"]
ISOLATION, ALLOW_ALL = "snapback-isolation", "snapback-isolation-allow-all"


@dataclasses.dataclass
class Host:
    """A member-account instance and the clients to look at it (as the account's admin)."""

    account: str
    instance: str
    vpc: str
    subnet: str
    sg: str
    ec2: Any
    iam: Any
    autoscaling: Any
    role: str | None = None
    asg: str | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:us-east-1:{self.account}:instance/{self.instance}"

    def enis(self) -> dict[str, list[str]]:
        found = self.ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [self.instance]}])
        return {e["NetworkInterfaceId"]: sorted(g["GroupId"] for g in e["Groups"]) for e in found["NetworkInterfaces"]}

    def tags(self) -> dict[str, str]:
        (r,) = self.ec2.describe_instances(InstanceIds=[self.instance])["Reservations"]
        return {t["Key"]: t["Value"] for t in r["Instances"][0].get("Tags", [])}

    def protected(self) -> bool:
        return self.ec2.describe_instance_attribute(InstanceId=self.instance, Attribute="disableApiTermination")[
            "DisableApiTermination"
        ]["Value"]

    def in_asg(self) -> str | None:
        found = self.autoscaling.describe_auto_scaling_instances(InstanceIds=[self.instance])["AutoScalingInstances"]
        return found[0]["AutoScalingGroupName"] if found else None

    def role_policies(self) -> list[str]:
        return self.iam.list_role_policies(RoleName=self.role)["PolicyNames"] if self.role else []

    def snapshots(self, finding_id: str) -> list[dict[str, Any]]:
        return self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:snapback:finding", "Values": [finding_id]}])[
            "Snapshots"
        ]

    def volumes(self) -> list[str]:
        (r,) = self.ec2.describe_instances(InstanceIds=[self.instance])["Reservations"]
        return sorted(m["Ebs"]["VolumeId"] for m in r["Instances"][0]["BlockDeviceMappings"])

    def group(self, name: str) -> dict[str, Any] | None:
        found = self.ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [self.vpc]}, {"Name": "group-name", "Values": [name]}]
        )["SecurityGroups"]
        return found[0] if found else None

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "enis": self.enis(),
            "tags": self.tags(),
            "protected": self.protected(),
            "asg": self.in_asg(),
            "policies": self.role_policies(),
        }


def network(org: Any, member: str = "member-a") -> tuple[Any, str, str, str, str]:
    account = org.members[member]
    session = org.session(account)
    ec2 = session.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["workload"]}])["Vpcs"]
    if vpcs:
        vpc = vpcs[0]["VpcId"]
        subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
        group = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["web"]}]
        )["SecurityGroups"][0]["GroupId"]
        return session, account, vpc, subnet, group
    vpc = ec2.create_vpc(
        CidrBlock="10.40.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "workload"}]}]
    )["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web tier", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    return session, account, vpc, subnet, group


def make_host(org: Any, setup: str = "web", launch_groups: bool = False) -> Host:
    session, account, vpc, subnet, group = network(org)
    ec2, iam, autoscaling = session.client("ec2"), session.client("iam"), session.client("autoscaling")
    ami = base_image(ec2)
    role = None
    if setup != "plain":
        role = f"web-{uuid.uuid4().hex[:6]}"
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        iam.create_instance_profile(InstanceProfileName=f"{role}-profile")
        iam.add_role_to_instance_profile(InstanceProfileName=f"{role}-profile", RoleName=role)
    asg = None
    if setup == "asg":
        asg = f"web-asg-{uuid.uuid4().hex[:6]}"
        ec2.create_launch_template(
            LaunchTemplateName=asg,
            LaunchTemplateData={
                "ImageId": ami,
                "InstanceType": "t3.micro",
                "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet}],
            },
        )
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=asg,
            LaunchTemplate={"LaunchTemplateName": asg},
            MinSize=1,
            MaxSize=3,
            DesiredCapacity=1,
            VPCZoneIdentifier=subnet,
        )
        instance = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])["AutoScalingGroups"][0]["Instances"][0][
            "InstanceId"
        ]
    else:
        kwargs: dict[str, Any] = (
            {"SubnetId": subnet, "SecurityGroupIds": [group]}
            if launch_groups
            else {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}]}
        )
        tags = [{"Key": "Name", "Value": "web-1"}] + (
            [{"Key": "snapback:critical", "Value": "true"}] if setup == "critical" else []
        )
        instance = ec2.run_instances(
            ImageId=ami,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            **kwargs,
        )["Instances"][0]["InstanceId"]
    if role:
        ec2.associate_iam_instance_profile(IamInstanceProfile={"Name": f"{role}-profile"}, InstanceId=instance)
    if setup in ("web", "critical", "isolated", "terminated"):
        eni = ec2.create_network_interface(SubnetId=subnet, Groups=[group])["NetworkInterface"]["NetworkInterfaceId"]
        ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=1)
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20)["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
    return Host(account, instance, vpc, subnet, group, ec2, iam, autoscaling, role, asg)


def finding_event(
    host: Host, case: dict[str, Any], event_account: str | None = None, finding_id: str | None = None
) -> dict[str, Any]:
    (eni, *_) = sorted(host.enis())
    detail = fill(
        TEMPLATE,
        account=host.account,
        instance=host.instance,
        eni=eni,
        vpc=host.vpc,
        subnet=host.subnet,
        group=host.sg,
        finding_id=finding_id or uuid.uuid4().hex,
    )
    detail["type"], detail["severity"] = case["type"], case["severity"]
    if case.get("sample"):
        detail["service"]["additionalInfo"]["sample"] = True
    return service_event("aws.guardduty", GUARDDUTY_FINDING, detail, event_account or host.account).as_dict()


def routed(event: dict[str, Any]) -> bool:
    return any(matches(t.pattern, event) for t in registry.get(NAME).triggers)


def assert_isolated(host: Host, finding_id: str) -> None:
    isolation, allow_all = host.group(ISOLATION), host.group(ALLOW_ALL)
    assert isolation and allow_all
    assert isolation["IpPermissions"] == [] and isolation["IpPermissionsEgress"] == []
    assert allow_all["IpPermissions"] == [], "the allow-all group is disarmed once no ENI uses it"
    assert {t["Key"]: t["Value"] for t in isolation["Tags"]}["snapback:role"] == "isolation"
    assert all(groups == [isolation["GroupId"]] for groups in host.enis().values())
    assert host.protected() is True and host.in_asg() is None
    tags = host.tags()
    assert tags["snapback:finding"] == finding_id and tags["snapback:isolated"].endswith("Z")
    if host.role:
        document = host.iam.get_role_policy(RoleName=host.role, PolicyName=f"snapback-isolate-{host.instance}")["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        (statement,) = document["Statement"]
        assert statement["Effect"] == "Deny" and statement["Action"] == "*"
        assert statement["Condition"] == {"StringEquals": {"ec2:SourceInstanceARN": host.arn}}
    snapshots = host.snapshots(finding_id)
    assert sorted(s["VolumeId"] for s in snapshots) == host.volumes()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    host = make_host(org, case["setup"])
    runtime = runtime_for(org, NAME)
    if case["setup"] == "isolated":
        (first,) = runtime.process(finding_event(host, WEB), remediations=[NAME])
        assert first.outcome is Outcome.REMEDIATED
    if case["setup"] == "terminated":
        host.ec2.terminate_instances(InstanceIds=[host.instance])
    event = finding_event(host, case)
    finding_id = event["detail"]["id"]
    assert routed(event) == case["routed"]
    desired = (
        host.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[host.asg])["AutoScalingGroups"][0]["DesiredCapacity"]
        if host.asg
        else None
    )
    before = host.snapshot_state() if case["setup"] != "terminated" else None

    (result,) = runtime.process(event, remediations=[NAME])

    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] == "REMEDIATED":
        # the finding that acted: this event's, or its twin's when the adversarial suites deliver one beside it
        finding_id = result.target.facts["finding_id"]
        assert_isolated(host, finding_id)
        assert result.before["metadata"]["InstanceId"] == host.instance
        assert result.before["network_interfaces"] and all(e["groups"] for e in result.before["network_interfaces"])
        assert result.finding_id and result.notification_id and result.audit_id
        assert result.source_identity == "snapback@ec2_isolate_instance"
        if host.asg:
            (group,) = host.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[host.asg])["AutoScalingGroups"]
            assert group["DesiredCapacity"] == desired, "detached without decrementing: a replacement is launched"
            assert host.instance not in [i["InstanceId"] for i in group["Instances"]]
    elif before is not None and case["setup"] != "isolated":
        assert host.snapshot_state() == before  # nothing changed
        assert host.snapshots(finding_id) == []


def test_undo_restores_groups_asg_protection_role_and_tags_and_is_idempotent(org):
    from snapback.operations import undo

    for setup in ("web", "asg"):
        host = make_host(org, setup)
        runtime = runtime_for(org, NAME)
        before = host.snapshot_state()
        event = finding_event(host, WEB if setup == "web" else ASG)
        (result,) = runtime.process(event, remediations=[NAME])
        assert result.outcome is Outcome.REMEDIATED

        first = undo(runtime, result.audit_id)
        assert first["outcome"] == "UNDONE"
        assert host.snapshot_state() == before
        assert host.snapshots(event["detail"]["id"]), "snapshots are evidence: kept"
        assert undo(runtime, result.audit_id)["outcome"] == "ALREADY_UNDONE"
        session = runtime.clients.member(host.account, "us-east-1", NAME)
        actions = registry.get(NAME)().undo(session, result.target, result.undo)
        assert host.snapshot_state() == before
        assert not any(a.startswith(("ec2:", "autoscaling:", "iam:")) for a in actions), actions


def test_critical_instance_is_notified_with_the_plan_then_approved(org):
    from snapback.operations import approve

    host = make_host(org, "critical")
    runtime = runtime_for(org, NAME)
    before = host.snapshot_state()
    event = finding_event(host, WEB)
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED and "snapback:critical=true" in result.reason
    assert result.mode == "enforce (approval required)"
    assert any("DisableApiTermination" in a for a in result.actions)
    assert any("snapback-isolation" in a for a in result.actions)
    assert host.snapshot_state() == before

    approved = approve(runtime, result.audit_id, "alice")
    assert approved.outcome is Outcome.REMEDIATED and "approved by alice" in approved.reason
    assert_isolated(host, event["detail"]["id"])


def test_critical_tag_is_configurable(org):
    host = make_host(org, "web")
    host.ec2.create_tags(Resources=[host.instance], Tags=[{"Key": "tier", "Value": "Payments"}])
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(
        runtime.config, options={NAME: {"critical_tag_key": "tier", "critical_tag_value": "payments"}}
    )
    (result,) = runtime.process(finding_event(host, WEB), remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED and "tier=Payments" in result.reason


def test_options_narrow_types_and_severity(org):
    host = make_host(org, "plain")
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(
        runtime.config, options={NAME: {"min_severity": 8.5, "type_prefixes": ["Backdoor:EC2/"]}}
    )
    (low,) = runtime.process(finding_event(host, WEB), remediations=[NAME])
    assert low.outcome is Outcome.SKIPPED and "below 8.5" in low.reason
    (other,) = runtime.process(finding_event(host, {**PLAIN, "severity": 9}), remediations=[NAME])
    assert other.outcome is Outcome.SKIPPED and "not an EC2 compromise type" in other.reason
    (hit,) = runtime.process(finding_event(host, {**WEB, "severity": 9}), remediations=[NAME])
    assert hit.outcome is Outcome.REMEDIATED


def test_finding_from_the_guardduty_administrator_names_the_member(org):
    host = make_host(org, "plain")
    event = finding_event(host, PLAIN, event_account=org.security)
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.REMEDIATED and result.target.account == host.account


def test_isolation_groups_are_reused_per_vpc_and_emptied_if_someone_added_rules(org):
    first, second = make_host(org, "plain"), make_host(org, "plain")
    runtime = runtime_for(org, NAME)
    (a,) = runtime.process(finding_event(first, PLAIN), remediations=[NAME])
    isolation = first.group(ISOLATION)
    first.ec2.authorize_security_group_ingress(
        GroupId=isolation["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    (b,) = runtime.process(finding_event(second, PLAIN), remediations=[NAME])
    assert a.outcome is b.outcome is Outcome.REMEDIATED
    groups = first.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [first.vpc]}])["SecurityGroups"]
    assert sorted(g["GroupName"] for g in groups if g["GroupName"].startswith("snapback")) == [ISOLATION, ALLOW_ALL]
    assert second.group(ISOLATION)["GroupId"] == isolation["GroupId"]
    assert_isolated(first, a.target.facts["finding_id"])


def test_moto_gap_launch_groups_stay_on_the_eni_and_verification_says_so(org):
    """moto keeps RunInstances' SecurityGroupIds on the primary ENI whatever ModifyNetworkInterfaceAttribute
    sets. EC2 replaces them. Verification re-reads the ENIs, sees the old group and reports FAILED."""
    host = make_host(org, "plain", launch_groups=True)
    (result,) = runtime_for(org, NAME).process(finding_event(host, PLAIN), remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "verification failed" in result.reason
    (eni,) = result.after["network_interfaces"]
    assert host.sg in eni["groups"] and host.group(ISOLATION)["GroupId"] in eni["groups"]
    assert result.undo["network_interfaces"][0]["groups"] == [host.sg]  # the undo data is recorded
    assert host.protected() is True  # every other step was done
    # A redrive of the failed event acts again: the instance carries the finding's tag, so the
    # snapshots that run took are found and kept, not taken twice.
    finding_id = result.target.facts["finding_id"]
    taken = host.snapshots(finding_id)
    assert taken and result.undo["snapshots"] == sorted(s["SnapshotId"] for s in taken)
    (again,) = runtime_for(org, NAME).process(finding_event(host, PLAIN, finding_id=finding_id), remediations=[NAME])
    assert again.outcome is Outcome.FAILED and again.undo["snapshots"] == result.undo["snapshots"]
    assert host.snapshots(finding_id) == taken


@pytest.mark.parametrize("mode, outcome", [("notify", Outcome.NOTIFIED), ("dry-run", Outcome.DRY_RUN)])
def test_notify_and_dry_run_change_nothing_but_say_what_they_would_do(org, mode, outcome):
    host = make_host(org, "asg")
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, modes={NAME: mode})
    before = host.snapshot_state()
    (result,) = runtime.process(finding_event(host, ASG), remediations=[NAME])
    assert result.outcome is outcome and result.mode == mode
    assert any("DetachInstances" in a and "ShouldDecrementDesiredCapacity=false" in a for a in result.actions)
    assert host.snapshot_state() == before


def test_exempt_instance_is_left_alone(org):
    host = make_host(org, "plain")
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, exemptions=(Exemption(reason="honeypot", resources=(host.arn,)),))
    before = host.snapshot_state()
    (result,) = runtime.process(finding_event(host, PLAIN), remediations=[NAME])
    assert result.outcome is Outcome.EXEMPT and host.snapshot_state() == before


def test_duplicate_deliveries_act_once(org):
    host = make_host(org, "plain")
    runtime = runtime_for(org, NAME)
    event = finding_event(host, PLAIN)
    outcomes = [r.outcome for _ in range(3) for r in runtime.process(event, remediations=[NAME])]
    assert outcomes == [Outcome.REMEDIATED, Outcome.SKIPPED, Outcome.SKIPPED]
    assert len(host.snapshots(event["detail"]["id"])) == len(host.volumes())


def test_access_denied_in_the_member_is_a_failed_outcome_and_a_redrive_finishes(org):
    host = make_host(org, "web")
    runtime = runtime_for(org, NAME)
    inject_error(
        runtime.clients.member(host.account, "us-east-1", NAME).client("ec2"), "ModifyInstanceAttribute", "UnauthorizedOperation"
    )
    event = finding_event(host, WEB)
    before = host.snapshot_state()
    (result,) = runtime.process(event, remediations=[NAME])
    assert result.outcome is Outcome.FAILED and "UnauthorizedOperation" in result.reason
    assert result.notification_id and result.finding_id
    assert host.snapshot_state() == before
    (again,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert again.outcome is Outcome.REMEDIATED
    assert_isolated(host, event["detail"]["id"])


def test_throttling_raises_for_the_platform_to_retry(org):
    from snapback.errors import RetryableError

    host = make_host(org, "plain")
    runtime = runtime_for(org, NAME)
    inject_error(
        runtime.clients.member(host.account, "us-east-1", NAME).client("ec2"), "CreateSnapshots", "RequestLimitExceeded", 503
    )
    event = finding_event(host, PLAIN)
    with pytest.raises(RetryableError):
        runtime.process(event, remediations=[NAME])
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])  # the retry finishes the job
    assert result.outcome is Outcome.REMEDIATED
    assert len(host.snapshots(event["detail"]["id"])) == len(host.volumes())


def test_an_instance_gone_meanwhile_is_nothing_to_isolate(org):
    host = make_host(org, "plain")
    event = finding_event(host, PLAIN)
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = "i-0123456789abcdef0"
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.ALREADY_COMPLIANT and "InvalidInstanceID.NotFound" in result.reason


def test_finding_without_an_instance_is_rejected(org):
    host = make_host(org, "plain")
    event = finding_event(host, PLAIN)
    del event["detail"]["resource"]["instanceDetails"]
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome is Outcome.REJECTED and "names no instance" in result.reason


def test_shared_real_guardduty_events_are_not_routed_here():
    """The corpus's GuardDuty findings are IAM / attack-sequence ones; no shared event must select this."""
    seen = 0
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - rejected inputs are covered by the corpus test
            continue
        for env in envelopes:
            seen += env.source == "aws.guardduty"
            assert not routed(json.loads(json.dumps(env.as_dict()))), path.name
    assert seen >= 2


def test_declared_permissions_are_exactly_the_calls_made(org):
    """Record every member-account call of the approval check, inspect, apply, the retry of a try
    interrupted after its snapshots, verify and undo; map to IAM actions."""
    from snapback.errors import RetryableError
    from snapback.operations import undo

    calls: set[str] = set()
    host = make_host(org, "asg")
    runtime = runtime_for(org, NAME)
    session = runtime.clients.member(host.account, "us-east-1", NAME)
    for service in ("ec2", "autoscaling", "iam"):
        prefix = session.client(service).meta.service_model.signing_name
        session.client(service).meta.events.register(
            f"before-call.{service}.*", lambda model, prefix=prefix, **_: calls.add(f"{prefix}:{model.name}")
        )
    event = finding_event(host, ASG)
    throttled = [True]

    def create_tags(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        error = {"Code": "RequestLimitExceeded", "Message": "injected RequestLimitExceeded"}
        return (AWSResponse("https://fault.invalid", 503, {}, None), {"Error": error}) if throttled[0] else None

    session.client("ec2").meta.events.register("before-call.ec2.CreateTags", create_tags)
    with pytest.raises(RetryableError):  # the try is interrupted after its snapshots
        runtime.process(event, remediations=[NAME])
    throttled[0] = False
    taken = host.snapshots(event["detail"]["id"])
    assert taken and len(taken) == len(host.volumes())
    (result,) = runtime.process(event, remediations=[NAME])  # the retry finds the snapshots the first try took
    assert result.outcome is Outcome.REMEDIATED
    assert host.snapshots(event["detail"]["id"]) == taken
    assert result.undo["snapshots"] == sorted(s["SnapshotId"] for s in taken)
    undo(runtime, result.audit_id)
    assert calls == set(registry.get(NAME).permissions)
