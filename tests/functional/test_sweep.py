"""The reconciliation sweep under moto: violations made with no event at all are found and go through
the same decision path as events (modes, exemptions, audit, finding, notification)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapback import registry
from snapback.clients import Clients
from snapback.config import Config, Exemption, ModeOverride, Sweep
from snapback.errors import ConfigError
from snapback.member_role import SWEEP_ROLE
from snapback.runtime import OrganizationsDirectory, Runtime
from snapback.sweep import Sweeper
from snapback_ops.demo import ORG_READER_ROLE, REGION, TABLE, TOPIC, base_image, oncall_messages, session_in

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

OTHER = "eu-west-1"
REGIONS = (REGION, OTHER)
FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ALL_ON = dict.fromkeys(FLAGS, True)
WALK_BUCKETS = {"s3_block_public_access": {"sweep_buckets_under_account_block": True}}


class FakeClock:
    """time.monotonic and time.sleep for the pacer: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def sweep_runtime(org: Any, **config: Any) -> Runtime:
    """The runtime as the sweep function's role (`snapback-fn-sweep`) runs it, over two Regions."""
    iam = org.session(org.security).client("iam")
    if SWEEP_ROLE not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
        lambda_trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        iam.create_role(
            RoleName=SWEEP_ROLE, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [lambda_trust]})
        )
    clients = Clients(region=REGION, member_role_name=org.config.member_role_name, session=session_in(org.security, SWEEP_ROLE))
    return Runtime(
        # Most tests seed open buckets in accounts whose account-level block is on (`healthy`): walk them
        # anyway; the default (not walked) has its own test at the end.
        config=dataclasses.replace(org.config, **{"regions": REGIONS, "options": WALK_BUCKETS, **config}),
        clients=clients,
        table=TABLE,
        topic_arn=f"arn:aws:sns:{REGION}:{org.security}:{TOPIC}",
        org=OrganizationsDirectory(clients, f"arn:aws:iam::{org.management}:role/{ORG_READER_ROLE}"),
    )


def sweeper(runtime: Runtime, members: list[str], clock: FakeClock | None = None, **kwargs: Any) -> Sweeper:
    clock = clock or FakeClock()
    return Sweeper(runtime, accounts=members, clock=clock, sleep=clock.sleep, **kwargs)


def client(org: Any, account: str, service: str, region: str = REGION) -> Any:
    return org.session(account).client(service, region_name=region)


def bucket(org: Any, account: str, name: str, region: str = REGION, blocked: bool = False) -> None:
    s3 = client(org, account, "s3", region)
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **location)
    if blocked:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=ALL_ON)


def bucket_block(org: Any, account: str, name: str) -> dict[str, bool] | None:
    s3 = client(org, account, "s3")
    try:
        return s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        return None


def account_block(org: Any, account: str) -> dict[str, bool] | None:
    s3control = client(org, account, "s3control")
    try:
        return s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    except s3control.exceptions.ClientError:
        return None


def trail(org: Any, account: str, name: str, region: str, logging: bool, multi_region: bool = False) -> str:
    bucket(org, account, f"{name}-logs-{account}", region, blocked=True)
    ct = client(org, account, "cloudtrail", region)
    arn = ct.create_trail(Name=name, S3BucketName=f"{name}-logs-{account}", IsMultiRegionTrail=multi_region)["TrailARN"]
    if logging:
        ct.start_logging(Name=name)
    return str(arn)


def recorder(org: Any, account: str, region: str, recording: bool = True) -> None:
    bucket(org, account, f"config-{account}-{region}", region, blocked=True)
    config = client(org, account, "config", region)
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": f"arn:aws:iam::{account}:role/aws-config",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": f"config-{account}-{region}"})
    if recording:
        config.start_configuration_recorder(ConfigurationRecorderName="default")


def key(org: Any, account: str, region: str) -> str:
    kms = client(org, account, "kms", region)
    return str(kms.create_key(Description="app data")["KeyMetadata"]["KeyId"])


