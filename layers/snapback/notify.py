"""On-call notifications: one structured message per reported outcome, published to SNS.

The message is JSON (what happened, what Snapback did, the outcome, what on-call must do with the
real commands, only what changed, the finding id) with a short human subject that leads with the
outcome, and message attributes (severity, remediation, account, outcome) so that subscribers can
filter. Slack and Chatbot subscribe to the topic. Values are redacted by whole key name (policy
documents, secrets, tokens), and a message is fitted under the SNS limit (256 KB) with a note
before it is published: an oversized field never fails the publish after an action was taken.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback.clients import Clients, classify
from snapback.securityhub import undo_command
from snapback.slack import changes, next_steps, redact, view

# SNS takes at most 262,144 bytes per message, attributes included; keep room for those and the subject.
SNS_MESSAGE_LIMIT = 256 * 1024 - 6 * 1024
FACT_LIMIT = 4096  # one trigger fact (e.g. a userAgent) in characters

if TYPE_CHECKING:
    from snapback.outcomes import Result
    from snapback.remediation import Remediation


def _with_audit_id(text: str | None, audit_id: str | None) -> str:
    """Reasons written before the audit id existed say `<audit id>`: put the real one in."""
    return (text or "").replace("<audit id>", audit_id or "<audit id>")


def _bounded(value: Any, limit: int = FACT_LIMIT) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"… (cut: {len(value)} characters; the audit record has it whole)"
    if isinstance(value, Mapping):
        return {k: _bounded(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v, limit) for v in value]
    return value


def build_message(
    result: Result, remediation: type[Remediation], account_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    target = result.target
    facts = _bounded(redact(dict(target.facts))) if target else {}
    account = target.account if target else None
    message: dict[str, Any] = {
        "schema": "snapback.notification/1",
        "severity": result.severity.value,
        "outcome": result.outcome.value,
        "remediation": remediation.name,
        "summary": remediation.summary,
        "reason": _with_audit_id(result.reason, result.audit_id),
        "mode": result.mode,
        "what_happened": facts,
        "where": {
            "account": account,
            "account_name": (account_names or {}).get(account or "") or None,
            "region": target.region if target else None,
            "resource": target.resource_arn if target else None,
        },
        "actions": [_with_audit_id(str(a), result.audit_id) for a in result.actions],
        "before": redact(result.before),
        "after": redact(result.after),
        "changes": changes(result.before, result.after) if result.after is not None else [],
        "audit_id": result.audit_id,
        "finding_id": result.finding_id,
        "event_id": result.event_id,
        "undo": undo_command(result),
    }
    message["headline"] = view(message).headline
    message["action_needed"] = view(message).action_needed
    message["next_steps"] = next_steps(message)
    return fit(message)


def _size(message: Mapping[str, Any]) -> int:
    return len(json.dumps(message, default=str, sort_keys=True).encode())


def fit(message: dict[str, Any], limit: int = SNS_MESSAGE_LIMIT) -> dict[str, Any]:
    """The message under `limit` bytes: the full before/after go first (the changes stay), then the
    changes, the actions and the facts are cut, each with a note that says where the whole is."""
    if _size(message) <= limit:
        return message
    original = _size(message)
    pointer = f"`snapback audit --json` (audit {message.get('audit_id') or '-'})"
    for key in ("before", "after"):
        message[key] = None
    notes = ["before/after states omitted"]
    if _size(message) > limit:
        message["changes"] = (message.get("changes") or [])[:20]
        message["actions"] = [a[:500] for a in (message.get("actions") or [])[:20]]
        message["what_happened"] = _bounded(message.get("what_happened") or {}, 512)
        message["reason"] = str(message.get("reason") or "")[:2000]
        notes.append("long values cut")
    if _size(message) > limit:
        message["changes"], message["what_happened"] = (
            [],
            {"summary": str((message.get("what_happened") or {}).get("summary"))[:512]},
        )
        notes.append("changes and trigger facts omitted")
    message["truncated"] = f"Message cut to fit SNS ({original} bytes): {', '.join(notes)}; {pointer} has everything."
    return message


def subject(result: Result, remediation: type[Remediation]) -> str:
    """Outcome first, e.g. `Action needed: ...`, then the remediation and where (SNS: < 100 ASCII)."""
    target = result.target
    where = f"{target.resource_id} in {target.account}" if target else "-"
    headline = view({"outcome": result.outcome.value, "mode": result.mode}).headline.split(":")[0].split(",")[0]
    text = f"[{result.severity.value}] {headline}: Snapback {result.outcome.value} {remediation.name} {where}"
    text = text.encode("ascii", "replace").decode().replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 99 else text[:98] + "~"


def account_names_from_env() -> dict[str, str]:
    """The configured account names, read from the validated config in the Lambda environment (no
    pydantic), for notifiers built without them."""
    try:
        names = json.loads(os.environ.get("SNAPBACK_CONFIG") or "{}").get("account_names") or {}
    except (ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, Mapping) else {}


@dataclass
class Notifier:
    clients: Clients
    topic_arn: str
    chat_topic_arn: str | None = None  # Amazon Q Developer in chat applications (custom format)
    # Account id -> the name on-call knows it by (snapback.yaml `account_names`); None: from the environment.
    account_names: Mapping[str, str] | None = None

    def sns(self) -> Any:
        """The client of the topic's Region (made before `publish` runs on a worker thread)."""
        return self.clients.client("sns", self.topic_arn.split(":")[3] or None)

    def publish(self, result: Result, remediation: type[Remediation]) -> str:
        target = result.target
        attributes = {
            "severity": result.severity.value,
            "remediation": remediation.name,
            "outcome": result.outcome.value,
            "account": target.account if target else "-",
        }
        names = self.account_names if self.account_names is not None else account_names_from_env()
        message = build_message(result, remediation, names)
        sns = self.sns()
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
