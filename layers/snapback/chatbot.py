"""Amazon Q Developer in chat applications (formerly AWS Chatbot): custom notifications.

Chatbot renders only its own schema, so Snapback publishes a second, chat-shaped copy of each
notification to a dedicated topic that the Slack channel configuration subscribes to:
`{"version": "1.0", "source": "custom", "content": {...}, "metadata": {...}}`, with the finding id
as the thread id (a repeat on the same resource threads under the first message). The same
redaction as the Slack notifier applies: no policy documents, no secrets, bounded lengths.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from snapback.slack import EMOJI, _compact, console_links, scrub, truncate

TITLE_LIMIT = 250
DESCRIPTION_LIMIT = 8000
NEXT_STEP_LIMIT = 5


def chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The custom-notification form of one `snapback.notification/1` message."""
    where = message.get("where") or {}
    facts = message.get("what_happened") or {}
    outcome, severity = str(message.get("outcome", "?")), str(message.get("severity", "MEDIUM"))
    resource = str(where.get("resource") or "-")
    title = truncate(
        scrub(f"{EMOJI.get(outcome, '')} [{severity}] {outcome}: {message.get('summary') or message.get('remediation')}").strip(),
        TITLE_LIMIT,
    )
    who = facts.get("actor") or "-"
    lines = [
        f"*What happened:* {scrub(str(facts.get('summary') or message.get('reason') or '-'))}",
        f"*Who:* `{scrub(str(who))}` from {facts.get('source_ip') or '-'}",
        f"*Where:* account {where.get('account') or '-'}, {where.get('region') or '-'}, `{scrub(resource)}`",
        f"*When:* {facts.get('event_time') or '-'}",
        f"*Snapback ({message.get('mode') or '-'}):* {scrub(str(message.get('reason') or '-'))}",
    ]
    actions = message.get("actions") or []
    if actions:
        lines.append("*Actions:*\n" + "\n".join(f"• {scrub(str(a))}" for a in actions[:10]))
    if message.get("before") not in (None, {}, []) or message.get("after") not in (None, {}, []):
        lines.append(f"*Before → after:* `{_compact(message.get('before'), 400)}` → `{_compact(message.get('after'), 400)}`")
    steps = []
    if message.get("undo"):
        steps.append(f"Undo: `{message['undo']}`")
    if outcome in ("NOTIFIED", "DRY_RUN") and message.get("audit_id"):
        steps.append(f"Approve: `snapback approve {message['audit_id']}` or the Security Hub action “Snapback: remediate”")
    steps += [f"{label}: {url}" for label, url in console_links(message)]
    return {
        "version": "1.0",
        "source": "custom",
        "id": str(message.get("audit_id") or message.get("event_id") or ""),
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": truncate("\n".join(lines), DESCRIPTION_LIMIT),
            "nextSteps": [truncate(s, 500) for s in steps[:NEXT_STEP_LIMIT]],
            "keywords": [
                k for k in (severity, outcome, str(message.get("remediation") or ""), str(where.get("account") or "")) if k
            ],
        },
        "metadata": {
            "threadId": str(message.get("finding_id") or resource),
            "summary": title,
            "eventType": f"Snapback {outcome}",
            "relatedResources": [resource] if resource != "-" else [],
            "additionalContext": {
                "audit_id": str(message.get("audit_id") or "-"),
                "account": str(where.get("account") or "-"),
                "region": str(where.get("region") or "-"),
            },
        },
    }


def chat_body(message: Mapping[str, Any]) -> str:
    return json.dumps(chat_message(message), ensure_ascii=False, sort_keys=True)
