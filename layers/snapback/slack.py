"""Slack: Block Kit messages on-call can act on in ten seconds, posted to an incoming webhook.

Each message leads with what on-call must do: "Action needed" (FAILED, NOTIFIED, breaker open),
"Fixed, nothing to do" (REMEDIATED), "Would do" (notify and dry-run); its colour follows the outcome,
not the severity; the next steps are the real commands with the real audit id; and the state is a
before→after of only what changed, each value whole or pointed to (never cut in the middle).
Rendering is pure (golden files from every remediation's real fixtures); posting honours HTTP 429
`Retry-After`, retries 5xx and network errors, and raises `RetryableError` when it gives up, so
that the notifier's queue retries and finally dead-letters the message. Nothing secret is posted:
keys that name policy documents, secrets, tokens or passwords are redacted by their whole name,
and values that look like credentials are masked wherever they hide.
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
# Redaction by whole key name (case, `_` and `-` ignored), never by substring: `BlockPublicPolicy` is
# a setting on-call must see, `Policy` is a document that must not reach a channel.
REDACTED_KEYS = frozenset(
    {
        "policy",
        "bucketpolicy",
        "document",
        "policydocument",
        "revokepolicy",
        "previousrevokepolicy",
        "secret",
        "secretstring",
        "secretbinary",
        "secretaccesskey",
        "awssecretaccesskey",
        "token",
        "sessiontoken",
        "awssessiontoken",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "password",
        "newpassword",
        "oldpassword",
        "privatekey",
        "credentials",
        "webhook",
        "webhookurl",
        "clientsecret",
        "apikey",
        "authorization",
    }
)
# Keys ending in these are documents or secrets whatever their prefix (AssumeRolePolicyDocument...).
REDACTED_SUFFIXES = ("policydocument", "secretaccesskey", "sessiontoken", "password", "privatekey", "clientsecret")
_SECRET_VALUE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12}([A-Z0-9]{4})\b")
_WEBHOOK = re.compile(r"https://hooks\.slack\.com/\S+")


def redacted_key(key: Any) -> bool:
    name = re.sub(r"[^a-z0-9]", "", str(key).lower())
    return name in REDACTED_KEYS or name.endswith(REDACTED_SUFFIXES)


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
    """A copy of `value` without policy documents, secrets or tokens (by whole key name); depth-limited."""
    if depth > 8:
        return "…"
    if isinstance(value, Mapping):
        return {str(k): "[redacted]" if redacted_key(k) else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value[:50]] + (["…"] if len(value) > 50 else [])
    if isinstance(value, str):
        return scrub(value)
    return value


def _compact(value: Any, limit: int = 600) -> str:
    if value in (None, {}, []):
        return "—"
    return truncate(json.dumps(redact(value), sort_keys=True, default=str), limit)


# -- what on-call must do ------------------------------------------------------------------------

_ABSENT = "(none)"


def changes(before: Any, after: Any, path: str = "", depth: int = 0) -> list[dict[str, Any]]:
    """Only what changed, leaf by leaf (mappings walked, lists compared whole), redacted."""
    if isinstance(before, Mapping) and isinstance(after, Mapping) and depth < 8:
        out: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}.{key}" if path else str(key)
            if redacted_key(key):
                if before.get(key) != after.get(key):
                    out.append({"path": where, "before": "[redacted]", "after": "[redacted]"})
                continue
            out += changes(before.get(key, _ABSENT), after.get(key, _ABSENT), where, depth + 1)
        return out
    if before == after:
        return []
    return [{"path": path or "(value)", "before": redact(before), "after": redact(after)}]


def leaves(value: Any, path: str = "", depth: int = 0) -> list[dict[str, Any]]:
    """The state found, leaf by leaf (for outcomes that changed nothing), redacted."""
    if isinstance(value, Mapping) and value and depth < 8:
        out: list[dict[str, Any]] = []
        for key in sorted(value, key=str):
            where = f"{path}.{key}" if path else str(key)
            out += [{"path": where, "value": "[redacted]"}] if redacted_key(key) else leaves(value[key], where, depth + 1)
        return out
    return [] if value is None and not path else [{"path": path or "(value)", "value": redact(value)}]


def diff_of(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What changed: the message's own list, else computed (only when there is an after state)."""
    if message.get("changes") is not None:
        return list(message["changes"])
    if message.get("after") is None:
        return []
    return changes(message.get("before"), message.get("after"))


def state_lines(items: Sequence[Mapping[str, Any]], limit: int = 1500) -> list[str]:
    lines: list[str] = []
    used = 0
    for n, item in enumerate(items):
        line = f"• `{escape(str(item.get('path')))}`: {shown(item.get('value'))}"
        if used + len(line) + 1 > limit:
            lines.append(f"… and {len(items) - n} more: `snapback audit --json` shows the whole state")
            break
        lines.append(line)
        used += len(line) + 1
    return lines