def rotating(org: Any, account: str, region: str, key_id: str) -> bool:
    return bool(client(org, account, "kms", region).get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"])


def world_ssh(org: Any, account: str, region: str) -> str:
    ec2 = client(org, account, "ec2", region)
    group = str(ec2.create_security_group(GroupName="bastion", Description="bastion")["GroupId"])
    permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    return group


def world_open(org: Any, account: str, region: str, group: str) -> list[int]:
    (sg,) = client(org, account, "ec2", region).describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return sorted(p.get("FromPort", -1) for p in sg["IpPermissions"] if any(r["CidrIp"] == "0.0.0.0/0" for r in p["IpRanges"]))


def audit_items(runtime: Runtime) -> list[dict[str, Any]]:
    return runtime.audit.scan(10_000)


def findings(org: Any) -> list[dict[str, Any]]:
    return client(org, org.security, "securityhub").get_findings(MaxResults=100)["Findings"]


def healthy(org: Any, members: list[str]) -> None:
    """What a well-run member looks like: account block on, Config recording in both Regions."""
    for account in members:
        client(org, account, "s3control").put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=ALL_ON)
        for region in REGIONS:
            recorder(org, account, region)


# -- the sweep fixes what no event announced --------------------------------------------------------


def test_violations_made_without_events_are_fixed_in_every_member_and_region_and_only_once(org):
    a, b = org.members["member-a"], org.members["member-b"]
    healthy(org, [a, b])
    # member-a: bucket, trail, key in us-east-1; SSH in eu-west-1; account block weakened; recorder stopped.
    bucket(org, a, "a-open")
    stopped_a = trail(org, a, "org-audit", REGION, logging=False, multi_region=True)  # shadowed in eu-west-1
    key_a = key(org, a, REGION)
    sg_a = world_ssh(org, a, OTHER)
    client(org, a, "s3control").put_public_access_block(
        AccountId=a, PublicAccessBlockConfiguration={**ALL_ON, "IgnorePublicAcls": False}
    )
    client(org, a, "config").stop_configuration_recorder(ConfigurationRecorderName="default")
    # member-b: the same kinds of drift in the other Region, and no account block at all.
    bucket(org, b, "b-open", OTHER)
    stopped_b = trail(org, b, "local", OTHER, logging=False)
    key_b = key(org, b, OTHER)
    sg_b = world_ssh(org, b, REGION)
    client(org, b, "s3control").delete_public_access_block(AccountId=b)
    trail(org, b, "fine", REGION, logging=True)
    bucket(org, b, "b-private", blocked=True)

    runtime = sweep_runtime(org)
    summary = sweeper(runtime, [a, b]).run()

    assert summary.errors == [], summary.errors
    assert summary.accounts == sorted([a, b]) and summary.regions == list(REGIONS)
    # per account: every regional sweep in each of the 2 Regions + every account-wide sweep (from the registry)
    regional = sum(1 for r in registry.swept() if r.sweep_scope == "region")
    account_wide = sum(1 for r in registry.swept() if r.sweep_scope == "account")
    assert summary.checks == 2 * (regional * 2 + account_wide)
    found = Counter((f["remediation"], f["account"], f["region"]) for f in summary.found)
    assert found == Counter(
        {
            ("s3_block_public_access", a, REGION): 1,
            ("cloudtrail_restart_logging", a, REGION): 1,  # once: the eu-west-1 shadow is not counted
            ("kms_enable_key_rotation", a, REGION): 1,
            ("ec2_revoke_world_admin_ports", a, OTHER): 1,
            ("s3_account_block_public_access", a, REGION): 1,
            ("config_recorder_restore", a, REGION): 1,
            ("s3_block_public_access", b, OTHER): 1,
            ("cloudtrail_restart_logging", b, OTHER): 1,
            ("kms_enable_key_rotation", b, OTHER): 1,
            ("ec2_revoke_world_admin_ports", b, REGION): 1,
            ("s3_account_block_public_access", b, REGION): 1,
        }
    )
    assert summary.outcomes == {"REMEDIATED": 11}

    # AWS state, read back as each member's own admin
    assert bucket_block(org, a, "a-open") == ALL_ON and bucket_block(org, b, "b-open") == ALL_ON
    assert account_block(org, a) == ALL_ON and account_block(org, b) == ALL_ON
    assert client(org, a, "cloudtrail").get_trail_status(Name=stopped_a)["IsLogging"]
    assert client(org, b, "cloudtrail", OTHER).get_trail_status(Name=stopped_b)["IsLogging"]
    assert rotating(org, a, REGION, key_a) and rotating(org, b, OTHER, key_b)
    assert world_open(org, a, OTHER, sg_a) == [443] and world_open(org, b, REGION, sg_b) == [443]
    status = client(org, a, "config").describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    assert status[0]["recording"]

    # audit, Security Hub finding and on-call notification for every fix, marked as the sweep's
    items = [i for i in audit_items(runtime) if i["outcome"] == "REMEDIATED"]
    assert len(items) == 11 and {i["event_id"] for i in items} == {summary.run_id}
    assert all(i.get("finding_id") and i.get("notification_id") for i in items)
    assert all(i["source_identity"] == f"snapback@{i['remediation']}" for i in items)
    assert len(findings(org)) == 11
    messages = oncall_messages(org)
    assert len(messages) == 11 and all(m["event_id"] == summary.run_id for m in messages)

    # a second sweep finds nothing and does nothing twice
    again = sweeper(runtime, [a, b]).run()
    assert again.violations == 0 and again.errors == [] and again.outcomes == {}
    assert len(audit_items(runtime)) == len(items) and oncall_messages(org) == []


