"""On-call notifications: one structured message per reported outcome, published to SNS.

The message is JSON (what happened, what Snapback did, the outcome, the finding id, the undo
command) with a short human subject and message attributes (severity, remediation, account,
outcome) so that subscribers can filter. Slack and Chatbot subscribe to the topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, classify
from snapback.securityhub import undo_command

if TYPE_CHECKING:
    from snapback.outcomes import Result
    from snapback.remediation import Remediation


def build_message(result: Result, remediation: type[Remediation]) -> dict[str, Any]:
    target = result.target
    facts = dict(target.facts) if target else {}
    return {
        "schema": "snapback.notification/1",
        "severity": result.severity.value,
        "outcome": result.outcome.value,
        "remediation": remediation.name,
        "summary": remediation.summary,
        "reason": result.reason,
        "mode": result.mode,
        "what_happened": facts,
        "where": {
            "account": target.account if target else None,
            "region": target.region if target else None,
            "resource": target.resource_arn if target else None,
        },
        "actions": result.actions,
        "before": result.before,
        "after": result.after,
        "audit_id": result.audit_id,
        "finding_id": result.finding_id,
        "event_id": result.event_id,
        "undo": undo_command(result),
    }


def subject(result: Result, remediation: type[Remediation]) -> str:
    target = result.target
    where = f"{target.resource_id} in {target.account}" if target else "-"
    text = f"[{result.severity.value}] Snapback {result.outcome.value}: {remediation.name} {where}"
    text = text.encode("ascii", "replace").decode().replace("\n", " ")
    return text if len(text) <= 99 else text[:98] + "~"


@dataclass
class Notifier:
    clients: Clients
    topic_arn: str
    chat_topic_arn: str | None = None  # Amazon Q Developer in chat applications (custom format)

    def publish(self, result: Result, remediation: type[Remediation]) -> str:
        target = result.target
        attributes = {
            "severity": result.severity.value,
            "remediation": remediation.name,
            "outcome": result.outcome.value,
            "account": target.account if target else "-",
        }
        region = self.topic_arn.split(":")[3] or None
        message = build_message(result, remediation)
        sns = self.clients.client("sns", region)
        try:
            response = sns.publish(
                TopicArn=self.topic_arn,
                Subject=subject(result, remediation),
                Message=json.dumps(message, default=str, sort_keys=True),
                MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
            )
            if self.chat_topic_arn:
                from snapback.chatbot import chat_body

                sns.publish(TopicArn=self.chat_topic_arn, Message=chat_body(json.loads(json.dumps(message, default=str))))
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        return str(response["MessageId"])
