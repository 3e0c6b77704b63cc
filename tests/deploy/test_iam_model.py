"""Every granted action exists and is authorized on what it is granted on (tests/deploy/iam_model.py).

Run on every identity policy, resource policy, key policy and SCP of every synthesized template,
on the member role's policy and on every remediation's session policy (the registry is iterated,
so a remediation added later is checked too). The defects of issue 12 are fed to it as well.
"""

from __future__ import annotations

import pytest

from snapback import member_role, registry
from tests.deploy.iam_model import document_problems, template_policies
from tests.infra.test_stacks import out, template  # noqa: F401 - the session synth fixture

STACKS = ["SnapbackSecurityAccount", "SnapbackManagementAccount", "SnapbackMember", "SnapbackManagementForwarder-eu-west-1"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_policy_of_every_template_is_authorized(out, stack):  # noqa: F811
    tpl = template(out, stack)
    found = [p for where, doc in template_policies(stack, tpl) for p in document_problems(doc, where, tpl["Resources"])]
    assert found == []


def test_the_member_role_and_every_session_policy_are_authorized():
    assert document_problems(member_role.permissions_policy(), "member role") == []
    for remediation in registry.acting():
        policy = member_role.session_policy(remediation.name)
        assert policy is not None
        assert document_problems(policy, remediation.name) == []


def test_pass_role_is_only_granted_to_a_named_service():
    for policy in [member_role.permissions_policy(), *(member_role.session_policy(r.name) for r in registry.acting())]:
        for statement in policy["Statement"]:  # type: ignore[index]
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "iam:PassRole" in actions:
                assert actions == ["iam:PassRole"] or statement["Action"] == "iam:PassRole"
                assert statement["Condition"]["StringEquals"]["iam:PassedToService"]
    with pytest.raises(ValueError, match="pass_role_to"):
        member_role.statements(["iam:PassRole"], [])


def test_the_custom_action_grant_on_the_action_target_is_caught():  # item 2
    old = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["securityhub:CreateActionTarget", "securityhub:DeleteActionTarget"],
                "Resource": "arn:aws:securityhub:us-east-1:222222222222:action/custom/SnapbackRemediate",
            }
        ]
    }
    found = document_problems(old, "old")
    assert len(found) == 2 and all("hub/default" in p for p in found), found


def test_an_unknown_action_and_an_unsupported_tag_condition_are_caught():
    assert document_problems({"Statement": [{"Effect": "Allow", "Action": "s3:PutBucketPublicBlock", "Resource": "*"}]}, "x")
    tag = {
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "s3:PutBucketTagging",
                "Resource": "*",
                "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["snapback:*"]}},
            }
        ]
    }
    assert any("aws:TagKeys" in p for p in document_problems(tag, "x"))


def test_only_functions_that_act_in_members_may_assume_the_member_role(out):  # noqa: F811 - item 6
    from snapback.member_role import remediator_role_name
    from tests.infra.test_stacks import resources

    tpl = template(out, "SnapbackSecurityAccount")
    roles = {r["Properties"].get("RoleName"): k for k, r in resources(tpl, "AWS::IAM::Role").items()}
    policies = resources(tpl, "AWS::IAM::Policy").values()
    acting = {r.name for r in registry.acting()}
    for remediation in registry.all_remediations():
        role_id = roles[remediator_role_name(remediation.name)]
        statements = [
            s
            for p in policies
            if {"Ref": role_id} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        enters = any("sts:SetSourceIdentity" in str(s["Action"]) for s in statements)
        assert enters == (remediation.name in acting), remediation.name