def test_notify_mode_accounts_and_exempt_resources_are_reported_once_a_day_and_left_alone(org):
    a, b = org.members["member-a"], org.members["member-b"]
    healthy(org, [a, b])
    bucket(org, a, "public-site-www")
    bucket(org, a, "a-open")
    key_b = key(org, b, REGION)
    sg_b = world_ssh(org, b, OTHER)
    runtime = sweep_runtime(
        org,
        overrides=(ModeOverride(mode="notify", reason="production: a person approves", accounts=(b,)),),
        exemptions=(Exemption(reason="static website (TICKET-1)", resources=("arn:aws:s3:::public-site-*",)),),
    )
    day = datetime(2026, 11, 23, 8, tzinfo=UTC)

    first = sweeper(runtime, [a, b], now=lambda: day).run()

    by_resource = {f["resource"].rsplit("/", 1)[-1].rsplit(":", 1)[-1]: f["outcome"] for f in first.found}
    assert by_resource == {"public-site-www": "EXEMPT", "a-open": "REMEDIATED", key_b: "NOTIFIED", sg_b: "NOTIFIED"}
    assert bucket_block(org, a, "public-site-www") is None and bucket_block(org, a, "a-open") == ALL_ON
    assert not rotating(org, b, REGION, key_b) and world_open(org, b, OTHER, sg_b) == [22, 443]
    notified = oncall_messages(org)
    assert sorted(m["outcome"] for m in notified) == ["EXEMPT", "NOTIFIED", "NOTIFIED", "REMEDIATED"]
    assert all(m["mode"] == "notify" for m in notified if m["where"]["account"] == b)
    recorded = len(audit_items(runtime))

    # later the same day: the violations that stay are known, so nobody is paged again
    later = sweeper(runtime, [a, b], now=lambda: day + timedelta(hours=6)).run()
    assert later.violations == 3 and later.outcomes == {"SKIPPED": 3}
    assert all("already reported" in f["reason"] for f in later.found)
    assert oncall_messages(org) == [] and len(audit_items(runtime)) == recorded

    # the next day they are reported again, still untouched
    next_day = sweeper(runtime, [a, b], now=lambda: day + timedelta(days=1)).run()
    assert next_day.outcomes == {"EXEMPT": 1, "NOTIFIED": 2}
    assert len(oncall_messages(org)) == 3 and not rotating(org, b, REGION, key_b)


