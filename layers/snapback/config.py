"""Snapback configuration: one file, `snapback.yaml`, validated once.

Configuration flows one way: snapback.yaml -> the pydantic schema (`snapback.config_schema`, at
synth time and in the CLI; errors name the field, the problem and the fix) -> `Config` -> the
Lambda environment as JSON (`Config.to_json`) -> a frozen `Config` read once per cold start
(`Config.from_env`). The Lambda path never imports YAML or pydantic: it trusts what synth validated.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from snapback.errors import ConfigError

MODES = ("enforce", "notify", "dry-run")
ENV_VAR = "SNAPBACK_CONFIG"
MEMBER_ROLE_NAME = "snapback-remediator"

_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/")


@dataclass(frozen=True)
class Exemption:
    """A central, auditable exemption. Empty selectors match anything; all given ones must match."""

    reason: str
    accounts: tuple[str, ...] = ()
    ous: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()
    remediations: tuple[str, ...] = ()
    expires: date | None = None

    def active(self, today: date) -> bool:
        return self.expires is None or today <= self.expires

    def matches(
        self,
        *,
        remediation: str,
        account: str,
        resource_arn: str,
        principal_arn: str | None,
        today: date,
        ous: tuple[str, ...] = (),
    ) -> bool:
        if not self.active(today):
            return False
        if self.ous and not set(self.ous) & set(ous):
            return False
        checks = (
            (self.remediations, remediation),
            (self.accounts, account),
            (self.resources, resource_arn),
        )
        if not all(not patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns) for patterns, value in checks):
            return False
        if not self.principals:
            return True
        # A break-glass role is named once; it matches its sessions too (assumed-role ARN -> role ARN).
        candidates = {principal_arn or ""}
        session = _ASSUMED_ROLE.match(principal_arn or "")
        if session:
            candidates.add(f"arn:{session['partition']}:iam::{session['account']}:role/{session['role']}")
        return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in self.principals)


@dataclass(frozen=True)
class ModeOverride:
    """A mode for some accounts or OUs (and optionally only some remediations), with a reason."""

    mode: str
    reason: str
    accounts: tuple[str, ...] = ()
    ous: tuple[str, ...] = ()
    remediations: tuple[str, ...] = ()

    def matches(self, remediation: str, account: str, ous: tuple[str, ...]) -> bool:
        if self.remediations and remediation not in self.remediations:
            return False
        return account in self.accounts or bool(set(self.ous) & set(ous))


@dataclass(frozen=True)
class Breaker:
    """The blast-radius breaker: enforce actions allowed per scope in a sliding window."""

    enabled: bool = True
    window_minutes: int = 60
    max_per_account: int = 10
    max_per_remediation: int = 25


@dataclass(frozen=True)
class Guardrails:
    """Optional SCPs from the management-account stack (see stacks/guardrails.py)."""

    enabled: bool = False
    target_ous: tuple[str, ...] = ()  # default: the config's target_ous
    exempt_principals: tuple[str, ...] = ()  # role ARN patterns besides Snapback's and StackSets'


@dataclass(frozen=True)
class Sweep:
    """The scheduled reconciliation sweep (CloudTrail events are best effort, so some are missed)."""

    enabled: bool = True
    schedule: str = "rate(6 hours)"  # an EventBridge schedule expression
    max_calls_per_second: float = 5.0  # AWS calls per member account, spaced evenly
    # The scheduled sweep hands each batch of this many accounts to its own invocation (fan-out), so
    # that an organization of any size is swept within the Lambda time limit.
    accounts_per_invocation: int = 25


@dataclass(frozen=True)
class Notifications:
    email: tuple[str, ...] = ()
    slack_webhook_secret: str | None = None
    # Amazon Q Developer in chat applications: both ids, after the one-time Slack authorization.
    chatbot_slack_workspace_id: str | None = None
    chatbot_slack_channel_id: str | None = None


@dataclass(frozen=True)
class Config:
    organization_id: str
    management_account: str
    security_account: str
    home_region: str
    regions: tuple[str, ...]
    target_ous: tuple[str, ...]
    default_mode: str = "enforce"
    modes: Mapping[str, str] = field(default_factory=dict)
    exemptions: tuple[Exemption, ...] = ()
    notifications: Notifications = Notifications()
    member_role_name: str = MEMBER_ROLE_NAME
    # Per-remediation settings (`remediations.<name>.options`), over the remediation's `defaults`.
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    overrides: tuple[ModeOverride, ...] = ()
    breaker: Breaker = Breaker()
    audit_retention_days: int = 400
    guardrails: Guardrails = Guardrails()
    sweep: Sweep = Sweep()
    # Names on-call knows the accounts by (shown beside the id in every notification).
    account_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def uses_ous(self) -> bool:
        """Whether deciding needs the account's OUs (an override or exemption names one)."""
        return any(o.ous for o in self.overrides) or any(e.ous for e in self.exemptions)

    def mode_for(self, remediation: str, account: str | None = None, ous: tuple[str, ...] = ()) -> str:
        """Account override, else OU override, else the remediation's mode, else the default."""
        if account is not None:
            for specific in (True, False):
                for override in self.overrides:
                    if bool(override.accounts) == specific and override.matches(remediation, account, ous):
                        return override.mode
        return self.modes.get(remediation, self.default_mode)

    def options_for(self, remediation: str, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {**(defaults or {}), **self.options.get(remediation, {})}

    def exemption_for(
        self,
        *,
        remediation: str,
        account: str,
        resource_arn: str,
        principal_arn: str | None,
        today: date | None = None,
        ous: tuple[str, ...] = (),
    ) -> Exemption | None:
        day = today or datetime.now(UTC).date()
        for exemption in self.exemptions:
            if exemption.matches(
                remediation=remediation,
                account=account,
                resource_arn=resource_arn,
                principal_arn=principal_arn,
                today=day,
                ous=ous,
            ):
                return exemption
        return None

    def member_role_arn(self, account: str, partition: str = "aws") -> str:
        return f"arn:{partition}:iam::{account}:role/{self.member_role_name}"

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["modes"] = dict(self.modes)
        options = {k: dict(v) for k, v in data.pop("options").items()}
        data["exemptions"] = [{**asdict(e), "expires": e.expires.isoformat() if e.expires else None} for e in self.exemptions]
        settings: dict[str, dict[str, Any]] = {k: {"mode": v} for k, v in self.modes.items()}
        for name, values in options.items():
            settings.setdefault(name, {})["options"] = values
        data["remediations"] = {"default_mode": data.pop("default_mode"), **settings}
        data["overrides"] = [{k: list(v) if isinstance(v, tuple) else v for k, v in o.items()} for o in data["overrides"]]
        data.pop("modes")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        raw = env.get(ENV_VAR)
        if not raw:
            raise ConfigError([f"environment variable {ENV_VAR}: missing; fix: deploy with the CDK app or export it"])
        try:
            return _build(json.loads(raw))
        except json.JSONDecodeError as err:
            raise ConfigError([f"environment variable {ENV_VAR}: not JSON ({err})"]) from err
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(
                [f"environment variable {ENV_VAR}: not a validated configuration ({err!r}); fix: redeploy"]
            ) from err

    @classmethod
    def from_dict(cls, data: Any, known_remediations: Iterable[str] | None = None) -> Config:
        """Validate `data` (snapback.yaml as parsed) with the pydantic schema; raise ConfigError listing
        every problem. Deploy time and CLI only: the Lambda reads the validated JSON (`from_env`)."""
        from snapback import registry
        from snapback.config_schema import validate

        remediations = registry.all_remediations()
        if known_remediations is not None:
            wanted = set(known_remediations)
            remediations = [r for r in remediations if r.name in wanted]
        return _build(validate(data, remediations))


def load_config(path: str | Path, known_remediations: Iterable[str] | None = None) -> Config:
    """Read and validate snapback.yaml; raise ConfigError listing every problem."""
    import yaml  # deploy-time and CLI only; the Lambda reads JSON from its environment

    file = Path(path)
    try:
        data = yaml.load(file.read_text(), Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError as err:
        raise ConfigError([f"{file}: file not found; fix: copy snapback.yaml from the repository root"]) from err
    except yaml.YAMLError as err:
        raise ConfigError([f"{file}: not valid YAML ({err}); fix: check the indentation and quoting at that line"]) from err
    return Config.from_dict(data, known_remediations)


def _loader() -> Any:
    """PyYAML's SafeLoader without implicit timestamps: `expires: 2027-13-45` would otherwise raise a
    bare ValueError inside the parser (a traceback at synth). Dates stay text and the schema checks
    them, naming the field."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _day(value: Any) -> date | None:
    return value if isinstance(value, date) or value is None else date.fromisoformat(str(value))


def _build(data: Mapping[str, Any]) -> Config:
    """A Config from already-validated data (the schema's output, or the JSON the CDK app wrote into
    the Lambda environment): no checks beyond the shape, and no pydantic (cold start)."""
    settings = dict(data.get("remediations") or {})
    default_mode = settings.pop("default_mode", "enforce")
    modes = {name: s["mode"] for name, s in settings.items() if s and s.get("mode")}
    options = {
        name: {k: v for k, v in s["options"].items() if v is not None} for name, s in settings.items() if s and s.get("options")
    }
    notifications = data.get("notifications") or {}
    guardrails = data.get("guardrails") or {}
    sweep = data.get("sweep") or {}
    breaker = data.get("breaker") or {}
    return Config(
        organization_id=data["organization_id"],
        management_account=data["management_account"],
        security_account=data["security_account"],
        home_region=data["home_region"],
        regions=_tuple(data["regions"]),
        target_ous=_tuple(data["target_ous"]),
        default_mode=default_mode,
        modes=modes,
        exemptions=tuple(
            Exemption(
                reason=e["reason"],
                accounts=_tuple(e.get("accounts")),
                ous=_tuple(e.get("ous")),
                resources=_tuple(e.get("resources")),
                principals=_tuple(e.get("principals")),
                remediations=_tuple(e.get("remediations")),
                expires=_day(e.get("expires")),
            )
            for e in data.get("exemptions") or ()
        ),
        notifications=Notifications(
            email=_tuple(notifications.get("email")),
            slack_webhook_secret=notifications.get("slack_webhook_secret"),
            chatbot_slack_workspace_id=notifications.get("chatbot_slack_workspace_id"),
            chatbot_slack_channel_id=notifications.get("chatbot_slack_channel_id"),
        ),
        member_role_name=data.get("member_role_name") or MEMBER_ROLE_NAME,
        options=options,
        overrides=tuple(
            ModeOverride(
                mode=o["mode"],
                reason=o["reason"],
                accounts=_tuple(o.get("accounts")),
                ous=_tuple(o.get("ous")),
                remediations=_tuple(o.get("remediations")),
            )
            for o in data.get("overrides") or ()
        ),
        breaker=Breaker(
            enabled=breaker.get("enabled", True),
            window_minutes=breaker.get("window_minutes", 60),
            max_per_account=breaker.get("max_per_account", 10),
            max_per_remediation=breaker.get("max_per_remediation", 25),
        ),
        audit_retention_days=data.get("audit_retention_days", 400),
        guardrails=Guardrails(
            enabled=guardrails.get("enabled", False),
            target_ous=_tuple(guardrails.get("target_ous")),
            exempt_principals=_tuple(guardrails.get("exempt_principals")),
        ),
        sweep=Sweep(
            enabled=sweep.get("enabled", True),
            schedule=sweep.get("schedule", Sweep.schedule),
            max_calls_per_second=float(sweep.get("max_calls_per_second", Sweep.max_calls_per_second)),
            accounts_per_invocation=sweep.get("accounts_per_invocation", Sweep.accounts_per_invocation),
        ),
        account_names=dict(data.get("account_names") or {}),
    )
