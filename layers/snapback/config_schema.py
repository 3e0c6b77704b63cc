"""The schema of snapback.yaml: pydantic models, used at synth time and by the CLI, never in Lambda.

`validate(data)` turns a parsed snapback.yaml into the canonical, validated dictionary that
`snapback.config` builds its frozen `Config` from (and that the Lambda reads back from its
environment without importing pydantic). It fails closed: an unknown key at any level, an account
id that is not a quoted 12-digit string, an impossible date, an exemption resource that is not an
ARN pattern, or a remediation option its remediation does not declare (or of the wrong type) is an
error. Every error names the field, the problem and the fix; `json_schema()` is published as
snapback.schema.json so that editors check and complete the file.

Remediation options come from the registry: each remediation's `defaults` declare its options and,
by their values, their types; a remediation whose default is None (or that wants a narrower type)
declares `option_types = {"name": <type>}` beside its defaults. No per-module edit is needed here.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)

SCHEMA_FILE = "snapback.schema.json"
SCHEMA_ID = "https://github.com/snapback/snapback/snapback.schema.json"
Mode = Literal["enforce", "notify", "dry-run"]
MODES = get_args(Mode)

_OCTAL_HINT = (
    "YAML reads unquoted digits as a number, and digits with a leading 0 as an octal number "
    "(012345670123 becomes 1402433619, another account entirely)"
)
# ARN patterns: arn:<partition>:<service>:<region>:<account>:<resource>, with * and ? as wildcards.
_ARN_GLOB = re.compile(r"^arn:(aws|aws-cn|aws-us-gov|\*):[a-z0-9*?-]+:[a-z0-9*?-]*:(\d{12}|[\d*?]*|aws):\S+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# EventBridge schedule: a rate of at least an hour (singular unit for 1), or a cron expression.
_SCHEDULE = re.compile(r"^(rate\((1 (hour|day)|([2-9]|[1-9]\d+) (hours|days))\)|cron\((\S+ ){5}\S+\))$")


def _account_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"account ids must be quoted strings, got the number {value}: {_OCTAL_HINT}")
    return value


def _date_text(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError(f"not a date in the form YYYY-MM-DD (got {value!r})")
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise ValueError(f"no such date {value!r} ({err})") from None


def _arn_glob(value: str) -> str:
    if not _ARN_GLOB.match(value):
        raise ValueError(f"not an ARN pattern (got {value!r})")
    return value


def _schedule(value: str) -> str:
    if not _SCHEDULE.match(value):
        raise ValueError(f"not an EventBridge schedule of at least one hour (got {value!r})")
    return value


def _no_bool(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        raise ValueError(f"expected a number, got {value!r}")
    return value


AccountId = Annotated[
    StrictStr,
    BeforeValidator(_account_text),
    Field(pattern=r"^\d{12}$", description="A 12-digit AWS account id, quoted (YAML reads unquoted digits as a number)"),
]
OuId = Annotated[StrictStr, Field(pattern=r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")]
Region = Annotated[StrictStr, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
ArnGlob = Annotated[
    StrictStr,
    AfterValidator(_arn_glob),
    Field(description="An ARN; * and ? match any text / one character", json_schema_extra={"pattern": _ARN_GLOB.pattern}),
]
Day = Annotated[date, BeforeValidator(_date_text)]
Reason = Annotated[StrictStr, Field(min_length=3, pattern=r"\S")]
Number = Annotated[float, BeforeValidator(_no_bool)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ExemptionModel(_Model):
    """A central, audited exemption: every given selector must match; at least one is required."""

    reason: Reason = Field(description="Why, and who approved it (a ticket)")
    accounts: list[AccountId] = []
    ous: list[OuId] = []
    resources: list[ArnGlob] = []
    principals: list[ArnGlob] = []
    remediations: list[StrictStr] = []
    expires: Day | None = Field(None, description="Last day the exemption applies (YYYY-MM-DD)")


class OverrideModel(_Model):
    """A mode for some accounts or OUs (optionally only some remediations)."""

    mode: Mode
    reason: Reason
    accounts: list[AccountId] = []
    ous: list[OuId] = []
    remediations: list[StrictStr] = []


class BreakerModel(_Model):
    enabled: StrictBool = True
    window_minutes: StrictInt = Field(60, ge=1)
    max_per_account: StrictInt = Field(10, ge=1)
    max_per_remediation: StrictInt = Field(25, ge=1)


class GuardrailsModel(_Model):
    enabled: StrictBool = False
    target_ous: list[OuId] = []
    exempt_principals: list[ArnGlob] = []


class SweepModel(_Model):
    enabled: StrictBool = True
    schedule: Annotated[StrictStr, AfterValidator(_schedule), Field(json_schema_extra={"pattern": _SCHEDULE.pattern})] = (
        "rate(6 hours)"
    )
    max_calls_per_second: Number = Field(5.0, ge=0.1, le=50)
    accounts_per_invocation: StrictInt = Field(25, ge=1, le=500)


class NotificationsModel(_Model):
    email: list[Annotated[StrictStr, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []
    slack_webhook_secret: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")] | None = None
    chatbot_slack_workspace_id: Annotated[StrictStr, Field(pattern=r"^[A-Z0-9]{9,11}$")] | None = None
    chatbot_slack_channel_id: Annotated[StrictStr, Field(pattern=r"^[A-Z0-9]{9,11}$")] | None = None


# -- remediation options, from the registry ---------------------------------------------------


def _json_scalar(value: Any) -> Any:
    if not isinstance(value, (str, int, float, bool)):
        raise ValueError(f"expected a string, number or boolean, got {value!r}")
    return value


def option_type(default: Any) -> Any:
    """The type an option's default value implies (None: any value; declare `option_types` to narrow)."""
    if isinstance(default, bool):
        return StrictBool
    if isinstance(default, int):
        return StrictInt
    if isinstance(default, float):
        return Number
    if isinstance(default, str):
        return StrictStr
    if isinstance(default, (list, tuple)):
        items = [option_type(v) for v in default]
        item = items[0] if items and all(i is items[0] for i in items) else Annotated[Any, AfterValidator(_json_scalar)]
        return list[item]  # type: ignore[valid-type]
    if isinstance(default, Mapping):
        return dict[str, Any]
    return Any