def test_access_denied_in_one_account_is_counted_and_the_others_are_still_fixed(org, capsys):
    a, b = org.members["member-a"], org.members["member-b"]
    bucket(org, a, "a-open")
    bucket(org, b, "b-open")
    runtime = sweep_runtime(org)
    runtime.emit_metrics = True
    sweep = sweeper(runtime, [a, b], remediations=["s3_block_public_access", "kms_enable_key_rotation"])
    denied = f"arn:aws:iam::{a}:role/{org.config.member_role_name}"

    def deny(params: dict[str, Any], **_: Any) -> Any:
        if (params.get("body") or {}).get("RoleArn") == denied:  # the serialized AssumeRole request
            from botocore.awsrequest import AWSResponse

            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}}
            return AWSResponse("https://sts.invalid", 403, {}, None), {**error, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return None

    sweep.runtime.clients.client("sts").meta.events.register("before-call.sts.AssumeRole", deny)
    # and in member-b, listing keys in eu-west-1 is refused: that one check fails, nothing else
    from tests.remediations.helpers import inject_error

    inject_error(
        sweep.runtime.clients.member(b, OTHER, "kms_enable_key_rotation").client("kms"), "ListKeys", "AccessDeniedException"
    )

    summary = sweep.run()

    errors = {(e["account"], e["region"], e["remediation"]): e for e in summary.errors}
    assert sorted(errors, key=str) == sorted([(a, None, None), (b, OTHER, "kms_enable_key_rotation")], key=str)
    assert "AccessDenied" in errors[(a, None, None)]["error"] and not errors[(a, None, None)]["retryable"]
    assert bucket_block(org, a, "a-open") is None and bucket_block(org, b, "b-open") == ALL_ON
    assert summary.outcomes == {"REMEDIATED": 1}
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    values = {m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: m for m in metrics if "_aws" in m}
    assert values["SweepErrors"]["SweepErrors"] in (2.0, [2.0])
    assert values["SweepErrors"]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Snapback"
    assert values["SweepErrors"]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] in ([], [[]])


def test_calls_are_paced_per_account_including_the_remediations_own_calls(org):
    a, b = org.members["member-a"], org.members["member-b"]
    for account in (a, b):
        for n in range(3):
            bucket(org, account, f"drift-{n}-{account}")
            key(org, account, REGION)
    runtime = sweep_runtime(org, sweep=Sweep(max_calls_per_second=4))
    clock = FakeClock()
    sweep = sweeper(runtime, [a, b], clock, keep_call_log=True)
    summary = sweep.run()

    assert summary.errors == [] and summary.outcomes["REMEDIATED"] >= 12
    log = sweep.pacer.log or []
    per_account: dict[str, list[float]] = defaultdict(list)
    for account, _, at in log:
        per_account[account].append(at)
    assert set(per_account) == {a, b} and summary.calls == len(log)
    for times in per_account.values():
        assert all(sum(1 for t in times if start <= t < start + 1) <= 4 for start in times)
    # the remediations' own reads and writes are paced too, not only the sweep's listings
    operations = {op for _, op, _ in log}
    assert {"ListBuckets", "ListKeys", "PutPublicAccessBlock", "EnableKeyRotation"} <= operations
    # two accounts are paced independently: together they went faster than one account could alone
    assert summary.seconds < len(log) / 4 and summary.seconds >= max(len(t) for t in per_account.values()) / 4 - 1
    assert summary.waited_seconds > 0


