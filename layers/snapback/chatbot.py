"""Amazon Q Developer in chat applications (formerly AWS Chatbot): custom notifications.

Chatbot renders only its own schema, so Snapback publishes a second, chat-shaped copy of each
notification to a dedicated topic that the Slack channel configuration subscribes to:
`{"version": "1.0", "source": "custom", "content": {...}, "metadata": {...}}`, with the finding id
as the thread id (a repeat on the same resource threads under the first message). The same
redaction and the same on-call view as the Slack notifier apply: outcome first, the real commands,
only what changed, no policy documents or secrets, bounded lengths.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from snapback.slack import account_label, change_lines, console_links, diff_of, next_steps, problem, scrub, truncate, view

TITLE_LIMIT = 250
DESCRIPTION_LIMIT = 8000
NEXT_STEP_LIMIT = 5


def chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The custom-notification form of one `snapback.notification/1` message."""
    where = message.get("where") or {}
    facts = message.get("what_happened") or {}
    outcome, severity = str(message.get("outcome", "?")), str(message.get("severity", "MEDIUM"))
    resource = str(where.get("resource") or "-")
    shape = view(message)
    title = truncate(scrub(f"{shape.emoji} {shape.headline} · {problem(message)}").strip(), TITLE_LIMIT)
    who = facts.get("actor") or "-"
    lines = [
        f"*{shape.headline}* ({outcome}, {severity})",
        f"*What happened:* {scrub(str(facts.get('summary') or message.get('reason') or '-'))}",
        f"*Who:* `{scrub(str(who))}` from {facts.get('source_ip') or '-'}",
        f"*Where:* account {account_label(where)}, {where.get('region') or '-'}, `{scrub(resource)}`",
        f"*When:* {facts.get('event_time') or '-'}",
        f"*Snapback ({message.get('mode') or '-'}):* {scrub(str(message.get('reason') or '-'))}",
    ]
    actions = message.get("actions") or []
    if actions:
        lines.append(f"*{shape.done_label}:*\n" + "\n".join(f"• {scrub(str(a))}" for a in actions[:10]))
    diff = diff_of(message)
    if diff:
        lines.append(
            "*Before → after:*\n"
            + "\n".join(change_lines(diff, 3000)).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        )
    steps = [s.replace("*", "") for s in next_steps(message)]
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
