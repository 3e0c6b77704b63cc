"""`snapback redrive`: replay dead-lettered events through the handler, deleting each only on success.

A dead-letter queue holds three shapes, all understood here:
- Snapback's own FAILED record: `{"event": <envelope>, "remediation": name, "reason": ..., "audit_id": ...}`;
- a Lambda on-failure destination record: `{"requestContext": {...}, "requestPayload": <event>, ...}`;
- an EventBridge rule DLQ message: the event itself (the remediation from the rule's target id is
  not in the body, so the event is routed through the registry's patterns again).
A message is deleted only after every remediation it reaches ends in a terminal, handled outcome:
recorded and not FAILED, not retryable (`unfinished`). A replay that raises (throttled again, or a
claim still in progress elsewhere: the pipeline raises for those, never a quiet SKIPPED) or ends
unfinished stays in the queue (and becomes visible again) for the next attempt.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from snapback.errors import SnapbackError
from snapback.outcomes import Outcome, Result
from snapback.runtime import Runtime


@dataclass
class Replay:
    event: Any
    remediations: list[str] | None  # None: route through the patterns
    shape: str


def unwrap(body: str) -> Replay:
    """The event and (when known) the remediation inside one dead-lettered message body."""
    try:
        data = json.loads(body)
    except ValueError as err:
        raise SnapbackError(f"not JSON: {err}") from err
    if isinstance(data, dict) and "event" in data and "remediation" in data:
        name = data.get("remediation")
        return Replay(data["event"], [name] if isinstance(name, str) and name else None, "snapback-failed")
    if isinstance(data, dict) and "requestPayload" in data:
        function = str((data.get("requestContext") or {}).get("functionArn") or "")
        return Replay(data["requestPayload"], None, f"lambda-on-failure {function.rsplit(':', 1)[-1] or '?'}")
    return Replay(data, None, "eventbridge-dlq")


@dataclass
class Summary:
    seen: int = 0
    replayed: int = 0
    deleted: int = 0
    kept: int = 0
    handles: list[str] = field(default_factory=list, repr=False)  # kept messages, released at the end
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "replayed": self.replayed,
            "deleted": self.deleted,
            "kept": self.kept,
            "outcomes": dict(self.outcomes),
            "problems": self.problems[:20],
        }


def finished(result: Result) -> bool:
    """A terminal, handled outcome: recorded (an audit id), not FAILED, nothing left to retry."""
    if result.outcome is Outcome.FAILED or result.retryable:
        return False
    if result.outcome is Outcome.SKIPPED and result.reason.startswith("in progress"):
        return False  # (the pipeline raises for a live claim; kept as a belt for older results)
    return bool(result.audit_id)


def _messages(sqs: Any, url: str, limit: int) -> Iterator[dict[str, Any]]:
    seen = 0
    while seen < limit:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(10, limit - seen), WaitTimeSeconds=0, VisibilityTimeout=120
        ).get("Messages", [])
        if not batch:
            return
        for message in batch:
            seen += 1
            yield message


def redrive(
    runtime: Runtime,
    queue: str,
    *,
    dry_run: bool = False,
    limit: int = 10_000,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> Summary:
    sqs = runtime.clients.client("sqs")
    url = queue if queue.startswith("https://") or queue.startswith("http://") else sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    summary = Summary()
    saved, runtime.dead_letter_url = runtime.dead_letter_url, None  # a failed replay stays put, not duplicated
    try:
        _drain(runtime, sqs, url, summary, dry_run, limit, progress)
    finally:
        runtime.dead_letter_url = saved
        # Kept messages were hidden while this run read on; make them visible again for the next one.
        for handle in summary.handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    progress(f"redrive: done, {summary.seen} seen, {summary.deleted} deleted, {summary.kept} kept")
    return summary


def _drain(
    runtime: Runtime, sqs: Any, url: str, summary: Summary, dry_run: bool, limit: int, progress: Callable[[str], None]
) -> None:
    for message in _messages(sqs, url, limit):
        summary.seen += 1
        summary.handles.append(message["ReceiptHandle"])
        try:
            replay = unwrap(message["Body"])
        except SnapbackError as err:
            summary.kept += 1
            summary.problems.append(f"{message['MessageId']}: {err}")
            continue
        if dry_run:
            summary.kept += 1
            target = ", ".join(replay.remediations or ["(routed by patterns)"])
            progress(f"would replay {message['MessageId']} ({replay.shape}) -> {target}")
            continue
        try:
            results = runtime.process(replay.event, remediations=replay.remediations)
        except SnapbackError as err:  # throttled again, or similar: keep it for the next redrive
            summary.kept += 1
            summary.problems.append(f"{message['MessageId']}: {type(err).__name__}: {err}")
            continue
        summary.replayed += 1
        summary.outcomes.update(r.outcome.value for r in results)
        unfinished = [r for r in results if not finished(r)]
        if unfinished or not results:
            summary.kept += 1
            summary.problems.append(
                f"{message['MessageId']}: not finished: {'; '.join(f'{r.outcome.value}: {r.reason}' for r in unfinished)}"
            )
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            summary.handles.pop()
            summary.deleted += 1
        if summary.seen % 25 == 0:
            progress(f"redrive: {summary.seen} seen, {summary.deleted} deleted, {summary.kept} kept")
