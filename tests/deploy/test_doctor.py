"""`snapback doctor` against a moto organization built as the stacks describe it, then broken piece by piece."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from snapback import member_role, registry
from snapback_ops import doctor

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

REGIONS = ("us-east-1", "eu-west-1")


def provision(org: Any, guardduty_regions: tuple[str, ...] = REGIONS) -> Any:
    """What the stacks and the documented prerequisites put in place (SnapbackSecurityAccount, the
    member StackSet, SnapbackManagementAccount + forwarders, the delegated administrators)."""
    config = dataclasses.replace(org.config, regions=REGIONS)
    home = config.home_region
    sec = org.session(org.security)
    events, sqs = sec.client("events", region_name=home), sec.client("sqs", region_name=home)
    dlq = sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName="rule-dlq")["QueueUrl"], AttributeNames=["QueueArn"])
    dlq_arn = dlq["Attributes"]["QueueArn"]
    events.create_event_bus(Name=doctor.BUS)
    events.put_permission(
        EventBusName=doctor.BUS,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "OrganizationMembersOnly",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "events:PutEvents",
                        "Resource": doctor.bus_arn(config),
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": config.organization_id}},
                    }
                ],
            }
        ),
    )
    fn = f"arn:aws:lambda:{home}:{org.security}:function:snapback-fn"
    central = [(registry.rule_name(r.name, t.id), t.pattern) for r in registry.all_remediations() for t in r.triggers]
    central += [(name, {"source": ["aws.cloudwatch"]}) for name in doctor.CENTRAL_EXTRA_RULES]
    for name, pattern in central:
        events.put_rule(Name=name, EventBusName=doctor.BUS, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(
            Rule=name, EventBusName=doctor.BUS, Targets=[{"Id": "fn", "Arn": fn, "DeadLetterConfig": {"Arn": dlq_arn}}]
        )
    for name in doctor.DEFAULT_BUS_RULES:
        events.put_rule(Name=name, ScheduleExpression="rate(6 hours)", State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": fn, "DeadLetterConfig": {"Arn": dlq_arn}}])
    trust = json.dumps(member_role.trust_policy(member_role.member_caller_arns(org.security)))
    management = boto3.session.Session()
    for account in [*org.members.values(), org.management]:
        session = management if account == org.management else org.session(account)
        iam = session.client("iam")
        try:
            iam.update_assume_role_policy(RoleName=config.member_role_name, PolicyDocument=trust)
        except iam.exceptions.NoSuchEntityException:
            iam.create_role(RoleName=config.member_role_name, AssumeRolePolicyDocument=trust)
        for region in REGIONS:
            member_events, member_sqs = session.client("events", region_name=region), session.client("sqs", region_name=region)
            queue = member_sqs.create_queue(QueueName=f"snapback-forward-dlq-{region}")["QueueUrl"]
            queue_arn = member_sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            member_events.put_rule(Name=doctor.FORWARD_RULE, EventPattern=json.dumps({"source": ["aws.s3"]}), State="ENABLED")
            member_events.put_targets(
                Rule=doctor.FORWARD_RULE,
                Targets=[
                    {
                        "Id": "central",
                        "Arn": doctor.bus_arn(config),
                        "RoleArn": f"arn:aws:iam::{account}:role/snapback-forwarder-{region}",
                        "DeadLetterConfig": {"Arn": queue_arn},
                    }
                ],
            )
    from snapback.remediations.management_permission_boundary import BOUNDARY_POLICY_NAME, boundary_policy

    try:
        management.client("iam").create_policy(
            PolicyName=BOUNDARY_POLICY_NAME,
            PolicyDocument=json.dumps(boundary_policy(f"arn:aws:iam::{org.management}:policy/{BOUNDARY_POLICY_NAME}")),
        )
    except management.client("iam").exceptions.EntityAlreadyExistsException:
        pass
    for region in REGIONS:
        management.client("securityhub", region_name=region).enable_organization_admin_account(AdminAccountId=org.security)
        if region in guardduty_regions:
            management.client("guardduty", region_name=region).enable_organization_admin_account(AdminAccountId=org.security)
    return config


def run(org: Any, config: Any) -> tuple[str, int, list[doctor.Check]]:
    checks = doctor.run_checks(config, boto3.session.Session(), org.session)
    text, code = doctor.report(checks)
    return text, code, checks


def test_a_complete_deployment_passes_every_check(org):
    config = provision(org)
    text, code, checks = run(org, config)
    assert code == 0, text
    accounts = [*org.members.values(), org.management]
    forwarders = [c for c in checks if doctor.FORWARD_RULE in c.what]
    assert len(forwarders) == len(accounts) * len(REGIONS)  # every account, every configured Region
    assert len([c for c in checks if "trusts Snapback's function roles" in c.what]) == len(accounts)


@pytest.mark.parametrize(
    ("breakage", "needle"),
    [
        ("forwarder-deleted", "rule snapback-forward on default in {member}/eu-west-1"),
        ("rule-disabled", "aws events enable-rule"),
        ("no-dlq", "has no dead-letter queue"),
        ("bus-policy", "admits"),
        ("trust-without-source-identity", "SourceIdentity"),
        ("guardduty-admin", "GuardDuty delegated administrator in eu-west-1"),
        ("boundary-missing", "snapback-management-boundary exists in the management account"),
    ],
)
def test_each_missing_piece_is_reported_with_its_fix(org, breakage, needle):
    # GuardDuty: the delegated administrator is per Region; here it was never set in eu-west-1.
    config = provision(org, guardduty_regions=("us-east-1",) if breakage == "guardduty-admin" else REGIONS)
    member = next(iter(org.members.values()))
    sec_events = org.session(org.security).client("events", region_name=config.home_region)
    rule = registry.rule_name(registry.all_remediations()[0].name, registry.all_remediations()[0].triggers[0].id)
    if breakage == "forwarder-deleted":
        events = org.session(member).client("events", region_name="eu-west-1")
        events.remove_targets(Rule=doctor.FORWARD_RULE, Ids=["central"])
        events.delete_rule(Name=doctor.FORWARD_RULE)
    elif breakage == "rule-disabled":
        sec_events.disable_rule(Name=rule, EventBusName=doctor.BUS)
    elif breakage == "no-dlq":
        sec_events.put_targets(
            Rule=rule, EventBusName=doctor.BUS, Targets=[{"Id": "fn", "Arn": "arn:aws:lambda:us-east-1:1:function:f"}]
        )
    elif breakage == "bus-policy":
        sec_events.remove_permission(EventBusName=doctor.BUS, RemoveAllPermissions=True)
    elif breakage == "trust-without-source-identity":
        trust = member_role.trust_policy(member_role.member_caller_arns(org.security))
        for statement in trust["Statement"]:
            statement.pop("Condition")
        org.session(member).client("iam").update_assume_role_policy(
            RoleName=config.member_role_name, PolicyDocument=json.dumps(trust)
        )
    elif breakage == "boundary-missing":
        iam = boto3.session.Session().client("iam")
        iam.delete_policy(PolicyArn=f"arn:aws:iam::{org.management}:policy/snapback-management-boundary")
    text, code, _ = run(org, config)
    assert code == 1
    assert needle.format(member=member) in text, text
    assert "fix:" in text


def test_the_cli_runs_it(org, capsys, tmp_path, monkeypatch):
    from snapback_ops import cli

    config = provision(org)
    real = doctor.run_checks
    # the sample config names other account ids; check the moto org's instead, through its sessions
    monkeypatch.setattr(doctor, "run_checks", lambda c, m, s: real(config, m, org.session))
    path = tmp_path / "snapback.yaml"
    path.write_text((Path(__file__).parents[2] / "snapback.yaml").read_text())
    assert cli.main(["--config", str(path), "doctor"]) == 0
    assert "checks OK, 0 missing" in capsys.readouterr().out
