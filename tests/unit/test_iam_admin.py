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
