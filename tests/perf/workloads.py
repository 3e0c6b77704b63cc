"""One repeatable, must-fire workload per remediation, for the call budgets and the benchmarks.

`prepare(org, i)` puts a fresh resource in a member account in the state the remediation fixes
and returns the event (as EventBridge delivers it) that names it; `i` keeps names unique, so a
hundred events are a hundred real remediations, never duplicate skips. Each workload follows a
case of the remediation's fixture file (the fullest path: inspect, act, verify, audit, notify,
finding). Works in moto decorator mode and against a moto server (AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from snapback import config as config_module
from snapback import membership
from snapback.clients import strip_account_host_prefix
from snapback.events import CONSOLE_SIGNIN, GUARDDUTY_FINDING
from snapback.runtime import OrganizationsDirectory, Runtime
from snapback_ops.demo import ORG_READER_ROLE, TABLE, LocalOrg, base_image, cloudtrail_record, runtime_for
from tests.remediations.helpers import FIXTURES, case_event, envelope, fill, service_event

REGION = "us-east-1"
# Far above any benchmark's volume: the breaker still counts every action (its calls are real),
# it just never holds one back.
OPEN_BREAKER = config_module.Breaker(max_per_account=1_000_000, max_per_remediation=1_000_000)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def case(name: str, title: str) -> dict[str, Any]:
    return next(c for c in fixture(name)["cases"] if c["name"] == title)


def suffix(i: int) -> str:
    return f"{i}-{uuid.uuid4().hex[:6]}"


def member_session(org: LocalOrg, name: str = "member-a") -> tuple[Any, str]:
    """The member's admin session (cached per organization: setup is not what is measured)."""
    account = org.members[name]
    key = (org.org_id, account, os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _SESSIONS:
        _SESSIONS[key] = _CachedSession(org.session(account))
    return _SESSIONS[key], account


class _CachedSession:
    def __init__(self, session: Any) -> None:
        self.session, self.clients = session, {}

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = self.session.client(service)
        return self.clients[service]


_SESSIONS: dict[tuple[str, str, str | None], _CachedSession] = {}
_AMIS: dict[str, str] = {}


# -- one prepare per remediation ------------------------------------------------------------------


def s3_block_public_access(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    bucket = f"perf-bucket-{suffix(i)}"
    session.client("s3").create_bucket(Bucket=bucket)
    return case_event(
        case("s3_block_public_access", "policy object grants * (CloudTrail form)"), account, bucket=bucket
    ).as_dict()


def s3_account_block_public_access(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org, "member-b")
    s3control = session.client("s3control")
    if os.environ.get("AWS_ENDPOINT_URL"):
        s3control.meta.events.register("before-send.s3-control.*", strip_account_host_prefix)
    off = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), False)
    s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=off)
    chosen = case("s3_account_block_public_access", "account block turned fully off")
    record = cloudtrail_record(account, "s3.amazonaws.com", chosen["event"], fill(chosen["request"], account=account))
    return envelope(record).as_dict()


def kms_enable_key_rotation(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    kms = session.client("kms")
    meta = kms.create_key(Description=f"perf key {i}")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=meta["KeyId"])
    kms.disable_key_rotation(KeyId=meta["KeyId"])
    chosen = case("kms_enable_key_rotation", "rotation disabled (key ARN)")
    return case_event(chosen, account, key=meta["KeyId"], arn=meta["Arn"]).as_dict()


