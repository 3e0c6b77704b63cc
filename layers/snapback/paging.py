"""Tampering is paged even when nothing is left to fix.

A detector switched off and switched back on by the time Snapback looks, or a change no member
account can undo (an account disassociated from its administrator), must still reach on-call:
`PageAlways` turns the pipeline's quiet ALREADY_COMPLIANT into NOTIFIED with the target's `page`
fact as the reason, and marks a target whose facts say `critical` CRITICAL. One `review` hook, kept in one place for the remediations that share it (the runtime is not imported).
"""

from __future__ import annotations

from snapback.outcomes import Outcome, Result, Severity, Target


class PageAlways:
    """Mixin for a `Remediation`: put it first in the bases. Its `review` hook (snapback.pipeline asks
    it about every decided outcome) pages what fixed itself and marks critical facts CRITICAL."""

    def review(self, target: Target, result: Result) -> Result:
        result = super().review(target, result)  # type: ignore[misc]
        page = target.facts.get("page")
        if page:
            if result.outcome is Outcome.ALREADY_COMPLIANT:
                if result.mode == "dry-run":
                    result.outcome, result.reason = Outcome.DRY_RUN, f"dry-run: alert recorded, nobody paged: {page}"
                else:
                    result.outcome, result.reason = Outcome.NOTIFIED, f"alert: {page}"
            elif result.outcome in (Outcome.REMEDIATED, Outcome.FAILED, Outcome.NOTIFIED, Outcome.DRY_RUN):
                result.reason = f"{result.reason}; {page}"
        if target.facts.get("critical") and result.outcome not in (Outcome.EXEMPT, Outcome.SKIPPED, Outcome.ALREADY_COMPLIANT):
            result.severity = Severity.CRITICAL  # kept: the pipeline never lowers a CRITICAL severity
        return result