def shown(value: Any, limit: int = 240) -> str:
    """One value whole, or a pointer to it, never cut in the middle."""
    if value == _ABSENT or value is None:
        return _ABSENT
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    if len(text) <= limit:
        return f"`{escape(text)}`"
    kind = "list" if isinstance(value, list) else "object" if isinstance(value, Mapping) else "text"
    return f"({kind} of {len(text)} characters: `snapback audit --json` shows it)"


def change_lines(items: Sequence[Mapping[str, Any]], limit: int = TEXT_LIMIT - 200) -> list[str]:
    lines: list[str] = []
    used = 0
    for n, item in enumerate(items):
        line = f"• `{escape(str(item.get('path')))}`: {shown(item.get('before'))} → {shown(item.get('after'))}"
        if used + len(line) + 1 > limit:
            lines.append(f"… and {len(items) - n} more change(s): `snapback audit --json` shows every one")
            break
        lines.append(line)
        used += len(line) + 1
    return lines


def breaker_open(message: Mapping[str, Any]) -> bool:
    return "breaker" in str(message.get("mode") or "")


@dataclass(frozen=True)
class View:
    headline: str  # outcome first: what on-call must do
    colour: str
    emoji: str
    done_label: str  # how the steps are introduced: done, or would be done
    action_needed: bool


VIEWS = {
    "FAILED": View("Action needed: not fixed", "#D40E0D", ":red_circle:", "Tried", True),
    "NOTIFIED": View("Action needed: approve or exempt", "#E8912D", ":large_orange_circle:", "Would do", True),
    "BREAKER": View("Action needed: breaker open, not fixed", "#D40E0D", ":rotating_light:", "Would do", True),
    # NOTIFIED with nothing Snapback could do (alert-only remediations, e.g. root activity).
    "ALERT": View("Action needed: check this activity", "#E8912D", ":rotating_light:", "Would do", True),
    "REMEDIATED": View("Fixed, nothing to do", "#2EB67D", ":white_check_mark:", "Done", False),
    "DRY_RUN": View("Would do (dry run), nothing changed", "#1D9BD1", ":test_tube:", "Would do", False),
    "EXEMPT": View("Exempt, left as is", "#9E9EA6", ":white_circle:", "Would do", False),
    "ALREADY_COMPLIANT": View("Already compliant, nothing to do", "#9E9EA6", ":white_circle:", "Done", False),
    "SKIPPED": View("Skipped, nothing to do", "#9E9EA6", ":white_circle:", "Done", False),
    "REJECTED": View("Rejected input, nothing done", "#9E9EA6", ":white_circle:", "Done", False),
}
_OTHER = View("Snapback", "#9E9EA6", ":white_circle:", "Done", False)


def view(message: Mapping[str, Any]) -> View:
    outcome = str(message.get("outcome") or "")
    if outcome == "NOTIFIED" and breaker_open(message):
        return VIEWS["BREAKER"]
    if outcome == "NOTIFIED" and not message.get("actions"):
        return VIEWS["ALERT"]
    return VIEWS.get(outcome, _OTHER)


def problem(message: Mapping[str, Any]) -> str:
    """The remediation's summary as the problem found: a trailing `: <what Snapback does>` is kept only
    when it was done (no "isolated" in the header of an instance that was not isolated)."""
    summary = str(message.get("summary") or message.get("remediation") or "")
    if message.get("outcome") != "REMEDIATED":
        summary = re.sub(r":\s*[a-z][\w ]*$", "", summary)
    return summary


def account_label(where: Mapping[str, Any]) -> str:
    account = str(where.get("account") or "-")
    name = where.get("account_name")
    return f"{name} ({account})" if name else account


_SCOPE = re.compile(r"snapback breaker reset ((?:account|remediation)#[\w-]+)")