def cloudtrail_restart_logging(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    name = f"perf-trail-{suffix(i)}"
    session.client("s3").create_bucket(Bucket=f"logs-{name}")
    session.client("cloudtrail").create_trail(Name=name, S3BucketName=f"logs-{name}", IsMultiRegionTrail=True)
    arn = f"arn:aws:cloudtrail:{REGION}:{account}:trail/{name}"
    return case_event(case("cloudtrail_restart_logging", "StopLogging by name"), account, trail=name, arn=arn).as_dict()


def config_recorder_restore(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    config = session.client("config")
    if not config.describe_configuration_recorders()["ConfigurationRecorders"]:
        bucket = f"perf-config-{suffix(i)}"
        session.client("s3").create_bucket(Bucket=bucket)
        role = f"arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
        group = {"allSupported": True, "includeGlobalResourceTypes": True}
        config.put_configuration_recorder(ConfigurationRecorder={"name": "default", "roleARN": role, "recordingGroup": group})
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": bucket})
        config.start_configuration_recorder(ConfigurationRecorderName="default")
    config.stop_configuration_recorder(ConfigurationRecorderName="default")
    chosen = case("config_recorder_restore", "recorder stopped, no baseline needed to restart")
    return case_event(fill(chosen, account=account), account).as_dict()


def ec2_revoke_world_admin_ports(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    ec2 = session.client("ec2")
    vpc = _vpc(ec2, "perf-revoke", "10.60.0.0/16")
    group = ec2.create_security_group(GroupName=f"perf-{suffix(i)}", Description="web tier", VpcId=vpc)["GroupId"]
    world_ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[world_ssh])
    chosen = case("ec2_revoke_world_admin_ports", "SSH from 0.0.0.0/0, rule ids recorded")
    record = cloudtrail_record(account, "ec2.amazonaws.com", chosen["event"], fill(chosen["request"], group=group))
    return envelope(record).as_dict()


def ec2_nacl_world_admin_ports(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    ec2 = session.client("ec2")
    acl = ec2.create_network_acl(VpcId=_vpc(ec2, "perf-nacl", "10.61.0.0/16"))["NetworkAcl"]["NetworkAclId"]
    chosen = case("ec2_nacl_world_admin_ports", "SSH from 0.0.0.0/0 allowed at rule 90")
    request = fill(chosen["request"], acl=acl)
    ec2.create_network_acl_entry(
        NetworkAclId=acl, RuleNumber=90, Protocol="6", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0",
        PortRange={"From": 22, "To": 22},
    )  # fmt: skip
    record = cloudtrail_record(account, "ec2.amazonaws.com", chosen["event"], request)
    return envelope(record).as_dict()


def waf_block_attacker_ip(org: LocalOrg, i: int) -> dict[str, Any]:
    from snapback.events import GUARDDUTY_FINDING
    from snapback.remediations.waf_block_attacker_ip import IP_SET_NAMES
    from tests.remediations.helpers import service_event

    _, account = member_session(org)
    wafv2 = org.session(org.security).client("wafv2", region_name="us-east-1")
    have = {s["Name"] for s in wafv2.list_ip_sets(Scope="REGIONAL")["IPSets"]}
    for version, name in IP_SET_NAMES.items():
        if name not in have:
            wafv2.create_ip_set(Name=name, Scope="REGIONAL", IPAddressVersion=f"IPV{version}", Addresses=[])
    chosen = case("waf_block_attacker_ip", "SSH brute force against an instance (INBOUND): attacker blocked")
    detail = fill(chosen["finding"], account=account, finding_id=f"perf{suffix(i)}", member_b=org.members["member-b"])
    detail["service"]["action"]["networkConnectionAction"]["remoteIpDetails"]["ipAddressV4"] = f"45.155.205.{10 + i}"
    return service_event("aws.guardduty", GUARDDUTY_FINDING, detail, account).as_dict()


def ec2_isolate_instance(org: LocalOrg, i: int) -> dict[str, Any]:
    """The fixture's fullest host: an instance profile, a second ENI and a data volume."""
    session, account = member_session(org)
    ec2, iam = session.client("ec2"), session.client("iam")
    vpc = _vpc(ec2, "perf-workload", "10.70.0.0/16")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    subnet = (
        subnets[0]["SubnetId"]
        if subnets
        else ec2.create_subnet(VpcId=vpc, CidrBlock="10.70.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    )
    group = ec2.create_security_group(GroupName=f"web-{suffix(i)}", Description="web tier", VpcId=vpc)["GroupId"]
    role = f"perf-web-{suffix(i)}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    iam.create_instance_profile(InstanceProfileName=role)
    iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    if vpc not in _AMIS:  # DescribeImages lists thousands of images in moto: once per VPC
        _AMIS[vpc] = base_image(ec2)
    ami = _AMIS[vpc]
    instance = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}],
    )["Instances"][0]["InstanceId"]
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Name": role}, InstanceId=instance)
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[group])["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=1)
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance]}])
    primary = sorted(e["NetworkInterfaceId"] for e in enis["NetworkInterfaces"])[0]
    data = fixture("ec2_isolate_instance")
    chosen = case("ec2_isolate_instance", "Backdoor C&C, instance with role, two ENIs and a data volume")
    detail = fill(
        data["finding"],
        account=account,
        instance=instance,
        eni=primary,
        vpc=vpc,
        subnet=subnet,
        group=group,
        finding_id=uuid.uuid4().hex,
    )
    detail["type"], detail["severity"] = chosen["type"], chosen["severity"]
    return service_event("aws.guardduty", GUARDDUTY_FINDING, detail, account).as_dict()


