import json
from urllib.parse import quote

import pytest

from snapback.errors import MalformedEvent
from snapback.policies import load_document, public_statements


def doc(**statement):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **statement}]}


@pytest.mark.parametrize(
    "policy",
    [
        doc(Principal="*"),
        doc(Principal={"AWS": "*"}),
        doc(Principal={"AWS": ["arn:aws:iam::1:root", "*"]}),
        doc(Principal="*", Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}),
        doc(Principal="*", Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}),
        doc(Principal="*", Condition={"StringLike": {"aws:PrincipalOrgID": "o-*"}}),
        doc(Principal="*", Condition={"Bool": {"aws:SecureTransport": "true"}}),
    ],
)
def test_public(policy):
    assert public_statements(policy)


@pytest.mark.parametrize(
    "policy",
    [
        doc(Principal="*", Effect="Deny"),
        doc(Principal={"AWS": "arn:aws:iam::111122223333:root"}),
        doc(Principal="*", Condition={"StringEquals": {"aws:SourceVpce": "vpce-1a2b"}}),
        doc(Principal="*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}),
        doc(Principal="*", Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}),
        {"Statement": "not a list of objects"},
    ],
)
def test_not_public(policy):
    assert not public_statements(policy)


def test_documents_arrive_as_objects_strings_or_url_encoded_strings():
    policy = doc(Principal="*")
    assert load_document(policy) == policy
    assert load_document(json.dumps(policy)) == policy
    assert load_document(quote(json.dumps(policy))) == policy
    with pytest.raises(MalformedEvent):
        load_document("invalid-json-policy")
    with pytest.raises(MalformedEvent):
        load_document(None)
