"""Slack: Block Kit messages on-call can act on in ten seconds, posted to an incoming webhook.

Rendering is pure (golden-file tested); posting honours HTTP 429 `Retry-After`, retries 5xx and
network errors, and raises `RetryableError` when it gives up, so that the notifier's queue retries
and finally dead-letters the message. Nothing secret is ever posted: policy documents and
anything that looks like a credential are redacted, long values truncated with a marker.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snapback.errors import PermanentError, RetryableError

HEADER_LIMIT = 150
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
FALLBACK_LIMIT = 4000
MARKER = "… (truncated)"
MIN_INTERVAL_S = 1.1  # Slack: about one message per second per webhook
DIGEST_THRESHOLD = 4  # more outcomes than this in one batch become one digest message

EMOJI = {
    "CRITICAL": ":rotating_light:",
    "HIGH": ":red_circle:",
    "MEDIUM": ":large_orange_circle:",
    "LOW": ":large_blue_circle:",
    "INFORMATIONAL": ":white_circle:",
}
_REDACT_KEYS = re.compile(r"(policy|document|secret|token|password|credential|privatekey|webhook)", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12}([A-Z0-9]{4})\b")
_WEBHOOK = re.compile(r"https://hooks\.slack\.com/\S+")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(MARKER)] + MARKER


def escape(text: str) -> str:
    """mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def scrub(text: str) -> str:
    """Mask what must never reach a chat channel, whatever field it hides in."""
    text = _WEBHOOK.sub("[redacted webhook]", text)
    text = _ACCESS_KEY.sub(lambda m: f"{m.group(1)}…{m.group(2)}", text)
    return _SECRET_VALUE.sub("[redacted]", text)


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of `value` without policy documents, secrets or tokens; depth-limited."""
    if depth > 6:
        return "…"
    if isinstance(value, Mapping):
        return {str(k): "[redacted]" if _REDACT_KEYS.search(str(k)) else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value[:20]] + (["…"] if len(value) > 20 else [])
    if isinstance(value, str):
        return scrub(value)
    return value


def _compact(value: Any, limit: int = 600) -> str:
    if value in (None, {}, []):
        return "—"
    return truncate(json.dumps(redact(value), sort_keys=True, default=str), limit)


def console_links(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    where = message.get("where") or {}
    region = where.get("region") or "us-east-1"
    links = []
    resource = where.get("resource") or ""
    if resource.startswith("arn:aws:s3:::"):
        links.append(("Bucket", f"https://s3.console.aws.amazon.com/s3/buckets/{resource.split(':::', 1)[1]}?region={region}"))
    elif resource.startswith("arn:aws:ec2:") and ":instance/" in resource:
        links.append(
            (
                "Instance",
                f"https://{region}.console.aws.amazon.com/ec2/home?region={region}#InstanceDetails:instanceId="
                f"{resource.rsplit('/', 1)[1]}",
            )
        )
    elif resource.startswith("arn:aws:iam::"):
        links.append(("IAM", "https://console.aws.amazon.com/iam/home#/home"))
    event_id = (message.get("what_happened") or {}).get("event_id")
    if event_id:
        links.append(
            ("CloudTrail event", f"https://{region}.console.aws.amazon.com/cloudtrail/home?region={region}#/events/{event_id}")
        )
    if message.get("finding_id"):
        links.append(
            (
                "Security Hub",
                "https://console.aws.amazon.com/securityhub/home#/findings?search="
                f"Id%3D%255Coperator%255C%253AEQUALS%255C%253A{urllib.request.quote(str(message['finding_id']), safe='')}",
            )
        )
    return links


def render(message: Mapping[str, Any]) -> dict[str, Any]:
    """One Block Kit message for one notification (see snapback.notify.build_message)."""
    facts = message.get("what_happened") or {}
    where = message.get("where") or {}
    severity = str(message.get("severity") or "MEDIUM")
    outcome = str(message.get("outcome") or "?")
    title = f"{EMOJI.get(severity, '')} {severity} · {outcome} · {message.get('summary') or message.get('remediation')}".strip()
    fields = [
        ("Account", where.get("account")),
        ("Region", where.get("region")),
        ("Resource", where.get("resource")),
        ("Who", facts.get("actor")),
        ("Source IP", facts.get("source_ip")),
        ("When", facts.get("event_time")),
        ("Trigger", facts.get("event_name")),
        ("Mode", message.get("mode")),
        ("Outcome", outcome),
        ("Remediation", message.get("remediation")),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(scrub(title), HEADER_LIMIT), "emoji": True}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": truncate(
                    f"*What happened:* {escape(scrub(str(facts.get('summary') or message.get('summary') or '')))}", TEXT_LIMIT
                ),
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": truncate(f"*{name}*\n{escape(scrub(str(value)))}", FIELD_LIMIT)}
                for name, value in fields
                if value
            ][:MAX_FIELDS],
        },
    ]
    did = message.get("actions") or []
    done = "\n".join(f"• {escape(scrub(str(a)))}" for a in did) or escape(scrub(str(message.get("reason") or "")))
    blocks.append(
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": truncate(
                    f"*What Snapback did* ({escape(str(message.get('reason') or ''))}):\n{done}\n"
                    f"*Before:* `{escape(_compact(message.get('before')))}`\n*After:* `{escape(_compact(message.get('after')))}`",
                    TEXT_LIMIT,
                ),
            },
        }
    )
    if message.get("undo"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Undo:* `{escape(str(message['undo']))}`"}})
    links = console_links(message)
    if links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": name}, "url": url[:3000]} for name, url in links[:5]
                ],
            }
        )
    context = [
        f"audit {message.get('audit_id') or '—'}",
        f"finding {message.get('finding_id') or '—'}",
        f"event {message.get('event_id') or '—'}",
    ]
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(escape(" · ".join(context)), TEXT_LIMIT)}]}
    )
    fallback = f"[{severity}] {outcome}: {message.get('remediation')} on {where.get('resource')} in {where.get('account')}"
    if message.get("undo"):
        fallback += f" — undo: {message['undo']}"
    return {"text": truncate(scrub(fallback), FALLBACK_LIMIT), "blocks": blocks[:MAX_BLOCKS]}


def render_digest(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One message for a burst: counts per outcome, then one line per outcome (within the limits)."""
    counts: dict[str, int] = {}
    for m in messages:
        counts[str(m.get("outcome"))] = counts.get(str(m.get("outcome")), 0) + 1
    worst = next((s for s in EMOJI if any(m.get("severity") == s for m in messages)), "MEDIUM")
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
    lines = [
        f"• {escape(str(m.get('outcome')))} `{escape(str(m.get('remediation')))}` "
        f"{escape(scrub(str((m.get('where') or {}).get('resource'))))} in {escape(str((m.get('where') or {}).get('account')))}"
        + (f" — undo `{escape(str(m['undo']))}`" if m.get("undo") else "")
        for m in messages
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(f"{EMOJI[worst]} Snapback: {len(messages)} outcomes ({summary})", HEADER_LIMIT),
                "emoji": True,
            },
        },
    ]
    chunk: list[str] = []
    for line in lines:
        if len("\n".join([*chunk, line])) > TEXT_LIMIT - len(MARKER):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
            chunk = []
        chunk.append(truncate(line, TEXT_LIMIT - len(MARKER)))
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1] + [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "more outcomes: see `snapback status`"}]}
        ]
    return {"text": truncate(f"Snapback: {len(messages)} outcomes ({summary})", FALLBACK_LIMIT), "blocks": blocks}


