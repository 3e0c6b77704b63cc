"""The "grants admin" test on IAM identity policy documents, as CloudTrail and IAM hand them over."""

import json
from urllib.parse import quote

import pytest

from snapback.errors import MalformedEvent
from snapback.iam_admin import admin_grants


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**fields):
    return {"Effect": "Allow", "Resource": "*", **fields}


@pytest.mark.parametrize(
    "policy, why",
    [
        (doc(allow(Action="*")), "Allow * on *"),
        (doc(allow(Action="*:*")), "Allow * on *"),
        (doc(allow(Action=["s3:GetObject", "*"])), "Allow * on *"),
        ({"Statement": allow(Action="*")}, "Allow * on *"),  # a single statement object
        (doc(allow(Action="iam:*")), "Allow iam:* (every IAM action) on *"),
        (doc(allow(Action="IAM:*")), "Allow IAM:* (every IAM action) on *"),  # action names ignore case
        (doc(allow(Action="iam*")), "Allow iam* (every IAM action) on *"),
        (doc(allow(Action="iam:PassRole")), "Allow iam:PassRole on *"),
        (doc(allow(Action="iam:Pass*")), "Allow iam:PassRole on * (via iam:Pass*)"),
        (doc(allow(Action="iam:PassRol?")), "Allow iam:PassRole on * (via iam:PassRol?)"),
        (doc(allow(Action="*", Resource=["arn:aws:s3:::b", "*"])), "Allow * on *"),
        (doc(allow(Action="*", Resource="arn:aws:*:*:*:*")), "Allow * on *"),
        (doc({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::secret"}), "Allow * on *"),
        (doc(allow(NotAction="s3:*")), "Allow every action except s3:* on *"),
        (doc(allow(NotAction=["iam:*"])), None),  # PowerUser-style: grants much, escalates nothing
        (doc(allow(NotAction=["iam:Get*", "iam:List*"])), "Allow every action except iam:Get*, iam:List* on *"),
        (doc(allow(Action="*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})), "Allow * on *"),
        (doc({"Sid": "Ops", **allow(Action="*")}), "Allow * on * [Ops]"),
    ],
)
def test_admin(policy, why):
    grants = admin_grants(policy)
    assert grants == ([why] if why else [])


@pytest.mark.parametrize(
    "policy",
    [
        doc({"Effect": "Deny", "Action": "*", "Resource": "*"}),
        doc(allow(Action="iam:PassRole", Resource="arn:aws:iam::111122223333:role/app-task")),
        doc(allow(Action="*", Resource="arn:aws:s3:::bucket/*")),
        doc(allow(Action=["iam:GetRole", "iam:ListRoles", "s3:*"])),
        doc(allow(Action="iam:Passenger")),
        doc(allow(NotAction=["iam:*", "organizations:*", "account:*"])),
        doc({"Effect": "Allow", "Action": "*", "NotResource": "*"}),
        doc({"Effect": "Allow", "Action": "*"}),  # no Resource at all
        {"Statement": "not a list of objects"},
        {},
    ],
)
def test_not_admin(policy):
    assert admin_grants(policy) == []


def test_documents_arrive_as_json_strings_or_url_encoded():
    admin = doc(allow(Action="*"))
    assert admin_grants(json.dumps(admin)) == ["Allow * on *"]
    assert admin_grants(quote(json.dumps(admin), safe="")) == ["Allow * on *"]


@pytest.mark.parametrize("value", [None, "not json", 42, "[1, 2]"])
def test_unreadable_documents_are_malformed(value):
    with pytest.raises(MalformedEvent):
        admin_grants(value)


def test_sensitive_actions_are_configurable():
    policy = doc(allow(Action="iam:PassRole"), allow(Action="iam:AttachRolePolicy"))
    assert admin_grants(policy, sensitive_actions=[]) == []
    assert admin_grants(policy, sensitive_actions=["iam:AttachRolePolicy"]) == ["Allow iam:AttachRolePolicy on *"]
    assert admin_grants(doc(allow(NotAction="iam:*")), sensitive_actions=["iam:PassRole"]) == []
    assert admin_grants(doc(allow(NotAction=["iam:Create*"]))) == ["Allow every action except iam:Create* on *"]


# -- admin-equivalent: privilege escalation (snapback.iam_admin.ESCALATION_ACTIONS) ---------------


@pytest.mark.parametrize(
    "policy, why",
    [
        (doc(allow(Action="iam:AttachUserPolicy")), "Allow iam:AttachUserPolicy on * (privilege escalation)"),
        (doc(allow(Action="iam:Put*")), "Allow iam:PutGroupPolicy on * (privilege escalation via iam:Put*)"),
        (
            doc(allow(Action=["s3:*", "iam:createpolicyversion"])),
            "Allow iam:CreatePolicyVersion on * (privilege escalation)",
        ),
        (doc(allow(Action="iam:UpdateAssumeRolePolicy")), "Allow iam:UpdateAssumeRolePolicy on * (privilege escalation)"),
        (doc(allow(Action="iam:CreateAccessKey")), "Allow iam:CreateAccessKey on * (privilege escalation)"),
        (
            doc(allow(NotAction=["iam:PassRole", "iam:Get*", "iam:List*"])),
            "Allow every action except iam:PassRole, iam:Get*, iam:List* on *",
        ),
        # PassRole and compute in different statements of the same document
        (
            doc(allow(Action="iam:PassRole"), allow(Action=["ec2:RunInstances", "ec2:Describe*"])),
            "Allow iam:PassRole with ec2:RunInstances on * (privilege escalation: compute as any role; granted by iam:PassRole and ec2:RunInstances)",
        ),
        (
            doc(allow(Action="iam:Pass*"), allow(Action="lambda:*")),
            "Allow iam:PassRole with lambda:CreateFunction on * (privilege escalation: compute as any role; granted by iam:Pass* and lambda:*)",
        ),
    ],
)
def test_escalation_equivalent(policy, why):
    assert admin_grants(policy, sensitive_actions=[], escalation=True) == [why]


@pytest.mark.parametrize(
    "policy",
    [
        doc(allow(Action="iam:AttachUserPolicy", Resource="arn:aws:iam::111122223333:user/app/*")),  # not on every resource
        doc(allow(Action=["iam:Get*", "iam:List*", "iam:Simulate*"])),
        doc(allow(Action="iam:PassRole")),  # PassRole alone: `sensitive_actions` decides, not escalation
        doc(allow(Action="ec2:RunInstances")),  # compute alone passes no role
        doc(allow(Action="iam:PassRole", Resource="arn:aws:iam::111122223333:role/app-task"), allow(Action="ec2:RunInstances")),
        doc(allow(NotAction=["iam:*", "organizations:*", "account:*"])),  # PowerUserAccess
        doc({"Effect": "Deny", "Action": "iam:AttachUserPolicy", "Resource": "*"}),
        doc(allow(Action="lambda:UpdateFunctionCode")),  # deliberately left out (see ESCALATION_ACTIONS)
    ],
)
def test_not_escalation(policy):
    assert admin_grants(policy, sensitive_actions=[], escalation=True) == []


def test_escalation_is_off_unless_asked_and_every_listed_action_is_a_real_iam_name():
    from snapback.iam_admin import ESCALATION_ACTIONS, PASSROLE_COMPUTE_ACTIONS

    assert admin_grants(doc(allow(Action="iam:AttachUserPolicy"))) == []
    assert all(a.startswith("iam:") for a in ESCALATION_ACTIONS) and len(set(ESCALATION_ACTIONS)) == len(ESCALATION_ACTIONS)
    assert all(":" in a and "*" not in a for a in (*ESCALATION_ACTIONS, *PASSROLE_COMPUTE_ACTIONS))