def options_model(remediation: Any) -> type[BaseModel]:
    """The options a remediation declares (`defaults`, narrowed by an optional `option_types`)."""
    defaults: Mapping[str, Any] = getattr(remediation, "defaults", {}) or {}
    declared: Mapping[str, Any] = getattr(remediation, "option_types", {}) or {}
    fields: dict[str, Any] = {}
    for key in sorted({*defaults, *declared}):
        kind = declared.get(key, option_type(defaults.get(key)))
        fields[key] = (kind, Field(None, description=f"default: {defaults.get(key)!r}"))
    name = "".join(part.title() for part in remediation.name.split("_")) + "Options"
    return create_model(name, __config__=ConfigDict(extra="forbid", strict=True), **fields)


def _remediation_settings(remediation: Any) -> type[BaseModel]:
    name = "".join(part.title() for part in remediation.name.split("_")) + "Settings"
    return create_model(
        name,
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__=remediation.summary,
        mode=(Mode | None, Field(None, description="enforce, notify or dry-run (default: remediations.default_mode)")),
        options=(options_model(remediation) | None, None),
    )


def build_root(remediations: Iterable[Any]) -> type[BaseModel]:
    """The model of the whole file for these registered remediations."""
    settings: dict[str, Any] = {"default_mode": (Mode, Field("enforce", description="The mode of every remediation not set"))}
    for remediation in sorted(remediations, key=lambda r: r.name):
        settings[remediation.name] = (_remediation_settings(remediation) | None, Field(None, description=remediation.summary))
    remediations_model = create_model("Remediations", __config__=ConfigDict(extra="forbid", strict=True), **settings)
    return create_model(
        "SnapbackConfig",
        __config__=ConfigDict(extra="forbid", strict=True, title="snapback.yaml"),
        __doc__="Snapback configuration (snapback.yaml). See README.md, 'Configuration reference'.",
        organization_id=(Annotated[StrictStr, Field(pattern=r"^o-[a-z0-9]{10,32}$")], ...),
        management_account=(AccountId, ...),
        security_account=(AccountId, ...),
        home_region=(Region, ...),
        regions=(list[Region], Field(..., min_length=1)),
        target_ous=(list[OuId], Field(..., min_length=1)),
        account_names=(dict[Annotated[str, Field(pattern=r"^\d{12}$")], StrictStr], Field({}, description="Names on-call knows")),
        remediations=(remediations_model, Field(default_factory=remediations_model)),
        exemptions=(list[ExemptionModel], []),
        overrides=(list[OverrideModel], []),
        notifications=(NotificationsModel, NotificationsModel()),
        member_role_name=(Annotated[StrictStr, Field(pattern=r"^[\w+=,.@-]{1,64}$")], "snapback-remediator"),
        breaker=(BreakerModel, BreakerModel()),
        audit_retention_days=(StrictInt, Field(400, ge=1, le=3650)),
        guardrails=(GuardrailsModel, GuardrailsModel()),
        sweep=(SweepModel, SweepModel()),
    )


