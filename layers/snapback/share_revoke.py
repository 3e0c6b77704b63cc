"""The common path of the "shared outside the organization" revocations (AMI launch permissions, EBS
snapshot create-volume permissions, RDS snapshot restore attributes): one resource, a list of
grantees, and a call that adds or removes some of them.

A grant is `all` (public) or an account id (or, for AMIs, an organization or OU ARN). What is
revoked is exactly the grants that (1) reach outside the organization (`all` always; an account
only if `not in_org(account)`) and (2) the trigger named: the grants the CloudTrail call added, or
the principals an IAM Access Analyzer finding reports; a sweep-found violation names every outside
grant of the resource. Grants to accounts of the organization are never touched. Undo adds back
exactly the revoked grants.

Subclasses provide the service specifics: `requested` (the grants a CloudTrail call added),
`locate` (the Target of a resource named by id or ARN), `read_grants`, `change_grants` and
`owned` (the account's own resources in a Region, for the sweep).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, classify, error_code
from snapback.errors import MalformedEvent, NotApplicable, PermanentError
from snapback.events import CloudTrailCall, Envelope
from snapback.outcomes import Target
from snapback.remediation import Remediation
from snapback.sharing import ACCESS_ANALYZER_FINDING, live_finding_problem, outside_grants, parse_access_analyzer


class ShareRevoke(Remediation):
    """Revoke the grants of one resource that reach outside the organization; undo re-adds them."""

    # Words for messages ("EBS snapshot"), the CloudTrail calls that add grants, and the Access
    # Analyzer resource types this remediation answers.
    noun: ClassVar[str]
    event_names: ClassVar[tuple[str, ...]]
    event_source: ClassVar[str]
    analyzer_types: ClassVar[tuple[str, ...]] = ()
    # The value that means "everyone" in this service's grant list ("all" for EC2 and RDS).
    everyone: ClassVar[str] = "all"

    # -- service hooks -------------------------------------------------------------------------
    @abstractmethod
    def requested(self, call: CloudTrailCall) -> tuple[str, list[str]]:
        """(resource id, grants the call added); raise NotApplicable when it adds none."""

    @abstractmethod
    def locate(self, account: str, region: str, resource: str) -> Target:
        """The Target for a resource named by id or ARN (without idempotency key or facts)."""

    @abstractmethod
    def read_grants(self, session: MemberSession, target: Target) -> list[str]: ...

    @abstractmethod
    def change_grants(self, session: MemberSession, target: Target, grants: list[str], *, add: bool) -> None: ...

    @abstractmethod
    def owned(self, session: MemberSession, account: str, region: str) -> Iterable[str]:
        """Ids of the account's own shareable resources in the Region (for the sweep)."""

    # -- resolve -------------------------------------------------------------------------------
    def resolve(self, event: Envelope, call: CloudTrailCall | None) -> Target:
        if call is not None:
            return self._resolve_call(event, call)
        if event.detail_type == ACCESS_ANALYZER_FINDING:
            return self._resolve_analyzer(event)
        raise NotApplicable(f"{event.detail_type} is not an event this remediation reads")

    def _resolve_call(self, event: Envelope, call: CloudTrailCall) -> Target:
        if call.event_name not in self.event_names or call.event_source != self.event_source:
            raise NotApplicable(f"{call.event_name} does not share a {self.noun}")
        resource, added = self.requested(call)
        target = self.locate(event.account, call.region or event.region, resource)
        target = replace(
            target,
            idempotency_key=call.idempotency_key(f"share#{target.resource_arn}#{call.event_time}"),
            principal_arn=call.actor.arn,
            facts={},
        )
        outside = outside_grants(added, self.in_org)
        target.facts.update(
            {
                "summary": f"{call.event_name}: {self.noun} {target.resource_id} shared with {', '.join(added) or 'nobody'}",
                "requested": outside,
                "added": sorted(added),
                **call.facts(),
            }
        )
        if not outside:
            raise NotApplicable(f"every grant the call added ({', '.join(added) or 'none'}) is inside the organization", target)
        return target

    def _resolve_analyzer(self, event: Envelope) -> Target:
        finding = parse_access_analyzer(event.detail, event.account, event.region)
        if finding.resource_type not in self.analyzer_types:
            raise NotApplicable(f"Access Analyzer finding on a {finding.resource_type}, not a {self.noun}")
        target = replace(
            self.locate(finding.account, finding.region, finding.resource), idempotency_key=finding.idempotency_key, facts={}
        )
        grants = [self.everyone if g in ("*", "all") else g for g in finding.grants()]
        outside = outside_grants(grants, self.in_org)
        target.facts.update(
            {
                "summary": f"IAM Access Analyzer: {self.noun} {target.resource_id} shared with {', '.join(grants) or 'unknown'}",
                "requested": outside,
                **finding.facts(),
            }
        )
        problem = live_finding_problem(finding)
        if problem:
            raise NotApplicable(problem, target)
        if not outside:
            raise NotApplicable(f"the finding names only grantees inside the organization ({', '.join(grants)})", target)
        return target

    # -- sweep ---------------------------------------------------------------------------------
    def sweep(self, session: MemberSession, account: str, region: str, *, regions: Collection[str]) -> Iterable[Target]:
        for resource in self.owned(session, account, region):
            target = self.locate(account, region, resource)
            try:
                outside = outside_grants(self.read_grants(session, target), self.in_org)
            except ClientError as err:
                if error_code(err) in self.gone_codes:
                    continue  # deleted between the listing and the read
                raise
            if outside:
                yield replace(
                    target,
                    idempotency_key=self.sweep_key(account, region, target.resource_arn),
                    facts={
                        "summary": f"{self.noun} {target.resource_id} is shared outside the organization: {', '.join(outside)}"
                    },
                )

    # -- inspect / plan / apply / undo ---------------------------------------------------------
    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        current = sorted(self.read_grants(session, target))
        outside = outside_grants(current, self.in_org)
        requested = target.facts.get("requested")
        # From an event, only what the event added (a grant from before the event is not its doing,
        # and the sweep reports it); from the sweep, every grant reaching outside the organization.
        offending = [g for g in outside if requested is None or g in requested]
        return {"grants": current, "outside": outside, "offending": offending}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return not state.get("offending")

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        grants = list(state.get("offending") or target.facts.get("requested") or [])
        what = ", ".join(grants) if grants else "every grant outside the organization"
        return [f"remove the share of {self.noun} {target.resource_id} with {what}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        self.change_grants(session, target, list(state["offending"]), add=False)
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"revoked": list(before["offending"])}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        grants = [str(g) for g in undo_data.get("revoked") or []]
        if not grants:
            return ["nothing was revoked: nothing to restore"]
        try:
            present = set(self.read_grants(session, target))
            missing = [g for g in grants if g not in present]
            if missing:
                self.change_grants(session, target, missing, add=True)
        except ClientError as err:
            if error_code(err) in self.gone_codes:
                raise PermanentError(f"{self.noun} {target.resource_id} no longer exists; nothing to restore") from err
            raise classify(err) from err
        if not missing:
            return [f"{self.noun} {target.resource_id} is already shared with {', '.join(grants)}: nothing to restore"]
        return [f"{self.noun} {target.resource_id} shared again with {', '.join(missing)}"]


def arn_tail(resource: str, marker: str) -> str:
    """The id after `marker` in an ARN (`snapshot/`, `image/`, `:snapshot:`), or the value itself when it is no ARN."""
    if not resource.startswith("arn:"):
        return resource
    if marker not in resource:
        raise MalformedEvent(f"{resource!r} is not an ARN of the expected kind ({marker.strip('/:')})")
    return resource.split(marker, 1)[1]


def arn_account_region(resource: str, account: str, region: str) -> tuple[str, str]:
    """(account, region) of an ARN, each falling back to the given value where the ARN leaves it empty."""
    if not resource.startswith("arn:"):
        return account, region
    parts = resource.split(":", 5)
    if len(parts) != 6:
        raise MalformedEvent(f"not an ARN: {resource!r}")
    return parts[4] or account, parts[3] or region