def test_last_known_good_recorded_by_the_sweep_restores_a_recorder_deleted_without_an_event(org):
    a = org.members["member-a"]
    recorder(org, a, REGION)
    runtime = sweep_runtime(org, regions=(REGION,))
    quiet = sweeper(runtime, [a], remediations=["config_recorder_restore"]).run()
    assert quiet.violations == 0 and quiet.checks == 1
    stored = client(org, org.security, "dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": f"lkg#config_recorder_restore#{a}#{REGION}"}}
    )
    assert json.loads(stored["Item"]["state"]["S"])["recorder"]["name"] == "default"

    config = client(org, a, "config")
    config.stop_configuration_recorder(ConfigurationRecorderName="default")
    config.delete_delivery_channel(DeliveryChannelName="default")
    config.delete_configuration_recorder(ConfigurationRecorderName="default")

    summary = sweeper(runtime, [a], remediations=["config_recorder_restore"]).run()
    assert summary.outcomes == {"REMEDIATED": 1}, summary.found
    assert "no configuration recorder" in summary.found[0]["summary"]
    (recorder_now,) = config.describe_configuration_recorders()["ConfigurationRecorders"]
    assert recorder_now["recordingGroup"]["allSupported"] and recorder_now["roleARN"].endswith(":role/aws-config")
    assert config.describe_delivery_channels()["DeliveryChannels"][0]["s3BucketName"] == f"config-{a}-{REGION}"
    assert config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"][0]["recording"]


def test_dry_run_changes_nothing_and_buckets_count_only_in_configured_regions(org):
    a = org.members["member-a"]
    bucket(org, a, "a-open")
    runtime = sweep_runtime(org)
    summary = sweeper(runtime, [a], remediations=["s3_block_public_access"], dry_run=True).run()
    assert summary.violations == 1 and summary.found[0]["outcome"] == "FOUND" and summary.found[0]["mode"] == "enforce"
    assert bucket_block(org, a, "a-open") is None and audit_items(runtime) == [] and oncall_messages(org) == []
    # nothing was claimed: the real sweep right after still acts
    assert sweeper(runtime, [a], remediations=["s3_block_public_access"]).run().outcomes == {"REMEDIATED": 1}
    assert bucket_block(org, a, "a-open") == ALL_ON
    # buckets count only in the configured (and selected) Regions: the bucket list is global
    bucket(org, a, "far-away", "ap-southeast-2")
    summary = sweeper(runtime, [a], remediations=["s3_block_public_access"], regions=[OTHER]).run()
    assert summary.regions == [OTHER] and summary.violations == 0
    bucket(org, a, "near", OTHER)
    found = sweeper(runtime, [a], remediations=["s3_block_public_access"]).run().found
    assert [f["resource"] for f in found] == ["arn:aws:s3:::near"]


# -- the registry stays the source of truth ----------------------------------------------------------

# IAM actions whose name differs from the API operation's.
IAM_NAME = {
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3control:GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
    "s3control:PutPublicAccessBlock": "s3:PutAccountPublicAccessBlock",
}