def _registered() -> list[Any]:
    from snapback import registry

    return registry.all_remediations()


def json_schema(remediations: Iterable[Any] | None = None) -> dict[str, Any]:
    schema = build_root(_registered() if remediations is None else remediations).model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


# -- validation with errors people can act on ---------------------------------------------------

FIXES = {
    "organization_id": "the id from `aws organizations describe-organization`, like o-a1b2c3d4e5",
    "management_account": "the 12-digit id of the management account, quoted: '111111111111'",
    "security_account": "the 12-digit id of the delegated security account, quoted: '222222222222'",
    "accounts": "12-digit account ids, each quoted: ['012345678901']",
    "account_names": "a mapping of quoted account ids to names: {'012345678901': prod-payments}",
    "home_region": "a Region name such as us-east-1",
    "regions": "list the enabled Regions, e.g. [us-east-1, eu-west-1]",
    "target_ous": "OU ids (ou-xxxx-yyyyyyyy) or the root id (r-xxxx)",
    "ous": "OU ids (ou-xxxx-yyyyyyyy) or the root id (r-xxxx)",
    "resources": "full ARN patterns, e.g. 'arn:aws:s3:::public-site-*' (a bucket name alone is not an ARN)",
    "principals": "role ARN patterns, e.g. 'arn:aws:iam::*:role/BreakGlass*'",
    "exempt_principals": "role ARN patterns, e.g. 'arn:aws:iam::*:role/BreakGlass*'",
    "expires": "a real calendar date, YYYY-MM-DD, e.g. 2027-06-30",
    "reason": "say why, and who approved it (e.g. a ticket)",
    "mode": f"one of {', '.join(MODES)}",
    "default_mode": f"one of {', '.join(MODES)}",
    "email": "e-mail addresses",
    "slack_webhook_secret": "a Secrets Manager secret name, e.g. snapback/slack-webhook",
    "chatbot_slack_workspace_id": "the workspace id from the Amazon Q Developer console (T...)",
    "chatbot_slack_channel_id": "the channel id from Slack's channel details (C...)",
    "member_role_name": "an IAM role name",
    "audit_retention_days": "a whole number of days between 1 and 3650",
    "enabled": "true or false",
    "schedule": 'an EventBridge schedule expression of at least 1 hour, e.g. "rate(6 hours)" or "cron(0 */6 * * ? *)"',
    "max_calls_per_second": "a number between 0.1 and 50 (AWS calls per second in each member account; default 5)",
    "accounts_per_invocation": "a whole number between 1 and 500 (accounts one sweep invocation walks; default 25)",
    "window_minutes": "a whole number of at least 1",
    "max_per_account": "a whole number of at least 1",
    "max_per_remediation": "a whole number of at least 1",
}