def plan_posts(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pace a batch: a few outcomes post one by one, a burst becomes one digest."""
    if len(messages) > DIGEST_THRESHOLD:
        return [render_digest(messages)]
    return [render(m) for m in messages]


Sender = Callable[[str, bytes], tuple[int, Mapping[str, str], bytes]]


def urllib_sender(url: str, body: bytes, timeout: float = 5.0) -> tuple[int, Mapping[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - https webhook from config
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers or {}), err.read() if err.fp else b""
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise RetryableError(f"Slack webhook unreachable: {type(err).__name__}") from err


@dataclass
class SlackPoster:
    webhook_url: str
    send: Sender = urllib_sender
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    attempts: int = 4
    max_wait_s: float = 30.0
    min_interval_s: float = MIN_INTERVAL_S
    _last_post: float = field(default=-1e9)

    def post(self, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload).encode()
        for attempt in range(self.attempts):
            gap = self.min_interval_s - (self.clock() - self._last_post)
            if gap > 0:
                self.sleep(gap)
            try:
                status, headers, text = self.send(self.webhook_url, body)
            except RetryableError:
                if attempt == self.attempts - 1:
                    raise
                self.sleep(min(self.max_wait_s, 2**attempt))
                continue
            self._last_post = self.clock()
            if 200 <= status < 300:
                return
            if status == 429:
                retry_after = headers.get("Retry-After") or headers.get("retry-after") or "1"
                try:
                    wait = float(retry_after)
                except ValueError:
                    wait = 1.0
                self.sleep(min(self.max_wait_s, max(wait, 0.0)))
                continue
            if status >= 500:
                self.sleep(min(self.max_wait_s, 2**attempt))
                continue
            # 4xx other than 429: the payload or the webhook is wrong; retrying will not help
            raise PermanentError(f"Slack rejected the message: HTTP {status} {text[:200]!r}")
        raise RetryableError(f"Slack did not accept the message after {self.attempts} attempts")


def from_alarm(alarm: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudWatch alarm state change (as SNS delivers it) in the shape `render` reads.

    ALARM is HIGH, so on-call sees it like a FAILED remediation; OK and INSUFFICIENT_DATA are LOW.
    The alarm's description carries the runbook line (see stacks/observability.py).
    """
    state = str(alarm.get("NewStateValue") or "?")
    trigger = alarm.get("Trigger") if isinstance(alarm.get("Trigger"), Mapping) else {}
    dimensions = trigger.get("Dimensions") if isinstance(trigger.get("Dimensions"), list) else []
    named = ", ".join(
        f"{d.get('name') or d.get('Name')}={d.get('value') or d.get('Value')}" for d in dimensions if isinstance(d, Mapping)
    )
    metric = "/".join(str(part) for part in (trigger.get("Namespace"), trigger.get("MetricName")) if part)
    return {
        "schema": "snapback.notification/1",
        "severity": "HIGH" if state == "ALARM" else "LOW",
        "outcome": state,
        "remediation": "-",
        "summary": str(alarm.get("AlarmName") or "CloudWatch alarm"),
        "reason": f"runbook: {alarm.get('AlarmDescription') or 'none on this alarm'}",
        "what_happened": {
            "summary": str(alarm.get("NewStateReason") or ""),
            "event_time": alarm.get("StateChangeTime"),
        },
        "where": {
            "account": alarm.get("AWSAccountId"),
            "region": alarm.get("Region"),
            "resource": " ".join(part for part in (metric, f"({named})" if named else "") if part) or None,
        },
    }


def messages_from_batch(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Notifications from an SQS batch fed by the SNS topic (raw delivery or SNS envelope)."""
    out = []
    for record in event.get("Records", []) if isinstance(event, Mapping) else []:
        body = record.get("body") if isinstance(record, Mapping) else None
        try:
            message = json.loads(body) if isinstance(body, str) else None
            if isinstance(message, Mapping) and message.get("Type") == "Notification":
                message = json.loads(message.get("Message", "null"))
        except ValueError:
            message = None
        if isinstance(message, Mapping) and str(message.get("schema", "")).startswith("snapback.notification/"):
            out.append(dict(message))
        elif isinstance(message, Mapping) and "AlarmName" in message and "NewStateValue" in message:
            out.append(from_alarm(message))
        else:
            out.append(
                {
                    "severity": "MEDIUM",
                    "outcome": "UNREADABLE",
                    "remediation": "-",
                    "summary": "an unreadable notification",
                    "reason": "the notifier could not parse this SNS message; see the notifier DLQ",
                }
            )
    return out


_CACHE: dict[str, tuple[float, SlackPoster]] = {}
SECRET_MAX_AGE_S = 300.0


def poster_from_secret(secret_id: str, clients: Any) -> SlackPoster:
    """The webhook lives in Secrets Manager (never env vars); cached for five minutes."""
    cached = _CACHE.get(secret_id)
    if cached and time.monotonic() - cached[0] < SECRET_MAX_AGE_S:
        return cached[1]
    value = clients.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        url = json.loads(value).get("webhook_url", "")
    except (ValueError, AttributeError):
        url = value.strip()
    if not url.startswith("https://"):
        raise PermanentError(f"secret {secret_id} holds no https webhook URL")
    poster = SlackPoster(url)
    _CACHE[secret_id] = (time.monotonic(), poster)
    return poster


def deliver_batch(event: Mapping[str, Any], poster: SlackPoster) -> int:
    """Post one batch; raises (so SQS retries, then dead-letters) if Slack does not take it."""
    posts = plan_posts(messages_from_batch(event))
    for payload in posts:
        poster.post(payload)
    return len(posts)


def readable(payload: Mapping[str, Any]) -> list[str]:
    """A Block Kit message as plain lines, the way a person reads it in the channel (demo, tests)."""
    lines: list[str] = []
    for block in payload.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {block['text']['text']} ==")
        elif kind == "section":
            if block.get("text"):
                lines.extend(str(block["text"]["text"]).splitlines())
            fields = [str(f["text"]).replace("\n", ": ", 1) for f in block.get("fields") or []]
            for i in range(0, len(fields), 3):
                lines.append(" | ".join(fields[i : i + 3]))
        elif kind == "actions":
            lines.append("buttons: " + ", ".join(e["text"]["text"] for e in block.get("elements") or []))
        elif kind == "context":
            lines.append(" · ".join(str(e.get("text", "")) for e in block.get("elements") or []))
    return [line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for line in lines if line.strip()]