def shared_outside(org: Any, account: str) -> None:
    """One resource shared outside the organization per sharing remediation (issue 13), in REGION."""
    import io
    import zipfile

    outside = "999988887777"
    ec2 = client(org, account, "ec2")
    snapshot = ec2.create_snapshot(VolumeId=ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a")["VolumeId"])["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    base = base_image(ec2)
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=instance, Name="golden")["ImageId"]
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": outside}]})
    rds = client(org, account, "rds")
    rds.create_db_instance(
        DBInstanceIdentifier="db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    rds.create_db_snapshot(DBInstanceIdentifier="db", DBSnapshotIdentifier="db-snap")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="db-snap", AttributeName="restore", ValuesToAdd=["all"])
    role = client(org, account, "iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    lam = client(org, account, "lambda")
    lam.create_function(
        FunctionName="fn", Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": code.getvalue()}
    )
    lam.add_permission(FunctionName="fn", StatementId="open", Action="lambda:InvokeFunction", Principal="*")
    client(org, account, "ram").create_resource_share(name="subnets", principals=[outside], allowExternalPrincipals=True)
    bucket(org, account, "a-partner", blocked=True)
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{outside}:root"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::a-partner/*",
    }
    client(org, account, "s3").put_bucket_policy(
        Bucket="a-partner", Policy=json.dumps({"Version": "2012-10-17", "Statement": [grant]})
    )


def test_each_sweep_calls_only_declared_actions_and_uses_every_sweep_permission(org):
    a = org.members["member-a"]
    bucket(org, a, "a-open")
    key(org, a, REGION)
    world_ssh(org, a, REGION)
    ec2 = client(org, a, "ec2", REGION)
    acl = ec2.create_network_acl(VpcId=ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"])["NetworkAcl"]
    ec2.create_network_acl_entry(
        NetworkAclId=acl["NetworkAclId"],
        RuleNumber=90,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 22, "To": 22},
    )
    trail(org, a, "stopped", REGION, logging=False)
    recorder(org, a, REGION, recording=False)
    outside = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}
    client(org, a, "iam").create_role(
        RoleName="partner", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [outside]})
    )
    client(org, a, "iam").create_user(UserName="ops")
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    client(org, a, "iam").put_user_policy(UserName="ops", PolicyName="admin", PolicyDocument=json.dumps(admin))
    shared_outside(org, a)
    runtime = sweep_runtime(org, regions=(REGION,), default_mode="dry-run", options={})
    # Violations against a last known good: a first sweep records it, then the state is narrowed.
    trail(org, a, "narrowed", REGION, logging=True, multi_region=True)
    logs = client(org, a, "logs")
    logs.create_log_group(logGroupName="aws-cloudtrail-logs-narrowed")
    logs.put_retention_policy(logGroupName="aws-cloudtrail-logs-narrowed", retentionInDays=400)
    sweeper(runtime, [a], remediations=["cloudtrail_restore_trail", "log_destruction_alert"]).run()
    client(org, a, "cloudtrail").update_trail(Name="narrowed", IsMultiRegionTrail=False)
    logs.put_retention_policy(logGroupName="aws-cloudtrail-logs-narrowed", retentionInDays=1)
    client(org, a, "guardduty").create_detector(Enable=False)
    for remediation in registry.swept():
        if getattr(remediation, "security_permissions", ()):
            # its sweep reads and writes the security account's own resources (the WAF IP sets), not
            # member ones: tests/remediations/test_waf_block_attacker_ip.py sweeps expired blocks
            continue
        # the management account's own boundary is swept there only
        a = org.management if remediation.name == "management_permission_boundary" else org.members["member-a"]
        sweep = sweeper(runtime, [a], remediations=[remediation.name])
        calls: set[str] = set()

        def record(model: Any, calls: set[str] = calls, **_: Any) -> None:
            prefix = "s3control" if model.service_model.endpoint_prefix == "s3-control" else model.service_model.endpoint_prefix
            calls.add(IAM_NAME.get(f"{prefix}:{model.name}", f"{prefix}:{model.name}"))

        for service in (
            "s3",
            "s3control",
            "kms",
            "ec2",
            "cloudtrail",
            "config",
            "iam",
            "guardduty",
            "logs",
            "rds",
            "lambda",
            "ram",
        ):
            sweep.runtime.clients.member(a, REGION, remediation.name).client(service).meta.events.register("before-call", record)
        summary = sweep.run()
        assert summary.errors == [] and summary.violations >= 1, remediation.name
        assert calls <= set(remediation.permissions) | set(remediation.sweep_permissions), (remediation.name, calls)
        assert set(remediation.sweep_permissions) <= calls, remediation.name


def test_remediations_without_a_state_to_check_have_no_sweep():
    assert sorted(r.name for r in registry.swept()) == sorted(
        [
            "cloudtrail_restart_logging",
            "config_recorder_restore",
            "ec2_revoke_world_admin_ports",
            "kms_enable_key_rotation",
            "s3_account_block_public_access",
            "s3_block_public_access",
        ]
        + ["cloudtrail_restore_trail", "guardduty_tampering", "log_destruction_alert"]  # detectors and logs (issue 13)
        + [  # sharing outside the organization (issue 13)
            "ami_public_share_revoke",
            "ebs_snapshot_share_revoke",
            "lambda_public_permission_remove",
            "ram_external_share_revoke",
            "rds_snapshot_share_revoke",
            "s3_kms_external_grant_alert",
        ]
        + ["iam_admin_policy_revert", "iam_backdoor_trust_revert", "management_permission_boundary"]  # IAM (issue 14)
        + ["ec2_nacl_world_admin_ports", "waf_block_attacker_ip"]  # network edges and WAF expiry (issue 14)
    )
    assert {r.sweep_scope for r in registry.swept()} == {"region", "account"}