def iam_admin_policy_revert(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    iam = session.client("iam")
    policy = f"arn:aws:iam::{account}:policy/perf-ops-admin"
    try:
        iam.get_policy(PolicyArn=policy)
    except iam.exceptions.NoSuchEntityException:
        admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.create_policy(PolicyName="perf-ops-admin", PolicyDocument=json.dumps(admin))
    user = f"perf-admin-{suffix(i)}"
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn=policy)
    request = {"policyArn": policy, "userName": user}
    return envelope(cloudtrail_record(account, "iam.amazonaws.com", "AttachUserPolicy", request)).as_dict()


def iam_contain_credentials(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org, "member-b")
    iam = session.client("iam")
    user = f"perf-key-{suffix(i)}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    data = fixture("iam_contain_credentials")
    chosen = next(c for c in data["cases"] if c["name"] == "user's long-term key used from a malicious IP")
    last_seen = datetime.now(UTC) - timedelta(minutes=5)
    finding = copy.deepcopy(data["template"])
    finding["type"], finding["severity"] = chosen["type"], chosen["severity"]
    finding["resource"]["accessKeyDetails"] = {**chosen["accessKeyDetails"], "userName": user}
    finding = fill(
        finding,
        account=account,
        key=key,
        finding_id=uuid.uuid4().hex,
        first_seen=_stamp(last_seen - timedelta(minutes=20)),
        last_seen=_stamp(last_seen),
    )
    return service_event("aws.guardduty", GUARDDUTY_FINDING, finding, account).as_dict()


def root_activity_alert(org: LocalOrg, i: int) -> dict[str, Any]:
    _, account = member_session(org)
    chosen = case("root_activity_alert", "root sign-in success without MFA")
    record = cloudtrail_record(account, chosen["event_source"], chosen["event"], None, response=chosen["response"])
    record["userIdentity"] = {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}
    record["additionalEventData"] = chosen["additional"]
    record["eventType"] = "AwsConsoleSignIn"
    event = envelope(record).as_dict()
    event["source"], event["detail-type"] = "aws.signin", CONSOLE_SIGNIN[0]
    return event


def iam_backdoor_trust_revert(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    iam, role = session.client("iam"), f"perf-trust-{suffix(i)}"
    own = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [own]}))
    chosen = case("iam_backdoor_trust_revert", "trust changed to an outside account's root (Stratus backdoor-iam-role shape)")
    request = fill(chosen["request"], role=role, outside="999999999999")
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=request["policyDocument"])
    return envelope(cloudtrail_record(account, "iam.amazonaws.com", chosen["event"], request)).as_dict()