def _strip(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The type at `loc` inside `model` (None where the path leaves the models)."""
    current: Any = model
    for part in loc:
        current = _strip(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (list, tuple) and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) in (dict, Mapping):
            current = get_args(current)[1]
        else:
            return None
    return _strip(current)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _options_of(loc: tuple[Any, ...]) -> str | None:
    return str(loc[1]) if len(loc) >= 3 and loc[0] == "remediations" and loc[2] == "options" else None


def explain(model: type[BaseModel], error: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> str:
    """One pydantic error as `field \\`x\\`: problem; fix: ...`."""
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "float", "bool"))))
    kind, value = error["type"], error.get("input")
    name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
    remediation = _options_of(loc)
    fix = FIXES.get(name, "see snapback.schema.json or the README's configuration reference")
    if remediation and len(loc) >= 4:
        option = str(loc[3])
        fix = f"the default is {defaults.get(remediation, {}).get(option)!r}: give a value of the same type"
    if kind == "extra_forbidden":
        parent = _at(model, loc[:-1])
        allowed = sorted(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if remediation and len(loc) == 4:
            what = f"{remediation} has no option {loc[-1]!r}"
        elif loc[0] == "remediations" and len(loc) == 2:
            what = "no such remediation"
        else:
            what = "unknown setting (a mistyped key is an error, never ignored)"
        hint = f"did you mean `{close[0]}`? " if close else ""
        listed = ", ".join(allowed) if allowed else "none"
        return f"field `{_path(loc)}`: {what}; fix: {hint}remove it or use one of: {listed}"
    if kind == "missing":
        return f"field `{_path(loc)}`: missing (required); fix: {fix}"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if name in FIXES and FIXES[name].startswith(("12-digit", "the 12-digit")) or "account ids must be quoted" in message:
        if isinstance(value, int) and not isinstance(value, bool):
            octal = format(value, "o")
            written = "0" + octal if len(octal) == 11 else f"{value:012d}"  # what the file most likely says
            return (
                f"field `{_path(loc)}`: got the number {value}, not a quoted string: {_OCTAL_HINT}; "
                f"fix: quote the id as written, e.g. '{written}'"
            )
    if kind in ("string_pattern_mismatch", "literal_error", "string_type", "too_short") or "pattern" in kind:
        shown = "missing" if value is None else f"got {value!r}"
        problem = "must be a non-empty list" if kind == "too_short" else f"invalid ({shown})"
    else:
        problem = f"{message} (got {value!r})" if value is not None and repr(value) not in message else message
    return f"field `{_path(loc)}`: {problem}; fix: {fix}"


def _cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Rules between fields, run on the raw data so that one run lists every problem."""
    problems: list[str] = []
    home, regions = data.get("home_region"), data.get("regions")
    if isinstance(regions, list) and regions:
        if isinstance(home, str) and home not in regions:
            problems.append(f"field `regions`: must include home_region {home!r}; fix: add {home} to regions")
        if "us-east-1" not in regions:
            problems.append(
                "field `regions`: must include us-east-1 (IAM, STS and Organizations events exist only there); fix: add us-east-1"
            )
    if data.get("security_account") and data.get("security_account") == data.get("management_account"):
        problems.append(
            "field `security_account`: must differ from management_account; fix: delegate administration to a security account"
        )
    for key, selectors in (
        ("exemptions", ("accounts", "ous", "resources", "principals", "remediations")),
        ("overrides", ("accounts", "ous")),
    ):
        items = data.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping) and not any(item.get(s) for s in selectors):
                problems.append(
                    f"field `{key}[{i}]`: selects no {' or '.join(selectors)}, so it would apply to everything; "
                    f"fix: name the {', '.join(selectors)} it is for"
                )
    notifications = data.get("notifications")
    if isinstance(notifications, Mapping):
        if bool(notifications.get("chatbot_slack_workspace_id")) != bool(notifications.get("chatbot_slack_channel_id")):
            problems.append(
                "field `notifications.chatbot_slack_channel_id`: needs chatbot_slack_workspace_id too (or neither); fix: set both"
            )
    return problems


def _names_checks(data: Mapping[str, Any], known: list[str]) -> list[str]:
    problems = []
    for key in ("exemptions", "overrides"):
        items = data.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            names = item.get("remediations") if isinstance(item, Mapping) else None
            for j, name in enumerate(names if isinstance(names, list) else []):
                if name not in known:
                    close = difflib.get_close_matches(str(name), known, n=1)
                    hint = f"did you mean `{close[0]}`? " if close else ""
                    problems.append(
                        f"field `{key}[{i}].remediations[{j}]`: no such remediation {name!r}; fix: {hint}one of {', '.join(known)}"
                    )
    return problems


def validate(data: Any, remediations: Iterable[Any] | None = None) -> dict[str, Any]:
    """The validated, canonical form of `data` (defaults filled); raises ConfigError with every problem."""
    from snapback.errors import ConfigError

    if not isinstance(data, Mapping):
        raise ConfigError(
            ["field `(top level)`: the file must be a YAML mapping; fix: start from the sample snapback.yaml in the repository"]
        )
    known = list(_registered() if remediations is None else remediations)
    model = build_root(known)
    defaults = {r.name: dict(getattr(r, "defaults", {}) or {}) for r in known}
    problems: list[str] = []
    validated = None
    try:
        validated = model.model_validate(dict(data))
    except ValidationError as err:
        seen: set[str] = set()
        for error in err.errors():
            line = explain(model, error, defaults)
            if line not in seen:
                seen.add(line)
                problems.append(line)
    problems += _cross_checks(data) + _names_checks(data, sorted(r.name for r in known))
    if problems or validated is None:
        raise ConfigError(problems)
    return validated.model_dump(mode="json", exclude_unset=True)