# -- settings ---------------------------------------------------------------------------------------


def base_config() -> dict[str, Any]:
    return {
        "organization_id": "o-exampleorg1",
        "management_account": "111111111111",
        "security_account": "222222222222",
        "home_region": "us-east-1",
        "regions": ["us-east-1"],
        "target_ous": ["r-exam"],
    }


def test_sweep_settings_have_defaults_and_round_trip_through_the_environment():
    config = Config.from_dict(base_config())
    assert config.sweep == Sweep(enabled=True, schedule="rate(6 hours)", max_calls_per_second=5.0)
    tuned = Config.from_dict(
        {
            **base_config(),
            "sweep": {"schedule": "cron(0 */4 * * ? *)", "max_calls_per_second": 2, "accounts_per_invocation": 50},
        }
    )
    assert Config.from_env({"SNAPBACK_CONFIG": tuned.to_json()}).sweep == Sweep(True, "cron(0 */4 * * ? *)", 2.0, 50)


@pytest.mark.parametrize(
    "sweep, field",
    [
        ({"schedule": "rate(5 minutes)"}, "sweep.schedule"),
        ({"schedule": "rate(1 hours)"}, "sweep.schedule"),
        ({"schedule": "every 6 hours"}, "sweep.schedule"),
        ({"max_calls_per_second": 0}, "sweep.max_calls_per_second"),
        ({"max_calls_per_second": "fast"}, "sweep.max_calls_per_second"),
        ({"enabled": "yes"}, "sweep.enabled"),
        ({"accounts_per_invocation": 0}, "sweep.accounts_per_invocation"),
        ({"accounts_per_invocation": 2.5}, "sweep.accounts_per_invocation"),
        ({"pace": 3}, "sweep.pace"),
        ("often", "sweep"),
    ],
)
def test_invalid_sweep_settings_name_the_field_and_the_fix(sweep, field):
    with pytest.raises(ConfigError) as raised:
        Config.from_dict({**base_config(), "sweep": sweep})
    assert f"field `{field}`" in str(raised.value) and "fix:" in str(raised.value)


