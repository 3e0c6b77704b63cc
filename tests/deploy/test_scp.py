"""Who may do what under the SCP guardrails, asserted for the principals that deploy and operate the org.

The policy evaluated is the one the management stack attaches (`scp_document` with the sample
config, the same call the stack makes) and, to show the gate catches what it guards, the policy
as it was before issue 12 (tests/deploy/data/old_scp.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.guardrails import minified, scp_document
from tests.deploy.iam_model import document_problems
from tests.deploy.scp_eval import denied_by
from tests.infra.test_stacks import CONFIG

SEC = CONFIG.security_account
MEMBER = "333333333333"
POLICY = scp_document(CONFIG.guardrails.exempt_principals, security_account=SEC, member_role=CONFIG.member_role_name)
OLD = json.loads((Path(__file__).parent / "data" / "old_scp.json").read_text())

CDK_EXEC = f"arn:aws:iam::{SEC}:role/cdk-hnb659fds-cfn-exec-role-{SEC}-us-east-1"
STACKSETS = f"arn:aws:iam::{MEMBER}:role/stacksets-exec-0123456789abcdef0123456789abcdef"
CONTROL_TOWER = f"arn:aws:iam::{MEMBER}:role/AWSControlTowerExecution"
BREAK_GLASS = f"arn:aws:iam::{MEMBER}:role/BreakGlassAdmin"
ADMIN = f"arn:aws:iam::{MEMBER}:role/Admin"
REMEDIATOR = f"arn:aws:iam::{MEMBER}:role/{CONFIG.member_role_name}"
# Roles an attacker with admin in a member account names to look like Snapback's or its deployers'.
LOOK_ALIKES = [
    f"arn:aws:iam::{MEMBER}:role/snapback-evil",
    f"arn:aws:iam::{MEMBER}:role/snapback-fn-s3-block-public-access",
    f"arn:aws:iam::{MEMBER}:role/{CONFIG.member_role_name}-2",
    f"arn:aws:iam::{MEMBER}:role/cdk-hnb659fds-cfn-exec-role-{SEC}-us-east-1",  # the right name, the wrong account
    f"arn:aws:iam::{MEMBER}:role/team/stacksets-exec-0123456789abcdef",  # a path in front of a trusted name
]


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def rule(account: str, name: str, bus: str | None = None) -> str:
    return f"arn:aws:events:us-east-1:{account}:rule/" + (f"{bus}/{name}" if bus else name)


SNAPBACK_FN_ROLE = role(SEC, "snapback-fn-s3-block-public-access")
SWEEP_RULE = rule(SEC, "snapback-sweep")
CENTRAL_RULE = rule(SEC, "snapback-s3-block-public-access-cloudtrail", bus="snapback")
FORWARD_RULE = rule(MEMBER, "snapback-forward")
MEMBER_ROLE = role(MEMBER, CONFIG.member_role_name)
FORWARDER = role(MEMBER, "snapback-forwarder-us-east-1")
STACK = f"arn:aws:cloudformation:us-east-1:{MEMBER}:stack/StackSet-snapback-member-0a1b2c/11112222-3333"


def test_the_policy_is_valid_for_the_service_authorization_reference_and_fits():
    assert document_problems(POLICY, "scp") == []
    assert len(minified(POLICY)) <= 5120


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("iam:PutRolePolicy", SNAPBACK_FN_ROLE),
        ("iam:UpdateAssumeRolePolicy", SNAPBACK_FN_ROLE),
        ("iam:CreateRole", SNAPBACK_FN_ROLE),
        ("events:PutRule", SWEEP_RULE),
        ("events:PutTargets", CENTRAL_RULE),
        ("events:DeleteRule", CENTRAL_RULE),
    ],
)
def test_the_security_accounts_cdk_execution_role_can_update_snapback(action, resource):
    assert denied_by(POLICY, CDK_EXEC, action, resource) is None


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("iam:CreateRole", MEMBER_ROLE),
        ("iam:PutRolePolicy", MEMBER_ROLE),
        ("iam:CreateRole", FORWARDER),
        ("events:PutRule", FORWARD_RULE),
        ("events:PutTargets", FORWARD_RULE),
        ("cloudformation:UpdateStack", STACK),
        ("cloudformation:DeleteStack", STACK),
    ],
)
def test_stacksets_can_deploy_and_update_the_member_stack(action, resource):
    assert denied_by(POLICY, STACKSETS, action, resource) is None


@pytest.mark.parametrize(
    "action", ["config:StopConfigurationRecorder", "config:DeleteConfigurationRecorder", "config:DeleteDeliveryChannel"]
)
def test_control_tower_manages_config(action):
    assert denied_by(POLICY, CONTROL_TOWER, action) is None
    assert denied_by(POLICY, CONTROL_TOWER, "iam:UpdateAssumeRolePolicy", role(MEMBER, "AWSControlTowerExecution")) is None


def test_break_glass_may_do_everything_protected():
    for action, resource in [
        ("cloudtrail:StopLogging", "*"),
        ("iam:DeleteRole", MEMBER_ROLE),
        ("events:DeleteRule", FORWARD_RULE),
        ("iam:CreateRole", role(MEMBER, "AWSControlTowerExecution")),  # enrolling an existing account
    ]:
        assert denied_by(POLICY, BREAK_GLASS, action, resource) is None, action
    assert denied_by(POLICY, BREAK_GLASS, "ec2:CreateTags", "*", aws__TagKeys=["snapback:critical"]) is None


@pytest.mark.parametrize("principal", [ADMIN, *LOOK_ALIKES])
@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("cloudtrail:StopLogging", "*", {}),
        ("config:StopConfigurationRecorder", "*", {}),
        ("guardduty:DeleteDetector", "*", {}),
        ("securityhub:DisableSecurityHub", "*", {}),
        ("iam:PutRolePolicy", MEMBER_ROLE, {}),
        ("iam:DeleteRole", FORWARDER, {}),
        ("iam:CreateRole", MEMBER_ROLE, {}),
        ("iam:CreateRole", role(MEMBER, "snapback-anything"), {}),
        ("iam:CreateRole", role(MEMBER, "stacksets-exec-attacker"), {}),
        ("iam:CreateRole", role(MEMBER, "AWSControlTowerExecution"), {}),
        ("events:DeleteRule", FORWARD_RULE, {}),
        ("events:RemoveTargets", FORWARD_RULE, {}),
        ("events:DisableRule", CENTRAL_RULE, {}),
        ("cloudformation:DeleteStack", STACK, {}),
        ("ec2:CreateTags", "*", {"aws__TagKeys": ["snapback:critical"]}),
        ("iam:UntagRole", MEMBER_ROLE, {"aws__TagKeys": ["snapback:role"]}),
    ],
)
def test_an_admin_or_a_look_alike_cannot_switch_anything_off(principal, action, resource, context):
    assert denied_by(POLICY, principal, action, resource, **context) is not None


def test_a_trusted_name_cannot_be_created_under_any_path():
    # `role/stacksets-exec-*` also matches a role named x under path /stacksets-exec-x/: creating it is denied.
    for name in ("stacksets-exec-x/evil", "snapback-remediator", "snapback-x/evil", "AWSControlTowerExecution"):
        assert denied_by(POLICY, ADMIN, "iam:CreateRole", role(MEMBER, name)) == "ReserveTrustedRoleNames", name


def test_an_ordinary_admin_still_runs_its_own_account():
    for action, resource, context in [
        ("iam:PutRolePolicy", role(MEMBER, "app-role"), {}),
        ("iam:CreateRole", role(MEMBER, "app-role"), {}),
        ("events:PutRule", rule(MEMBER, "app-rule"), {}),
        ("ec2:CreateTags", "*", {"aws__TagKeys": ["team"]}),
        ("cloudtrail:StartLogging", "*", {}),
    ]:
        assert denied_by(POLICY, ADMIN, action, resource, **context) is None, action


def test_snapbacks_member_role_may_undo_but_not_change_snapback():
    assert denied_by(POLICY, REMEDIATOR, "cloudtrail:StopLogging") is None  # undo of a restart
    assert denied_by(POLICY, REMEDIATOR, "ec2:CreateTags", "*", aws__TagKeys=["snapback:isolated"]) is None
    assert denied_by(POLICY, REMEDIATOR, "iam:PutRolePolicy", MEMBER_ROLE) is not None
    assert denied_by(POLICY, REMEDIATOR, "events:DeleteRule", FORWARD_RULE) is not None


def test_a_member_root_user_is_denied_everything():
    assert denied_by(POLICY, f"arn:aws:iam::{MEMBER}:root", "s3:ListAllMyBuckets") == "DenyRootUserInMembers"


# -- the same questions on the policy before issue 12: each defect is caught ---------------------
def test_the_old_policy_denied_the_cdk_execution_role_and_control_tower():  # item 3
    assert denied_by(OLD, CDK_EXEC, "iam:PutRolePolicy", SNAPBACK_FN_ROLE) is not None
    assert denied_by(OLD, CDK_EXEC, "events:PutRule", SWEEP_RULE) is not None
    assert denied_by(OLD, CONTROL_TOWER, "config:StopConfigurationRecorder") is not None


def test_the_old_policy_let_a_look_alike_switch_cloudtrail_off():  # item 5
    attacker = role(MEMBER, "snapback-evil")
    assert denied_by(OLD, attacker, "cloudtrail:StopLogging") is None
    assert denied_by(OLD, ADMIN, "iam:CreateRole", attacker) is None


def test_the_old_policy_left_the_central_bus_rules_open_and_its_s3_tag_condition_never_matched():  # item 12
    assert denied_by(OLD, ADMIN, "events:DeleteRule", CENTRAL_RULE) is None
    problems = document_problems(OLD, "old")
    assert any("aws:TagKeys" in p and "s3:PutBucketTagging" in p for p in problems), problems
