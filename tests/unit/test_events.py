import json

import pytest

from snapback.errors import MalformedEvent
from snapback.events import CLOUDTRAIL_API, CONSOLE_SIGNIN, GUARDDUTY_FINDING, SECURITYHUB_IMPORTED, normalise, parse_cloudtrail

RECORD = {
    "eventVersion": "1.09",
    "eventSource": "s3.amazonaws.com",
    "eventName": "PutBucketAcl",
    "eventID": "e-1",
    "awsRegion": "eu-west-1",
    "recipientAccountId": "111122223333",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "accountId": "111122223333"},
    "requestParameters": {"bucketName": "b"},
}


def test_envelope_passes_through_with_trusted_account():
    env = {
        "id": "1",
        "source": "aws.s3",
        "detail-type": CLOUDTRAIL_API,
        "account": "444455556666",
        "region": "us-east-1",
        "time": "t",
        "resources": [],
        "detail": RECORD,
    }
    (event,) = normalise(env)
    assert event.account == "444455556666" and event.shape == "envelope" and event.detail["eventName"] == "PutBucketAcl"


def test_bare_record_is_wrapped_with_its_recipient_account():
    (event,) = normalise(RECORD)
    assert (event.source, event.detail_type, event.account, event.region, event.id) == (
        "aws.s3",
        CLOUDTRAIL_API,
        "111122223333",
        "eu-west-1",
        "e-1",
    )


def test_log_file_yields_every_record():
    events = normalise({"Records": [RECORD, {**RECORD, "eventID": "e-2"}]})
    assert [e.id for e in events] == ["e-1", "e-2"]


def test_sns_and_sqs_wrapped_messages_are_unwrapped():
    sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(RECORD)}}]}
    sqs = {"Records": [{"eventSource": "aws:sqs", "body": json.dumps({"Records": [RECORD]})}]}
    notification = {"Type": "Notification", "Message": json.dumps(RECORD)}
    assert [e.id for e in normalise(sns) + normalise(sqs) + normalise(notification)] == ["e-1"] * 3


def test_console_signin_record_gets_the_signin_detail_type():
    (event,) = normalise(
        {**RECORD, "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn"}
    )
    assert event.source == "aws.signin" and event.detail_type in CONSOLE_SIGNIN


def test_bare_findings_are_recognised():
    (gd,) = normalise(
        {
            "schemaVersion": "2.0",
            "accountId": "111122223333",
            "region": "us-east-1",
            "type": "Backdoor:EC2/C&CActivity.B",
            "service": {},
        }
    )
    (sh,) = normalise(
        {
            "SchemaVersion": "2018-10-08",
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
            "AwsAccountId": "111122223333",
            "Id": "f",
        }
    )
    assert gd.detail_type == GUARDDUTY_FINDING and sh.detail_type == SECURITYHUB_IMPORTED and sh.region == "us-east-1"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("not json", "not JSON"),
        ([1, 2], "expected a JSON object"),
        ({"hello": "world"}, "unrecognised shape"),
        ({"source": "aws.s3", "detail-type": "x", "detail": {}}, "without an account"),
        ({"source": "aws.s3", "detail-type": "x", "account": "1", "detail": "str"}, "detail is not an object"),
        ({**RECORD, "recipientAccountId": None, "userIdentity": {"type": "AssumedRole"}}, "names no account"),
        (
            {
                "Type": "Notification",
                "Message": json.dumps(
                    {
                        "Type": "Notification",
                        "Message": json.dumps(
                            {"Type": "Notification", "Message": json.dumps({"Type": "Notification", "Message": "{}"})}
                        ),
                    }
                ),
            },
            "nested too deeply",
        ),
    ],
)
def test_malformed_inputs_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(MalformedEvent, match=reason):
        normalise(raw)


def test_cloudtrail_call_tolerates_nulls_and_wrong_types():
    call = parse_cloudtrail({**RECORD, "requestParameters": None, "userIdentity": "oops", "responseElements": []})
    assert call.request == {} and call.actor.type == "Unknown" and call.response is None and not call.failed


# -- bounds: nothing unbounded is walked deeply or used as a key -----------------------------------


def _deep(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_nesting_is_bounded_before_anything_walks_it_and_the_bound_admits_real_depths():
    from snapback.events import MAX_DEPTH, check_bounds

    check_bounds(_deep(MAX_DEPTH))  # the deepest real events are about a dozen levels
    with pytest.raises(MalformedEvent, match="nests deeper"):
        check_bounds(_deep(MAX_DEPTH + 1))
    with pytest.raises(MalformedEvent, match="nests deeper"):
        normalise({"source": "aws.s3", "detail-type": "x", "account": "123456789012", "detail": _deep(10_000)})
    # A JSON text too deep for Python's own parser is a reason, not a RecursionError.
    with pytest.raises(MalformedEvent, match="nests deeper"):
        normalise("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MalformedEvent, match="nests deeper"):
        normalise({"Records": [{"eventSource": "aws:sqs", "body": '{"a":' * 100_000 + "1" + "}" * 100_000}]})


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b'{"a": "\xff"}', "not UTF-8"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed"),
        ({"Records": []}, "no events"),
        ("", "empty input"),
        ({"source": "aws.s3", "detail-type": "x", "account": "12345", "detail": {}}, "not a 12-digit account"),
        (
            {"source": "aws.s3", "detail-type": "x", "account": "123456789012", "region": "x/../y", "detail": {}},
            "not an AWS Region",
        ),
        ({"source": "aws.s3", "detail-type": "x", "account": "123456789012", "resources": "r", "detail": {}}, "not a list"),
        ({"source": "s" * 300, "detail-type": "x", "account": "123456789012", "detail": {}}, "source is 300 characters"),
        ({"Records": [{"eventSource": "aws:sqs", "body": " " * (1024 * 1024 + 1)}]}, "the limit is"),
        ({"SchemaVersion": "2018-10-08", "ProductArn": "p", "AwsAccountId": "123456789012", "Id": "f" * 513}, "ASFF Id is 513"),
        ({**RECORD, "eventID": "e" * 300}, "eventID is 300"),
        ({**RECORD, "recipientAccountId": "acct"}, "not a 12-digit account"),
    ],
)
def test_oversize_and_mistyped_inputs_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(MalformedEvent, match=reason):
        normalise(raw)


def test_the_identifier_bounds_admit_the_largest_real_values():
    finding = {
        "SchemaVersion": "2018-10-08",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "AwsAccountId": "123456789012",
        "Id": "f" * 512,  # ASFF's documented maximum
        "UpdatedAt": "2026-11-22T12:00:00.000Z",
    }
    (event,) = normalise(finding)
    assert event.id == "f" * 512


def test_free_text_is_cut_never_rejected():
    call = parse_cloudtrail({**RECORD, "userAgent": "A" * 1_000_000, "errorMessage": "m" * 50_000})
    assert len(call.user_agent) < 1_100 and call.user_agent.endswith("more characters cut by Snapback]")
    assert len(call.error_message) < 1_100


def test_bounded_key_hashes_only_what_would_not_fit_and_keeps_keys_apart():
    from snapback.events import MAX_KEY_BYTES, bounded_key

    assert bounded_key("sh#short#2026") == "sh#short#2026"
    a, b = bounded_key("k#" + "x" * 5_000 + "a"), bounded_key("k#" + "x" * 5_000 + "b")
    assert a != b and a.startswith("k#xxx") and "#sha256:" in a
    assert len(a.encode()) <= MAX_KEY_BYTES and len(bounded_key("é" * 5_000).encode()) <= MAX_KEY_BYTES