def next_steps(message: Mapping[str, Any]) -> list[str]:
    """The commands on-call runs, with the real audit id (and the real breaker scope)."""
    outcome = str(message.get("outcome") or "")
    audit = message.get("audit_id")
    scope = _SCOPE.search(str(message.get("reason") or ""))
    steps: list[str] = []
    if outcome == "REMEDIATED":
        if message.get("undo"):
            steps.append(f"If the change was intended, undo: `{message['undo']}`")
    elif outcome == "NOTIFIED" and breaker_open(message):
        steps.append("Check what tripped it: `snapback breaker` and `snapback audit --since 1h`")
        steps.append(f"When it is safe: `snapback breaker reset {scope.group(1) if scope else 'SCOPE'}`")
        if audit:
            steps.append(f"Apply this one: `snapback approve {audit}`")
    elif outcome == "NOTIFIED" and not message.get("actions"):
        steps.append("Check it was expected (who, from where, when: below); if not, treat it as an incident")
        steps.append("If it is expected and recurs: add an exemption with its reason to snapback.yaml")
    elif outcome == "NOTIFIED":
        if audit:
            steps.append(f"Apply: `snapback approve {audit}` (or the Security Hub action “Snapback: remediate”)")
        steps.append("Or leave it: add an exemption with its reason to snapback.yaml")
    elif outcome == "FAILED":
        steps.append("The resource is still as found: fix it by hand, or fix the cause below")
        steps.append("Then replay the event: `snapback redrive` (it was dead-lettered)")
    elif outcome == "DRY_RUN":
        steps.append("Nothing to do now; to act on these, set the remediation's mode to notify or enforce")
    return steps


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
    """One message for one notification (see snapback.notify.build_message): outcome first, coloured by
    outcome, the commands to run, and a before→after of only what changed."""
    facts = message.get("what_happened") or {}
    where = message.get("where") or {}
    severity = str(message.get("severity") or "MEDIUM")
    outcome = str(message.get("outcome") or "?")
    shape = view(message)
    title = f"{shape.emoji} {shape.headline} · {problem(message)}"
    reason = escape(scrub(str(message.get("reason") or "")))
    fields = [
        ("Account", account_label(where)),
        ("Region", where.get("region")),
        ("Resource", where.get("resource")),
        ("Who", facts.get("actor")),
        ("Source IP", facts.get("source_ip")),
        ("When", facts.get("event_time")),
        ("Trigger", facts.get("event_name")),
        ("Mode", message.get("mode")),
        ("Outcome", f"{outcome} ({severity})"),
        ("Remediation", message.get("remediation")),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(scrub(title), HEADER_LIMIT), "emoji": True}},
    ]
    steps = next_steps(message)
    if steps:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate("\n".join(f"*→* {s}" for s in steps), TEXT_LIMIT)}}
        )
    blocks += [
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
    text = f"*Why:* {reason}" if reason else ""
    if did:
        text += f"\n*{shape.done_label}:*\n" + "\n".join(f"• {escape(scrub(str(a)))}" for a in did)
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text.strip(), TEXT_LIMIT)}})
    diff = diff_of(message)
    if diff:
        lines = ["*Changed (before → after):*", *change_lines(diff)]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    elif outcome != "REMEDIATED" and message.get("before") not in (None, {}, []):
        found = state_lines(leaves(message.get("before")))
        if found:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(["*Found (unchanged):*", *found])}})
    if message.get("truncated"):
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(escape(str(message["truncated"])), TEXT_LIMIT)}]}
        )
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
    fallback = (
        f"[{severity}] {outcome}: {shape.headline}: {message.get('remediation')} on {where.get('resource')} "
        f"in {account_label(where)}"
    )
    if steps:
        fallback += f" — {steps[0].replace('`', '')}"
    return {
        "text": truncate(scrub(fallback), FALLBACK_LIMIT),
        "attachments": [
            {"color": shape.colour, "fallback": truncate(scrub(fallback), FALLBACK_LIMIT), "blocks": blocks[:MAX_BLOCKS]}
        ],
    }


def blocks_of(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The blocks of a message, top level or inside its coloured attachment."""
    out = list(payload.get("blocks") or [])
    for attachment in payload.get("attachments") or []:
        out += list(attachment.get("blocks") or [])
    return out


def render_digest(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One message for a burst: how many need action first, then one line per outcome, those needing
    action on top (within the limits)."""
    counts: dict[str, int] = {}
    for m in messages:
        counts[str(m.get("outcome"))] = counts.get(str(m.get("outcome")), 0) + 1
    ordered = sorted(messages, key=lambda m: not view(m).action_needed)
    needed = sum(1 for m in messages if view(m).action_needed)
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
    head = f"Action needed on {needed} of {len(messages)}" if needed else f"Nothing to do: {len(messages)} outcomes"
    lines = [
        f"• {escape(view(m).headline)} · {escape(str(m.get('outcome')))} `{escape(str(m.get('remediation')))}` "
        f"{escape(scrub(str((m.get('where') or {}).get('resource'))))} in {escape(account_label(m.get('where') or {}))}"
        + (f" — `{escape(next_steps(m)[0].split('`')[1])}`" if next_steps(m) and "`" in next_steps(m)[0] else "")
        for m in ordered
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(f"Snapback: {head} ({summary})", HEADER_LIMIT), "emoji": True},
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
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "more outcomes: see `snapback audit`"}]}
        ]
    text = truncate(f"Snapback: {head} ({summary})", FALLBACK_LIMIT)
    colour = VIEWS["FAILED"].colour if needed else VIEWS["REMEDIATED"].colour
    return {"text": text, "attachments": [{"color": colour, "fallback": text, "blocks": blocks}]}


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
    for block in blocks_of(payload):
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