def test_cli_sweep_prints_progress_and_the_summary_and_fails_on_errors(org, monkeypatch, capsys):
    from snapback_ops import cli

    a = org.members["member-a"]
    runtime = sweep_runtime(org, regions=(REGION,))
    monkeypatch.setattr(cli, "build_runtime", lambda config, **_: runtime)
    monkeypatch.setattr(cli, "read_config", lambda path: runtime.config)

    assert cli.main(["sweep", "--account", a, "--remediation", "s3_account_block_public_access", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert f"[1/1] {a}: 1 violation(s), 0 error(s)" in err
    assert out.startswith("FOUND") and "(dry run): 1 account(s) x 1 Region(s), 1 checks, 1 violation(s)" in out
    assert account_block(org, a) is None

    assert cli.main(["sweep", "--account", a, "--remediation", "s3_account_block_public_access", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcomes"] == {"REMEDIATED": 1} and account_block(org, a) == ALL_ON
    assert cli.main(["sweep", "--region", "mars-1"]) == 2
    assert "not in the configured regions" in capsys.readouterr().err


def test_lambda_handler_stops_before_its_timeout_and_every_org_account_is_swept_by_default(org, monkeypatch):
    import importlib.util

    from snapback import runtime as runtime_module
    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("sweep_handler", ROOT / "functions" / "sweep" / "handler.py")
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    monkeypatch.setattr(runtime_module, "_LAMBDA_RUNTIME", sweep_runtime(org, regions=(REGION,)))

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 30_000  # less than the margin: no account may start

    result = handler.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())
    assert result["errors"] == 1 and result["checks"] == 0
    assert "out of time: 4 account(s) not swept" in result["error_details"][0]["error"]
    # with time, every account of the organization is swept (the management and security accounts too)
    clock = FakeClock()
    summary = Sweeper(
        runtime_module._LAMBDA_RUNTIME, remediations=["s3_account_block_public_access"], clock=clock, sleep=clock.sleep
    ).run()
    assert summary.accounts == sorted([org.management, org.security, *org.members.values()])
    assert summary.outcomes == {"REMEDIATED": 4}


def test_buckets_under_a_complete_account_block_are_not_walked_unless_asked(org):
    """The account-level block overrides every bucket's own settings: no bucket of that account can be
    public, so reporting its buckets would be noise (and cost a call per bucket)."""
    a = org.members["member-a"]
    bucket(org, a, "a-open")
    client(org, a, "s3control").put_public_access_block(AccountId=a, PublicAccessBlockConfiguration=ALL_ON)
    runtime = sweep_runtime(org, options={})
    assert sweeper(runtime, [a], remediations=["s3_block_public_access"], dry_run=True).run().violations == 0
    asked = sweep_runtime(org)
    found = sweeper(asked, [a], remediations=["s3_block_public_access"], dry_run=True).run().found
    assert [f["resource"] for f in found] == ["arn:aws:s3:::a-open"]
    # one setting off at account level: the buckets count again
    client(org, a, "s3control").put_public_access_block(
        AccountId=a, PublicAccessBlockConfiguration={**ALL_ON, "IgnorePublicAcls": False}
    )
    assert sweeper(runtime, [a], remediations=["s3_block_public_access"], dry_run=True).run().violations == 1


def test_a_large_organization_is_handed_out_in_batches_and_each_batch_is_swept(org, monkeypatch):
    """The schedule's invocation fans out one asynchronous invocation per batch of accounts (a Lambda
    call moto cannot run, so the hand-off is checked with a Stubber); each batch payload, handled by the
    same function, sweeps exactly its accounts."""
    import importlib.util

    import boto3
    from botocore.stub import Stubber

    from snapback import runtime as runtime_module
    from snapback.sweep import batches
    from tests.conftest import ROOT

    assert batches(["c", "a", "b"], 2) == [["a", "b"], ["c"]] and batches([], 5) == []
    spec = importlib.util.spec_from_file_location("sweep_handler", ROOT / "functions" / "sweep" / "handler.py")
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    a, b = org.members["member-a"], org.members["member-b"]
    key_a, key_b = key(org, a, REGION), key(org, b, REGION)
    runtime = sweep_runtime(
        org, regions=(REGION,), sweep=Sweep(max_calls_per_second=50, accounts_per_invocation=3), default_mode="enforce"
    )
    monkeypatch.setattr(runtime_module, "_LAMBDA_RUNTIME", runtime)
    arn = f"arn:aws:lambda:{REGION}:{org.security}:function:snapback-sweep"
    everyone = sorted([org.management, org.security, a, b])
    lambda_client = boto3.client("lambda", region_name=REGION)
    payloads = []
    with Stubber(lambda_client) as stub:
        for part in (everyone[:3], everyone[3:]):
            payload = json.dumps({"accounts": part}).encode()
            payloads.append(payload)
            stub.add_response("invoke", {"StatusCode": 202}, {"FunctionName": arn, "InvocationType": "Event", "Payload": payload})
        real = runtime.clients.client
        monkeypatch.setattr(
            runtime.clients,
            "client",
            lambda service, region=None: lambda_client if service == "lambda" else real(service, region),
        )

        class Context:
            invoked_function_arn = arn

            def get_remaining_time_in_millis(self) -> int:
                return 900_000

        assert handler.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Context()) == {
            "fanned_out": 2,
            "accounts": 4,
            "accounts_per_invocation": 3,
        }
        stub.assert_no_pending_responses()
    assert not rotating(org, a, REGION, key_a), "the schedule's invocation only hands out the work"
    results = [handler.handler(json.loads(p), Context()) for p in payloads]
    assert [r["accounts"] for r in results] == [3, 1] and all(r["errors"] == 0 for r in results)
    assert rotating(org, a, REGION, key_a) and rotating(org, b, REGION, key_b)
