"""SCP guardrails: valid, under the size limit, every statement excepting Snapback, accepted by Organizations."""

from __future__ import annotations

import json

import boto3
import pytest

from stacks.guardrails import SCP_MAX_CHARS, deployers, minified, operators, scp_document
from tests.infra.test_stacks import CONFIG, out, resources, template  # noqa: F401 - the session synth fixture

REQUIRED = {
    "config:StopConfigurationRecorder",
    "config:DeleteConfigurationRecorder",
    "config:DeleteDeliveryChannel",
    "cloudtrail:StopLogging",
    "cloudtrail:DeleteTrail",
    "guardduty:DeleteDetector",
    "securityhub:DisableSecurityHub",
    "iam:DeleteRole",
    "iam:UpdateAssumeRolePolicy",
    "events:DeleteRule",
    "events:RemoveTargets",
    "cloudformation:DeleteStack",
}


def test_the_policy_denies_what_it_must_and_every_statement_excepts_snapback():
    extra = ["arn:aws:iam::*:role/BreakGlass*"]
    document = scp_document(extra, security_account=CONFIG.security_account)
    statements = document["Statement"]
    denied = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert REQUIRED <= denied
    assert all(s["Effect"] == "Deny" for s in statements)
    allowed = (deployers(CONFIG.security_account, extra), operators(CONFIG.security_account, extra))
    for statement in statements[:-1]:
        excepted = statement["Condition"]["ArnNotLike"]["aws:PrincipalARN"]
        assert excepted in allowed, statement["Sid"]
        # no exception names a role pattern a member admin could create (item 5)
        assert all(":iam::*:role/snapback-*" not in p for p in excepted), statement["Sid"]
    (root,) = [s for s in statements if s["Sid"] == "DenyRootUserInMembers"]
    assert root["Condition"]["StringLike"] == {"aws:PrincipalArn": ["arn:*:iam::*:root"]}


def test_the_policy_fits_the_scp_size_limit_with_room_for_break_glass_patterns():
    extra = [f"arn:aws:iam::*:role/BreakGlass{i}" for i in range(5)]
    assert len(minified(scp_document(extra))) < SCP_MAX_CHARS


def test_organizations_accepts_and_attaches_it(aws):
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    policy = org.create_policy(
        Content=minified(scp_document()),
        Description="Snapback guardrails",
        Name="snapback-guardrails",
        Type="SERVICE_CONTROL_POLICY",
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=policy, TargetId=ou)
    attached = org.list_policies_for_target(TargetId=ou, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert policy in {p["Id"] for p in attached}
    stored = json.loads(org.describe_policy(PolicyId=policy)["Policy"]["Content"])
    assert stored == scp_document()


def test_the_management_stack_attaches_it_to_the_target_ous_when_enabled(out):  # noqa: F811
    assert CONFIG.guardrails.enabled, "the sample config turns the guardrails on"
    (policy,) = resources(template(out, "SnapbackManagementAccount"), "AWS::Organizations::Policy").values()
    props = policy["Properties"]
    assert props["Type"] == "SERVICE_CONTROL_POLICY"
    assert props["TargetIds"] == list(CONFIG.guardrails.target_ous or CONFIG.target_ous)
    assert props["Content"] == scp_document(
        CONFIG.guardrails.exempt_principals, security_account=CONFIG.security_account, member_role=CONFIG.member_role_name
    )


@pytest.mark.parametrize("stack", ["SnapbackMember", "SnapbackSecurityAccount"])
def test_rules_the_guardrails_protect_are_named_snapback(out, stack):  # noqa: F811
    names = [r["Properties"].get("Name", "") for r in resources(template(out, stack), "AWS::Events::Rule").values()]
    snapback = [n for n in names if n.startswith("snapback-")]
    assert snapback and all(len(n) <= 64 for n in snapback)


def test_snapback_tag_keys_are_protected():
    (tags,) = [s for s in scp_document()["Statement"] if s["Sid"] == "ProtectSnapbackTags"]
    assert tags["Condition"]["ForAnyValue:StringLike"] == {"aws:TagKeys": ["snapback:*"]}
    assert "ec2:DeleteTags" in tags["Action"] and "ec2:CreateTags" in tags["Action"]
    assert "s3:PutBucketTagging" not in tags["Action"]  # it supports no aws:TagKeys: the condition never matched
