"""The guards every event passes before anything is claimed or read, and the account binding of
the resource `resolve` found. Nothing here trusts a value a member-account admin can choose.

`skip_reason(event, call)` (before resolve):
- source allow-list: the (source, detail-type) pairs the loaded remediations' trigger patterns
  select, plus Security Hub custom actions; never a prefix (`aws.evil`, `aws`, `awsx.s3` fail);
- failed calls change nothing;
- loop guard: Snapback is recognised only by the exact remediator role ARN of the event's account
  (`arn:<partition>:iam::<account>:role/<member_role_name>`) as the session issuer, with Snapback's
  session naming (`snapback-*`); a SourceIdentity alone never exempts (any caller allowed
  `sts:SetSourceIdentity` picks any string). The StackSets execution role (`stacksets-exec-*`, a name
  any member admin can give a role) is excepted only while it changes Snapback's own resources
  (role/snapback-*, rule/snapback-*, policy/snapback-*, the StackSet's stack instances);
- GuardDuty sample findings never act; the account must be an organization member;
- account binding: the account EventBridge stamped on the envelope must be the account the detail
  names (CloudTrail recipientAccountId, else userIdentity.accountId; resources[].accountId;
  GuardDuty accountId; ASFF AwsAccountId; Config awsAccountId), and every account in the envelope's resources must be one the event may
  name. The one documented exception: GuardDuty and Security Hub findings aggregated in the
  security account (delegated administrator, cross-Region aggregation) name member accounts; there
  the finding's own account must be an organization member.

`target_skip_reason(event, target)` (after resolve): the resource is in an account the event may name,
in the finding's own account for findings (whose own ARN and every resource's owner, where the
finding names one, must be that account too), its ARN's account field agrees, and its identifiers
fit the bounds of real AWS identifiers. A bucket has no account in its ARN: the S3 calls carry
`ExpectedBucketOwner`, so that AWS itself refuses a bucket owned by another account.

Pure functions of the parsed event, the settings and the organization directory; no I/O of their
own beyond the directory's membership lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from snapback import registry
from snapback.errors import MalformedEvent
from snapback.events import (
    GUARDDUTY_FINDING,
    MAX_ARN,
    MAX_KEY_BYTES,
    SECURITYHUB_CUSTOM_ACTION,
    SECURITYHUB_IMPORTED,
    CloudTrailCall,
    Envelope,
    is_account_id,
)
from snapback.findings import parse_asff, parse_guardduty
from snapback.outcomes import Target
from snapback.triggers import STACKSETS_ROLE

if TYPE_CHECKING:
    from snapback.config import Config


class Membership(Protocol):
    def contains(self, account: str) -> bool: ...

    def accounts(self) -> set[str]: ...


# Snapback names its member sessions `snapback-<remediation>` (clients.Clients.member_credentials).
SESSION_PREFIX = "snapback-"
SOURCE_IDENTITY_PREFIX = "snapback@"
# Snapback's own resources in member accounts, which the StackSets execution role deploys.
OWN_PREFIX = "snapback-"
STACK_INSTANCE_PREFIX = "StackSet-snapback-"
# Events Snapback reads that no trigger pattern selects: the Security Hub custom actions.
EXTRA_EVENTS: dict[str, frozenset[str]] = {"aws.securityhub": frozenset({SECURITYHUB_CUSTOM_ACTION})}
# An organization IAM Access Analyzer lives in its delegated administrator (the security account) too.
_FINDING_SOURCES = ("aws.securityhub", "aws.guardduty", "aws.access-analyzer")
_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[\w+=,.@-]{1,64})/(?P<session>[\w+=,.@-]{2,64})$"
)
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[^:]*:[^:]*:(\d{12}):")


def partition_of(region: str) -> str:
    """The partition a Region belongs to (the role ARNs of an event's account live there)."""
    for prefix, partition in (
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
    ):
        if region.startswith(prefix):
            return partition
    return "aws"


def arn_account(arn: str) -> str | None:
    """The account field of an ARN (None for ARNs without one, such as S3 buckets')."""
    match = _ARN_ACCOUNT.match(arn)
    return match.group(1) if match else None


# -- source allow-list -------------------------------------------------------------------------


def allowed_events() -> dict[str, frozenset[str] | None]:
    """source -> the detail-types the registered remediations' trigger patterns select (None: any).

    Read from the remediations registered in this process: a Lambda function imports only its own
    remediation, so its allow-list is exactly its own triggers' (loading every module would cost
    its cold start ~75 ms); the CLI routes through `registry.all_remediations()`, which loads all.
    """
    allowed: dict[str, set[str] | None] = {source: set(types) for source, types in EXTRA_EVENTS.items()}
    for remediation in list(registry._REGISTRY.values()):  # noqa: SLF001 - the loaded ones, see above
        for trigger in remediation.triggers:
            sources = trigger.pattern.get("source")
            types = trigger.pattern.get("detail-type")
            for source in sources if isinstance(sources, list) else []:
                if not isinstance(source, str):
                    continue  # a content filter ({"prefix": ...}) is never used for sources
                known = allowed.setdefault(source, set())
                if known is None or not isinstance(types, list):
                    allowed[source] = None
                else:
                    known.update(t for t in types if isinstance(t, str))
    return {source: (frozenset(types) if types is not None else None) for source, types in allowed.items()}


def _source_reason(event: Envelope) -> str | None:
    allowed = allowed_events()
    if event.source not in allowed:
        return f"untrusted source {event.source[:80]!r}: only the AWS services Snapback's triggers name are acted on"
    types = allowed[event.source]
    if types is not None and event.detail_type not in types:
        return f"source {event.source} never sends {event.detail_type[:80]!r} to Snapback"
    return None


# -- loop guard --------------------------------------------------------------------------------


def _role_session(event: Envelope, call: CloudTrailCall) -> tuple[str, str] | None:
    """(role name, session name) of an assumed-role caller whose role is in the event's own account,
    proven by both the session ARN and the session issuer's exact role ARN; None otherwise."""
    actor = call.actor
    if actor.type != "AssumedRole":
        return None
    match = _ASSUMED_ROLE.match(actor.arn or "")
    if not match or match["account"] != event.account:
        return None
    if actor.account_id is not None and actor.account_id != event.account:
        return None
    partition = partition_of(event.region) if event.region else match["partition"]
    if match["partition"] != partition:
        return None
    if actor.session_issuer_arn != f"arn:{partition}:iam::{event.account}:role/{match['role']}":
        return None
    return match["role"], match["session"]


def is_snapback(event: Envelope, call: CloudTrailCall, config: Config) -> bool:
    """The caller is Snapback's remediator role of the event's account, in a session Snapback opened."""
    session = _role_session(event, call)
    if session is None or session[0] != config.member_role_name or not session[1].startswith(SESSION_PREFIX):
        return False
    # Snapback always sets one; another value means someone else assumed the role.
    identity = call.actor.source_identity
    return identity is None or identity.startswith(SOURCE_IDENTITY_PREFIX)


def snapback_resources_changed(call: CloudTrailCall) -> list[str]:
    """The Snapback-owned resources the call changes, when it changes nothing else; [] otherwise
    (a call on any other resource, or one whose resource cannot be told, is not Snapback's)."""
    request = call.request
    service = call.event_source.split(".", 1)[0]
    named: list[tuple[str, str]] = []  # (kind, name)
    if service == "iam":
        if any(k in request for k in ("userName", "groupName", "instanceProfileName")):
            return []
        role, policy = request.get("roleName"), request.get("policyArn")
        if isinstance(role, str):
            named.append(("role", role))
        elif isinstance(policy, str):
            named.append(("policy", policy.rsplit("/", 1)[-1]))
    elif service == "events":
        rule = request.get("name") or request.get("rule")
        if isinstance(rule, str):
            named.append(("rule", rule.rsplit("/", 1)[-1]))
    elif service == "cloudformation":
        stack = request.get("stackName")
        if isinstance(stack, str):
            named.append(("stack", stack.split(":", 5)[-1].split("/")[1] if stack.startswith("arn:") and "/" in stack else stack))
    else:
        return []
    for arn in call.resource_arns:
        path = arn.split(":", 5)[-1].split("/")
        kind = path[0]
        named.append((kind, path[1] if kind == "stack" and len(path) > 1 else path[-1]))
    owned = [
        f"{kind}/{name}"
        for kind, name in named
        if (kind in ("role", "policy", "rule") and name.startswith(OWN_PREFIX))
        or (kind == "stack" and name.startswith(STACK_INSTANCE_PREFIX))
    ]
    return owned if named and len(owned) == len(named) else []


def _loop_reason(event: Envelope, call: CloudTrailCall, config: Config) -> str | None:
    if is_snapback(event, call, config):
        return "loop guard: the actor is Snapback's own remediator role of this account"
    session = _role_session(event, call)
    if session is not None and session[0].startswith(STACKSETS_ROLE):
        own = snapback_resources_changed(call)
        if own:
            return f"loop guard: the StackSets execution role deploying Snapback's own {', '.join(own)}"
    return None


# -- account binding ---------------------------------------------------------------------------


def accounts_event_may_name(event: Envelope, *, config: Config, org: Membership) -> set[str]:
    """The accounts whose resources this event may point Snapback at."""
    if _aggregated(event, config):
        return set(org.accounts())
    return {event.account}


def _aggregated(event: Envelope, config: Config) -> bool:
    # Findings aggregated in the security account (GuardDuty and Security Hub delegated administrator,
    # Security Hub cross-Region aggregation, custom actions clicked there) name member accounts; any
    # other event may only name resources of the account EventBridge says it came from.
    return event.account == config.security_account and event.source in _FINDING_SOURCES


def _finding_account_reason(event: Envelope, account: str, what: str, *, config: Config, org: Membership) -> str | None:
    if _aggregated(event, config):
        if not org.contains(account):
            return f"{what} {account} (aggregated in the security account) is not in organization {config.organization_id}"
    elif account != event.account:
        return f"event from {event.account} names a resource in {account} ({what})"
    return None


def _binding_reason(event: Envelope, call: CloudTrailCall | None, *, config: Config, org: Membership) -> str | None:
    may_name = accounts_event_may_name(event, config=config, org=org)
    for resource in event.resources:
        owner = arn_account(resource)
        if owner is not None and owner not in may_name:
            return f"event from {event.account} names a resource in {owner} ({resource[:200]})"
    if call is not None:
        named = call.recipient_account or call.actor.account_id
        if named is not None and named != event.account:
            field = "recipientAccountId" if call.recipient_account else "userIdentity.accountId"
            return f"event from {event.account} names a resource in {named} (CloudTrail {field})"
        for owner in call.resource_accounts:
            if owner not in may_name:
                return f"event from {event.account} names a resource in {owner} (CloudTrail resources[].accountId)"
        return None
    detail = event.detail
    try:
        if event.detail_type == GUARDDUTY_FINDING:
            finding = parse_guardduty(detail)
            return _finding_account_reason(event, finding.account, "GuardDuty finding accountId", config=config, org=org)
        if event.detail_type in (SECURITYHUB_IMPORTED, SECURITYHUB_CUSTOM_ACTION):
            findings = detail.get("findings")
            for raw in findings if isinstance(findings, list) else []:
                asff = parse_asff(raw)
                reason = _finding_account_reason(event, asff.account, "ASFF AwsAccountId", config=config, org=org)
                if reason:
                    return reason
            return None
    except MalformedEvent:
        return None  # resolve reports it (REJECTED)
    config_account = detail.get("awsAccountId") if isinstance(detail, Mapping) else None
    if isinstance(config_account, str) and config_account and config_account != event.account:
        return f"event from {event.account} names a resource in {config_account} (AWS Config awsAccountId)"
    return None


# -- the two entry points ----------------------------------------------------------------------


def skip_reason(event: Envelope, call: CloudTrailCall | None, *, config: Config, org: Membership) -> str | None:
    """Why this event must not be acted on (SKIPPED), or None when it passes every guard."""
    source = _source_reason(event)
    if source:
        return source
    if call is not None:
        if call.failed:
            return f"the call failed ({call.error_code}); nothing changed"
        loop = _loop_reason(event, call, config)
        if loop:
            return loop
    if event.detail_type == GUARDDUTY_FINDING:
        try:
            if parse_guardduty(event.detail).sample:
                return "GuardDuty sample finding: never acted on"
        except MalformedEvent:
            pass  # resolve reports it
    if not org.contains(event.account):
        return f"account {event.account} is not in organization {config.organization_id}"
    return _binding_reason(event, call, config=config, org=org)


def _finding_accounts(event: Envelope) -> set[str]:
    """The accounts of the findings an event carries (empty for events that are not findings)."""
    try:
        if event.detail_type == GUARDDUTY_FINDING:
            return {parse_guardduty(event.detail).account}
        if event.detail_type in (SECURITYHUB_IMPORTED, SECURITYHUB_CUSTOM_ACTION):
            findings = event.detail.get("findings")
            return {parse_asff(f).account for f in (findings if isinstance(findings, list) else [])}
        if event.source == "aws.access-analyzer" and isinstance(event.detail, Mapping):
            account = event.detail.get("accountId")
            return {account} if isinstance(account, str) and account else set()
    except MalformedEvent:
        return set()
    return set()


def _finding_owner_reason(event: Envelope) -> str | None:
    """A finding whose own ARN, or one of whose resources, belongs to an account other than the
    finding's: its resource is not that account's to change (checked after resolve, so that a finding
    Snapback does not act on anyway keeps its plainer reason)."""
    try:
        if event.detail_type == GUARDDUTY_FINDING:
            finding = parse_guardduty(event.detail)
            owner = arn_account(finding.arn)
            if owner is not None and owner != finding.account:
                return f"GuardDuty finding of account {finding.account} has the ARN of account {owner}"
        elif event.detail_type in (SECURITYHUB_IMPORTED, SECURITYHUB_CUSTOM_ACTION):
            findings = event.detail.get("findings")
            for raw in findings if isinstance(findings, list) else []:
                asff = parse_asff(raw)
                for resource in asff.resources:
                    owner = resource.owner_account
                    if owner is not None and owner != asff.account:
                        return f"finding of account {asff.account} names {resource.type} {resource.id[:200]} owned by {owner}"
    except MalformedEvent:
        return None
    return None


def target_skip_reason(event: Envelope, target: Target, *, config: Config, org: Membership) -> str | None:
    """Why the resource `resolve` found must not be acted on for this event (account binding), or None."""
    if len(target.resource_id) > MAX_ARN or len(target.resource_arn) > MAX_ARN:
        return f"malformed: the resource identifier is {max(len(target.resource_id), len(target.resource_arn))} characters long"
    if len(target.idempotency_key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return "malformed: the event's key is longer than any AWS identifier makes it"
    if not is_account_id(target.account):
        return f"malformed: the resource's account {target.account[:40]!r} is not a 12-digit account id"
    if target.account not in accounts_event_may_name(event, config=config, org=org):
        return f"event from {event.account} names a resource in {target.account}"
    findings = _finding_accounts(event)
    if findings and target.account not in findings:
        return f"the finding is about account {', '.join(sorted(findings))}, the resource is in {target.account}"
    inconsistent = _finding_owner_reason(event)
    if inconsistent:
        return inconsistent
    owner = arn_account(target.resource_arn)
    if owner is not None and owner != target.account:
        return f"resource {target.resource_arn[:200]} is owned by {owner}, not {target.account}"
    return None