def iam_foreign_credentials(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    iam, user = session.client("iam"), f"perf-creds-{suffix(i)}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    chosen = case("iam_foreign_credentials", "assumed role makes a key for an IAM user (Stratus create-access-key shape)")
    record = cloudtrail_record(
        account,
        "iam.amazonaws.com",
        chosen["event"],
        fill(chosen["request"], user=user),
        response=fill(chosen["response"], user=user, key=key),
    )
    return envelope(record).as_dict()


def iam_console_login_without_mfa(org: LocalOrg, i: int) -> dict[str, Any]:
    _, account = member_session(org)
    chosen = case("iam_console_login_without_mfa", "IAM user signs in with a password alone")
    record = cloudtrail_record(account, "signin.amazonaws.com", "ConsoleLogin", None, response=chosen["response"])
    record["userIdentity"] = {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEPERFUSER1",
        "arn": f"arn:aws:iam::{account}:user/perf-user-{i}",
        "accountId": account,
        "userName": f"perf-user-{i}",
    }
    record["additionalEventData"] = chosen["additional"]
    record["eventType"] = "AwsConsoleSignIn"
    event = envelope(record).as_dict()
    event["source"], event["detail-type"] = "aws.signin", CONSOLE_SIGNIN[0]
    return event


def management_permission_boundary(org: LocalOrg, i: int) -> dict[str, Any]:
    """A role made without the boundary in the management account (paged: attach_boundary is off)."""
    import boto3

    from snapback import member_role

    iam = boto3.client("iam", region_name=REGION, endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))  # the management account
    role = org.config.member_role_name
    if not iam.list_roles(PathPrefix="/")["Roles"] or role not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
        trust = member_role.trust_policy(member_role.remediator_role_arns(org.security))
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName=role, PolicyName="snapback-remediations", PolicyDocument=json.dumps(member_role.permissions_policy())
        )
    name = f"perf-mgmt-{suffix(i)}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    chosen = case("management_permission_boundary", "role created without a boundary: paged (attach_boundary off)")
    return envelope(
        cloudtrail_record(org.management, "iam.amazonaws.com", chosen["event"], fill(chosen["request"], name=name))
    ).as_dict()


# -- detectors and logs (issue 13) ----------------------------------------------------------------


