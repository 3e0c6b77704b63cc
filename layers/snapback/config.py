"""Snapback configuration: one file, `snapback.yaml`, validated once.

Configuration flows one way: snapback.yaml -> `Config` (validated at synth time, with errors that
name the field and the fix) -> the Lambda environment as JSON (`Config.to_json`) -> a frozen
`Config` read once per cold start (`Config.from_env`). The Lambda path never imports YAML.
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

_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_OU = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
# The sweep walks every account and Region: at most hourly (a rate in hours or days, or a cron).
_SCHEDULE = re.compile(r"^(rate\(([1-9]\d*) (hour|hours|day|days)\)|cron\((\S+ ){5}\S+\))$")


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
            return cls.from_dict(json.loads(raw))
        except json.JSONDecodeError as err:
            raise ConfigError([f"environment variable {ENV_VAR}: not JSON ({err})"]) from err

    @classmethod
    def from_dict(cls, data: Any, known_remediations: Iterable[str] | None = None) -> Config:
        return _Validator(known_remediations).config(data)


def load_config(path: str | Path, known_remediations: Iterable[str] | None = None) -> Config:
    """Read and validate snapback.yaml; raise ConfigError listing every problem."""
    import yaml  # deploy-time and CLI only; the Lambda reads JSON from its environment

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text())
    except FileNotFoundError as err:
        raise ConfigError([f"{file}: file not found; fix: copy snapback.yaml from the repository root"]) from err
    except yaml.YAMLError as err:
        raise ConfigError([f"{file}: not valid YAML ({err})"]) from err
    return Config.from_dict(data, known_remediations)


class _Validator:
    """Collects every problem instead of stopping at the first, so one synth shows them all."""

    def __init__(self, known_remediations: Iterable[str] | None):
        self.known = sorted(known_remediations) if known_remediations is not None else None
        self.problems: list[str] = []

    def fail(self, where: str, problem: str, fix: str) -> None:
        self.problems.append(f"field `{where}`: {problem}; fix: {fix}")

    def string(self, data: Mapping[str, Any], key: str, pattern: re.Pattern[str], fix: str, where: str = "") -> str:
        path = f"{where}{key}"
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value).zfill(12) if pattern is _ACCOUNT else str(value)
        if not isinstance(value, str) or not pattern.match(value):
            shown = "missing" if value is None else f"got {value!r}"
            self.fail(path, f"invalid ({shown})", fix)
            return ""
        return value

    def string_list(
        self, data: Mapping[str, Any], key: str, pattern: re.Pattern[str], fix: str, required: bool, where: str = ""
    ) -> tuple[str, ...]:
        value = data.get(key, [] if not required else None)
        if not isinstance(value, list) or (required and not value):
            self.fail(f"{where}{key}", "must be a non-empty list" if required else "must be a list", fix)
            return ()
        out = []
        for i, item in enumerate(value):
            text = str(item) if isinstance(item, (str, int)) else ""
            if not pattern.match(text):
                self.fail(f"{where}{key}[{i}]", f"invalid ({item!r})", fix)
            out.append(text)
        return tuple(out)

    def config(self, data: Any) -> Config:
        if not isinstance(data, Mapping):
            raise ConfigError(["the file must be a YAML mapping at the top level; fix: start from the sample snapback.yaml"])
        account_fix = "a 12-digit AWS account id, quoted"
        org = self.string(
            data, "organization_id", _ORG, "the id from `aws organizations describe-organization`, like o-a1b2c3d4e5"
        )
        mgmt = self.string(data, "management_account", _ACCOUNT, account_fix)
        sec = self.string(data, "security_account", _ACCOUNT, account_fix)
        home = self.string(data, "home_region", _REGION, "a Region name such as us-east-1")
        regions = self.string_list(data, "regions", _REGION, "list the enabled Regions, e.g. [us-east-1, eu-west-1]", True)
        ous = self.string_list(data, "target_ous", _OU, "OU ids (ou-xxxx-yyyyyyyy) or the root id (r-xxxx)", True)
        if home and regions and home not in regions:
            self.fail("regions", f"must include home_region {home!r}", f"add {home} to regions")
        if regions and "us-east-1" not in regions:
            self.fail("regions", "must include us-east-1 (IAM, STS and Organizations events exist only there)", "add us-east-1")
        if sec and sec == mgmt:
            self.fail("security_account", "must differ from management_account", "delegate administration to a security account")
        default_mode, modes, options = self.remediations(data.get("remediations", {}))
        exemptions = self.exemptions(data.get("exemptions", []))
        overrides = self.overrides(data.get("overrides", []))
        breaker = self.breaker(data.get("breaker", {}))
        guardrails = self.guardrails(data.get("guardrails", {}))
        sweep = self.sweep(data.get("sweep", {}))
        retention = data.get("audit_retention_days", 400)
        if isinstance(retention, bool) or not isinstance(retention, int) or not 1 <= retention <= 3650:
            self.fail("audit_retention_days", f"invalid ({retention!r})", "a number of days between 1 and 3650")
            retention = 400
        notifications = self.notifications(data.get("notifications", {}))
        role = data.get("member_role_name", MEMBER_ROLE_NAME)
        if not isinstance(role, str) or not re.match(r"^[\w+=,.@-]{1,64}$", role):
            self.fail("member_role_name", f"invalid ({role!r})", "an IAM role name")
        unknown = sorted(
            set(data)
            - {
                "organization_id",
                "management_account",
                "security_account",
                "home_region",
                "regions",
                "target_ous",
                "remediations",
                "exemptions",
                "notifications",
                "member_role_name",
                "overrides",
                "breaker",
                "audit_retention_days",
                "guardrails",
                "sweep",
            }
        )
        for key in unknown:
            self.fail(key, "unknown setting", "remove it or check its spelling against the README's config reference")
        if self.problems:
            raise ConfigError(self.problems)
        return Config(
            organization_id=org,
            management_account=mgmt,
            security_account=sec,
            home_region=home,
            regions=regions,
            target_ous=ous,
            default_mode=default_mode,
            modes=modes,
            exemptions=exemptions,
            notifications=notifications,
            member_role_name=role,
            options=options,
            overrides=overrides,
            breaker=breaker,
            audit_retention_days=retention,
            guardrails=guardrails,
            sweep=sweep,
        )

    def remediations(self, data: Any) -> tuple[str, dict[str, str], dict[str, dict[str, Any]]]:
        if not isinstance(data, Mapping):
            self.fail("remediations", "must be a mapping", "e.g. {default_mode: enforce, s3_block_public_access: {mode: notify}}")
            return "enforce", {}, {}
        default_mode = data.get("default_mode", "enforce")
        if default_mode not in MODES:
            self.fail("remediations.default_mode", f"invalid ({default_mode!r})", f"one of {', '.join(MODES)}")
        modes: dict[str, str] = {}
        options: dict[str, dict[str, Any]] = {}
        for name, settings in data.items():
            if name == "default_mode":
                continue
            where = f"remediations.{name}"
            if self.known is not None and name not in self.known:
                self.fail(where, "no such remediation", f"one of {', '.join(self.known)}")
                continue
            if not isinstance(settings, Mapping) or not set(settings) <= {"mode", "options"}:
                self.fail(where, "must be a mapping with `mode` and/or `options`", "e.g. {mode: notify}")
                continue
            mode = settings.get("mode")
            if mode is not None and mode not in MODES:
                self.fail(f"{where}.mode", f"invalid ({mode!r})", f"one of {', '.join(MODES)}")
            elif mode is not None:
                modes[str(name)] = mode
            extra = settings.get("options")
            if extra is not None and not isinstance(extra, Mapping):
                self.fail(f"{where}.options", "must be a mapping", "e.g. {admin_ports: [22, 3389]}")
            elif extra:
                options[str(name)] = dict(extra)
        return default_mode if default_mode in MODES else "enforce", modes, options

    def exemptions(self, data: Any) -> tuple[Exemption, ...]:
        if not isinstance(data, list):
            self.fail("exemptions", "must be a list", "a list of {reason, accounts, resources, principals, expires}")
            return ()
        out = []
        for i, item in enumerate(data):
            where = f"exemptions[{i}]"
            if not isinstance(item, Mapping) or not str(item.get("reason") or "").strip():
                self.fail(f"{where}.reason", "every exemption needs a reason", "say why, and who approved it")
                continue
            lists = {}
            for key in ("accounts", "ous", "resources", "principals", "remediations"):
                value = item.get(key, [])
                if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
                    self.fail(f"{where}.{key}", "must be a list of strings", "e.g. ['arn:aws:s3:::public-site-*']")
                    value = []
                lists[key] = tuple(str(v) for v in value)
            if not any(lists.values()):
                self.fail(where, "selects everything", "name accounts, ous, resources, principals or remediations")
            for j, ou in enumerate(lists["ous"]):
                if not _OU.match(ou):
                    self.fail(f"{where}.ous[{j}]", f"invalid ({ou!r})", "an OU id (ou-xxxx-yyyyyyyy) or the root id")
            for j, account in enumerate(lists["accounts"]):
                if not _ACCOUNT.match(account):
                    self.fail(f"{where}.accounts[{j}]", f"invalid ({account!r})", "a 12-digit account id, quoted")
            if self.known is not None:
                for name in lists["remediations"]:
                    if name not in self.known:
                        self.fail(f"{where}.remediations", f"no such remediation {name!r}", f"one of {', '.join(self.known)}")
            expires = item.get("expires")
            if expires is not None and not isinstance(expires, date):
                try:
                    expires = date.fromisoformat(str(expires))
                except ValueError:
                    self.fail(f"{where}.expires", f"invalid date ({expires!r})", "YYYY-MM-DD")
                    expires = None
            out.append(Exemption(reason=str(item["reason"]), expires=expires, **lists))
        return tuple(out)

    def overrides(self, data: Any) -> tuple[ModeOverride, ...]:
        if not isinstance(data, list):
            self.fail("overrides", "must be a list", "a list of {mode, reason, accounts and/or ous, remediations}")
            return ()
        out = []
        for i, item in enumerate(data):
            where = f"overrides[{i}]"
            if not isinstance(item, Mapping):
                self.fail(where, "must be a mapping", "e.g. {ous: [ou-ab12-cdef3456], mode: notify, reason: prod}")
                continue
            unknown = sorted(set(item) - {"mode", "reason", "accounts", "ous", "remediations"})
            if unknown:
                self.fail(f"{where}.{unknown[0]}", "unknown setting", "use mode, reason, accounts, ous, remediations")
            mode = item.get("mode")
            if mode not in MODES:
                self.fail(f"{where}.mode", f"invalid ({mode!r})", f"one of {', '.join(MODES)}")
            if not str(item.get("reason") or "").strip():
                self.fail(f"{where}.reason", "every override needs a reason", "say why this scope differs")
            lists: dict[str, tuple[str, ...]] = {}
            for key, pattern, fix in (
                ("accounts", _ACCOUNT, "12-digit account ids, quoted"),
                ("ous", _OU, "OU ids (ou-xxxx-yyyyyyyy) or the root id"),
            ):
                value = item.get(key, [])
                if not isinstance(value, list):
                    self.fail(f"{where}.{key}", "must be a list", fix)
                    value = []
                for j, v in enumerate(value):
                    if not pattern.match(str(v)):
                        self.fail(f"{where}.{key}[{j}]", f"invalid ({v!r})", fix)
                lists[key] = tuple(str(v) for v in value)
            if not lists["accounts"] and not lists["ous"]:
                self.fail(where, "names no accounts or ous", "an override applies to accounts or OUs")
            names = item.get("remediations", [])
            if not isinstance(names, list):
                self.fail(f"{where}.remediations", "must be a list", "remediation names")
                names = []
            if self.known is not None:
                for name in names:
                    if name not in self.known:
                        self.fail(f"{where}.remediations", f"no such remediation {name!r}", f"one of {', '.join(self.known)}")
            if mode in MODES:
                out.append(
                    ModeOverride(
                        mode=mode, reason=str(item.get("reason") or ""), remediations=tuple(str(n) for n in names), **lists
                    )
                )
        return tuple(out)

    def guardrails(self, data: Any) -> Guardrails:
        if not isinstance(data, Mapping):
            self.fail("guardrails", "must be a mapping", "e.g. {enabled: true}")
            return Guardrails()
        for key in sorted(set(data) - {"enabled", "target_ous", "exempt_principals"}):
            self.fail(f"guardrails.{key}", "unknown setting", "use enabled, target_ous, exempt_principals")
        enabled = data.get("enabled", False)
        if not isinstance(enabled, bool):
            self.fail("guardrails.enabled", f"invalid ({enabled!r})", "true or false")
            enabled = False
        ous = self.string_list(data, "target_ous", _OU, "OU ids (ou-xxxx-yyyyyyyy) or the root id", False, "guardrails.")
        principals = data.get("exempt_principals", [])
        if not isinstance(principals, list) or not all(isinstance(p, str) and p.startswith("arn:") for p in principals):
            self.fail(
                "guardrails.exempt_principals", "must be a list of role ARN patterns", "e.g. ['arn:aws:iam::*:role/BreakGlass']"
            )
            principals = []
        return Guardrails(enabled=enabled, target_ous=ous, exempt_principals=tuple(principals))

    def sweep(self, data: Any) -> Sweep:
        if not isinstance(data, Mapping):
            self.fail("sweep", "must be a mapping", 'e.g. {schedule: "rate(6 hours)", max_calls_per_second: 5}')
            return Sweep()
        known = {"enabled", "schedule", "max_calls_per_second", "accounts_per_invocation"}
        for key in sorted(set(data) - known):
            self.fail(f"sweep.{key}", "unknown setting", "use " + ", ".join(sorted(known)))
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            self.fail("sweep.enabled", f"invalid ({enabled!r})", "true or false")
            enabled = True
        schedule = data.get("schedule", Sweep.schedule)
        shape = _SCHEDULE.match(schedule) if isinstance(schedule, str) else None
        # EventBridge wants the singular unit for 1 and the plural otherwise.
        if not shape or (shape[2] and (shape[2] == "1") != (not shape[3].endswith("s"))):
            self.fail(
                "sweep.schedule",
                f"invalid ({schedule!r})",
                'an EventBridge schedule expression of at least 1 hour, e.g. "rate(6 hours)" or "cron(0 */6 * * ? *)"',
            )
            schedule = Sweep.schedule
        rate = data.get("max_calls_per_second", Sweep.max_calls_per_second)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.1 <= rate <= 50:
            self.fail(
                "sweep.max_calls_per_second",
                f"invalid ({rate!r})",
                "a number between 0.1 and 50 (AWS calls per second in each member account; default 5)",
            )
            rate = Sweep.max_calls_per_second
        batch = data.get("accounts_per_invocation", Sweep.accounts_per_invocation)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 500:
            self.fail(
                "sweep.accounts_per_invocation",
                f"invalid ({batch!r})",
                "a whole number between 1 and 500 (accounts one sweep invocation walks; default 25)",
            )
            batch = Sweep.accounts_per_invocation
        return Sweep(enabled=enabled, schedule=schedule, max_calls_per_second=float(rate), accounts_per_invocation=batch)

    def breaker(self, data: Any) -> Breaker:
        if not isinstance(data, Mapping):
            self.fail("breaker", "must be a mapping", "e.g. {max_per_account: 10, window_minutes: 60}")
            return Breaker()
        unknown = sorted(set(data) - {"enabled", "window_minutes", "max_per_account", "max_per_remediation"})
        for key in unknown:
            self.fail(f"breaker.{key}", "unknown setting", "use enabled, window_minutes, max_per_account, max_per_remediation")
        values: dict[str, Any] = {}
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            self.fail("breaker.enabled", f"invalid ({enabled!r})", "true or false")
        values["enabled"] = bool(enabled)
        for key, default in (("window_minutes", 60), ("max_per_account", 10), ("max_per_remediation", 25)):
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.fail(f"breaker.{key}", f"invalid ({value!r})", "a whole number of at least 1")
                value = default
            values[key] = value
        return Breaker(**values)

    def notifications(self, data: Any) -> Notifications:
        if not isinstance(data, Mapping):
            self.fail("notifications", "must be a mapping", "e.g. {email: [secops@example.com]}")
            return Notifications()
        emails = data.get("email", [])
        if not isinstance(emails, list):
            self.fail("notifications.email", "must be a list", "a list of addresses")
            emails = []
        for i, address in enumerate(emails):
            if not isinstance(address, str) or not _EMAIL.match(address):
                self.fail(f"notifications.email[{i}]", f"invalid ({address!r})", "an e-mail address")
        secret = data.get("slack_webhook_secret")
        if secret is not None and (not isinstance(secret, str) or not _SECRET_NAME.match(secret)):
            self.fail("notifications.slack_webhook_secret", f"invalid ({secret!r})", "a Secrets Manager secret name")
        chat: dict[str, str | None] = {}
        for key, pattern, fix in (
            ("chatbot_slack_workspace_id", r"^[A-Z0-9]{9,11}$", "the workspace id from the Amazon Q Developer console (T...)"),
            ("chatbot_slack_channel_id", r"^[A-Z0-9]{9,11}$", "the channel id from Slack's channel details (C...)"),
        ):
            value = data.get(key)
            if value is not None and (not isinstance(value, str) or not re.match(pattern, value)):
                self.fail(f"notifications.{key}", f"invalid ({value!r})", fix)
                value = None
            chat[key] = value
        if bool(chat["chatbot_slack_workspace_id"]) != bool(chat["chatbot_slack_channel_id"]):
            self.fail("notifications.chatbot_slack_channel_id", "needs chatbot_slack_workspace_id too (or neither)", "set both")
        unknown = sorted(set(data) - {"email", "slack_webhook_secret", "chatbot_slack_workspace_id", "chatbot_slack_channel_id"})
        for key in unknown:
            self.fail(f"notifications.{key}", "unknown setting", "use email, slack_webhook_secret, chatbot_slack_*")
        return Notifications(email=tuple(str(e) for e in emails), slack_webhook_secret=secret, **chat)
