"""The one small exception tree of Snapback.

Retryable errors propagate so that Lambda and EventBridge retry (and finally dead-letter) the
event; permanent errors become a FAILED outcome that on-call sees; malformed input becomes a
REJECTED outcome with its reason.
"""

from __future__ import annotations


class SnapbackError(Exception):
    """Base of every error Snapback raises on purpose."""


class ConfigError(SnapbackError):
    """snapback.yaml (or the settings derived from it) is invalid; each problem names its field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid Snapback configuration:\n  - " + "\n  - ".join(problems))


class MalformedEvent(SnapbackError):
    """The input is not an event Snapback can parse; the message is the reason."""


class NotApplicable(SnapbackError):
    """The event parsed, but this remediation has nothing to do with it (SKIPPED)."""

    def __init__(self, reason: str, target: object | None = None):
        super().__init__(reason)
        self.target = target  # the resource it named, when known, for the audit record


class RetryableError(SnapbackError):
    """Throttling, 5xx, timeouts: raise so that the platform retries the event."""


class PermanentError(SnapbackError):
    """AccessDenied, validation and similar: retrying will not help (FAILED)."""