def guardduty_tampering(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    gd = session.client("guardduty")
    detector = (gd.list_detectors()["DetectorIds"] or [gd.create_detector(Enable=True)["DetectorId"]])[0]
    gd.update_detector(DetectorId=detector, Enable=False)
    record = cloudtrail_record(account, "guardduty.amazonaws.com", "UpdateDetector", {"detectorId": detector, "enable": False})
    return envelope(record).as_dict()


def cloudtrail_restore_trail(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    name = f"perf-restore-{suffix(i)}"
    session.client("s3").create_bucket(Bucket=f"logs-{name}")
    ct = session.client("cloudtrail")
    ct.create_trail(Name=name, S3BucketName=f"logs-{name}", IsMultiRegionTrail=True)
    ct.update_trail(Name=name, IsMultiRegionTrail=False)
    chosen = case("cloudtrail_restore_trail", "UpdateTrail turns multi-Region off, no baseline: switched back on")
    return _named(chosen, account, name)


def organization_departure_alert(org: LocalOrg, i: int) -> dict[str, Any]:
    _, account = member_session(org)
    return envelope(cloudtrail_record(account, "organizations.amazonaws.com", "LeaveOrganization", None)).as_dict()


def log_destruction_alert(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    group = f"aws-cloudtrail-logs-perf-{suffix(i)}"
    logs = session.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    request = {"logGroupName": group, "retentionInDays": 1}
    return envelope(cloudtrail_record(account, "logs.amazonaws.com", "PutRetentionPolicy", request)).as_dict()


def securityhub_tampering(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    hub = session.client("securityhub")
    hub.enable_security_hub(EnableDefaultStandards=False)
    hub.disable_security_hub()
    return envelope(cloudtrail_record(account, "securityhub.amazonaws.com", "DisableSecurityHub", None)).as_dict()


def _named(chosen: dict[str, Any], account: str, trail: str) -> dict[str, Any]:
    event = case_event(chosen, account).as_dict()
    event["detail"]["requestParameters"]["name"] = trail
    return event


def _vpc(ec2: Any, name: str, cidr: str) -> str:
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    if found:
        return found[0]["VpcId"]
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}]
    return ec2.create_vpc(CidrBlock=cidr, TagSpecifications=tags)["Vpc"]["VpcId"]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- sharing outside the organization (issue 13 item 6) ---------------------------------------------
OUTSIDE = "999988887777"


def _share_event(account: str, source: str, name: str, request: dict[str, Any], response: Any = None) -> dict[str, Any]:
    return envelope(cloudtrail_record(account, source, name, request, response=response)).as_dict()


def ebs_snapshot_share_revoke(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    ec2 = session.client("ec2")
    volume = ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a")["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    chosen = case("ebs_snapshot_share_revoke", "made public (group all)")
    return _share_event(account, "ec2.amazonaws.com", chosen["event"], fill(chosen["request"], snapshot=snapshot))


def ami_public_share_revoke(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    ec2 = session.client("ec2")
    base = base_image(ec2)
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=instance, Name=f"perf-{suffix(i)}")["ImageId"]
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})
    chosen = case("ami_public_share_revoke", "made public (group all)")
    return _share_event(account, "ec2.amazonaws.com", chosen["event"], fill(chosen["request"], image=image))


def rds_snapshot_share_revoke(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    rds, name = session.client("rds"), f"perf-{suffix(i)}"
    rds.create_db_instance(
        DBInstanceIdentifier=f"db-{name}",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    rds.create_db_snapshot(DBInstanceIdentifier=f"db-{name}", DBSnapshotIdentifier=name)
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=name, AttributeName="restore", ValuesToAdd=["all"])
    chosen = case("rds_snapshot_share_revoke", "DB snapshot made public")
    return _share_event(account, "rds.amazonaws.com", chosen["event"], fill(chosen["request"], name=name))


def lambda_public_permission_remove(org: LocalOrg, i: int) -> dict[str, Any]:
    import io
    import zipfile

    session, account = member_session(org)
    name = f"perf-fn-{suffix(i)}"
    role = session.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    lam = session.client("lambda")
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": buffer.getvalue()}
    )
    lam.add_permission(FunctionName=name, StatementId="open-invoke", Action="lambda:InvokeFunction", Principal="*")
    chosen = case("lambda_public_permission_remove", "anyone may invoke")
    return _share_event(account, "lambda.amazonaws.com", chosen["event"], fill(chosen["request"], function=name))


def ram_external_share_revoke(org: LocalOrg, i: int) -> dict[str, Any]:
    # moto has no DisassociateResourceShare: the workload is the share whose outside principal is
    # already gone (a member only), i.e. assume, organization lookup, inspect, record.
    session, account = member_session(org)
    share = session.client("ram").create_resource_share(name=f"perf-{suffix(i)}", principals=[org.members["member-b"]])
    arn = share["resourceShare"]["resourceShareArn"]
    chosen = case("ram_external_share_revoke", "the outside principal is already gone")
    return _share_event(account, "ram.amazonaws.com", chosen["event"], fill(chosen["request"], share=arn, outside=OUTSIDE))


def s3_kms_external_grant_alert(org: LocalOrg, i: int) -> dict[str, Any]:
    session, account = member_session(org)
    bucket = f"perf-grant-{suffix(i)}"
    chosen = case("s3_kms_external_grant_alert", "bucket policy grants an outside account: paged, nothing changed")
    policy = fill(chosen["policy"], bucket=bucket, outside=OUTSIDE)
    session.client("s3").create_bucket(Bucket=bucket)
    session.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    request = {"bucketName": bucket, "bucketPolicy": policy, "host": [f"{bucket}.s3.amazonaws.com"], "policy": [""]}
    return _share_event(account, "s3.amazonaws.com", chosen["event"], request)


@dataclass(frozen=True)
class Workload:
    remediation: str
    expect: str  # the outcome every prepared event must have
    prepare: Callable[[LocalOrg, int], dict[str, Any]]


WORKLOADS: dict[str, Workload] = {
    w.remediation: w
    for w in (
        Workload("s3_block_public_access", "REMEDIATED", s3_block_public_access),
        Workload("s3_account_block_public_access", "REMEDIATED", s3_account_block_public_access),
        Workload("kms_enable_key_rotation", "REMEDIATED", kms_enable_key_rotation),
        Workload("cloudtrail_restart_logging", "REMEDIATED", cloudtrail_restart_logging),
        Workload("config_recorder_restore", "REMEDIATED", config_recorder_restore),
        Workload("ec2_revoke_world_admin_ports", "REMEDIATED", ec2_revoke_world_admin_ports),
        Workload("ec2_nacl_world_admin_ports", "REMEDIATED", ec2_nacl_world_admin_ports),
        Workload("ec2_isolate_instance", "REMEDIATED", ec2_isolate_instance),
        Workload("waf_block_attacker_ip", "REMEDIATED", waf_block_attacker_ip),
        Workload("iam_admin_policy_revert", "REMEDIATED", iam_admin_policy_revert),
        Workload("iam_contain_credentials", "REMEDIATED", iam_contain_credentials),
        Workload("root_activity_alert", "NOTIFIED", root_activity_alert),
        Workload("ebs_snapshot_share_revoke", "REMEDIATED", ebs_snapshot_share_revoke),
        Workload("ami_public_share_revoke", "REMEDIATED", ami_public_share_revoke),
        Workload("rds_snapshot_share_revoke", "REMEDIATED", rds_snapshot_share_revoke),
        Workload("lambda_public_permission_remove", "REMEDIATED", lambda_public_permission_remove),
        Workload("ram_external_share_revoke", "ALREADY_COMPLIANT", ram_external_share_revoke),
        Workload("s3_kms_external_grant_alert", "NOTIFIED", s3_kms_external_grant_alert),
        Workload("iam_backdoor_trust_revert", "REMEDIATED", iam_backdoor_trust_revert),
        Workload("iam_foreign_credentials", "REMEDIATED", iam_foreign_credentials),
        Workload("iam_console_login_without_mfa", "NOTIFIED", iam_console_login_without_mfa),
        Workload("management_permission_boundary", "NOTIFIED", management_permission_boundary),
        Workload("guardduty_tampering", "REMEDIATED", guardduty_tampering),
        Workload("cloudtrail_restore_trail", "REMEDIATED", cloudtrail_restore_trail),
        Workload("organization_departure_alert", "NOTIFIED", organization_departure_alert),
        Workload("log_destruction_alert", "REMEDIATED", log_destruction_alert),
        Workload("securityhub_tampering", "REMEDIATED", securityhub_tampering),
    )
}


def bench_runtime(org: LocalOrg, remediation: str, *, membership_cached: bool = True) -> Runtime:
    """The remediation's runtime as in Lambda, with a breaker that counts but never holds back.

    As in Lambda, the organization's membership comes from Snapback's table (`snapback.membership`),
    which the sweep and the membership rule keep written: `membership_cached` writes it first (outside
    any count), so a cold process reads one item instead of assuming the reader role and listing the
    accounts; without it the first event pays for the live read and writes the item."""
    runtime = runtime_for(org, remediation)
    runtime.config = dataclasses.replace(runtime.config, breaker=OPEN_BREAKER)
    runtime.org = OrganizationsDirectory(runtime.clients, reader_arn(org), table=TABLE)
    if membership_cached:
        write_membership(org, runtime)
    else:
        runtime.clients.client("dynamodb").delete_item(TableName=TABLE, Key={"pk": {"S": membership.KEY}})
    return runtime


def fresh_table(org: LocalOrg) -> None:
    """Snapback's table emptied (dropped and made again, membership item written): moto copies the
    whole table for every TransactWriteItems, so each call of a bench slows with every item earlier
    remediations left there. DynamoDB does not; a bench gives each remediation a fresh table."""
    from snapback_ops.demo import create_table

    dynamodb = org.session(org.security).client("dynamodb")
    dynamodb.delete_table(TableName=TABLE)
    create_table(dynamodb)
    write_membership(org)


def reader_arn(org: LocalOrg) -> str:
    return f"arn:aws:iam::{org.management}:role/{ORG_READER_ROLE}"


def write_membership(org: LocalOrg, runtime: Runtime | None = None) -> None:
    """Write the organization's membership item as the sweep does (a live read, outside any count)."""
    clients = (runtime or runtime_for(org, "root_activity_alert")).clients
    OrganizationsDirectory(clients, reader_arn(org), table=TABLE).refresh()
