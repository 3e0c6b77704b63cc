"""Amazon Q Developer in chat applications: the custom-notification schema, redaction, limits, delivery."""

from __future__ import annotations

import json

from snapback.chatbot import DESCRIPTION_LIMIT, TITLE_LIMIT, chat_message
from snapback.outcomes import Outcome
from tests.unit.test_slack import notification


def test_every_outcome_becomes_a_valid_custom_notification():
    for outcome in Outcome:
        message = chat_message(notification(outcome.value))
        assert message["version"] == "1.0" and message["source"] == "custom"
        content = message["content"]
        assert content["textType"] == "client-markdown"
        assert content["title"] and len(content["title"]) <= TITLE_LIMIT
        assert content["description"] and len(content["description"]) <= DESCRIPTION_LIMIT
        assert outcome.value in content["keywords"]
        metadata = message["metadata"]
        assert metadata["threadId"] and metadata["eventType"] == f"Snapback {outcome.value}"
        json.dumps(message)  # serialisable as the SNS message


def test_it_tells_how_to_undo_or_approve():
    remediated = chat_message(notification("REMEDIATED", undo="snapback undo 20261122T000000Z-abc"))
    assert any("snapback undo 20261122T000000Z-abc" in step for step in remediated["content"]["nextSteps"])
    notified = chat_message(notification("NOTIFIED", audit_id="20261122T000000Z-def"))
    assert any("snapback approve 20261122T000000Z-def" in step for step in notified["content"]["nextSteps"])


def test_no_policy_document_or_secret_reaches_the_channel():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    message = notification(
        "REMEDIATED",
        reason=f"key AKIAIOSFODNN7EXAMPLE and {secret}",
        before={"policy_document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
        actions=["x" * 10_000],
    )
    text = json.dumps(chat_message(message))
    assert secret not in text and "AKIAIOSFODNN7EXAMPLE" not in text
    assert '\\"Action\\": \\"*\\"' not in text and "[redacted]" in text
    assert len(chat_message(message)["content"]["description"]) <= DESCRIPTION_LIMIT


def test_the_notifier_publishes_the_chat_copy_to_its_own_topic(org):
    from snapback_ops.demo import cloudtrail_record, runtime_for
    from snapback_ops.scenarios.s3_public_bucket import public_policy

    account = org.members["member-a"]
    sec = org.session(org.security)
    sns, sqs = sec.client("sns"), sec.client("sqs")
    chat_topic = sns.create_topic(Name="snapback-alerts-chat")["TopicArn"]
    inbox = sqs.create_queue(QueueName="chat-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=chat_topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    runtime = runtime_for(org, "s3_block_public_access")
    runtime.notifier.chat_topic_arn = chat_topic
    org.session(account).client("s3").create_bucket(Bucket="chatty")
    record = cloudtrail_record(
        account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": "chatty", "bucketPolicy": public_policy("chatty")}
    )
    (result,) = runtime.process(record, remediations=["s3_block_public_access"])
    assert result.outcome is Outcome.REMEDIATED
    (received,) = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(received["Body"])
    assert body["source"] == "custom" and body["metadata"]["threadId"] == result.finding_id
    assert any(result.audit_id in step for step in body["content"]["nextSteps"])
