"""Tampering is paged even when nothing is left to fix.

A detector switched off and switched back on by the time Snapback looks, or a change no member
account can undo (an account disassociated from its administrator), must still reach on-call:
`PageAlways` turns the template's quiet ALREADY_COMPLIANT into NOTIFIED with the target's `page`
fact as the reason, and marks a target whose facts say `critical` CRITICAL. One small post-step of
`_act`, kept in one place for the remediations that share it (the runtime is not imported).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from snapback.outcomes import Outcome, Result, Severity, Target

if TYPE_CHECKING:
    from snapback.runtime import Runtime


class PageAlways:
    """Mixin for a `Remediation`: put it first in the bases."""

    def _act(self, target: Target, runtime: Runtime, mode: str | None = None, approved: bool = False) -> Result:
        result: Result = super()._act(target, runtime, mode, approved)  # type: ignore[misc]
        page = target.facts.get("page")
        if target.facts.get("critical") and result.outcome not in (Outcome.EXEMPT, Outcome.SKIPPED, Outcome.ALREADY_COMPLIANT):
            result.severity = Severity.CRITICAL
        if not page:
            return result
        if result.outcome is Outcome.ALREADY_COMPLIANT:
            if (result.mode or mode) == "dry-run":
                result.outcome, result.reason = Outcome.DRY_RUN, f"dry-run: alert recorded, nobody paged: {page}"
            else:
                result.outcome, result.reason = Outcome.NOTIFIED, f"alert: {page}"
        elif result.outcome in (Outcome.REMEDIATED, Outcome.FAILED, Outcome.NOTIFIED, Outcome.DRY_RUN):
            result.reason = f"{result.reason}; {page}"
        if target.facts.get("critical") and result.outcome is not Outcome.EXEMPT:
            result.severity = Severity.CRITICAL
        return result
