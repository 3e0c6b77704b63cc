"""Trigger patterns compiled into a SQL prefilter over CloudTrail records.

A backtest over an organization's history reads billions of records, of which a handful match a
trigger. The registry's EventBridge patterns are compiled here into one SQL condition that keeps
every record any pattern could match (a superset: operators SQL cannot express cheaply, such as
`anything-but` and `wildcard`, are dropped from the condition, which only widens it). The rows that
pass are then decided by the exact pattern match and the real decision path, so the prefilter can
change what is read, never what is decided.

Two dialects: DuckDB over the records of local log files (`rec.eventName`), and Amazon Athena over the
CloudTrail table that AWS documents for the organization trail (`eventname`, `useridentity.type`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from snapback.events import CLOUDTRAIL_API, CONSOLE_SIGNIN

CLOUDTRAIL_DETAIL_TYPES = frozenset({CLOUDTRAIL_API, *CONSOLE_SIGNIN})

# The record fields a pattern may constrain that the prefilter turns into SQL, as a path under the
# record. Anything else in a pattern is left to the exact match.
FIELDS: dict[tuple[str, ...], str] = {
    ("eventSource",): "eventSource",
    ("eventName",): "eventName",
    ("errorCode",): "errorCode",
    ("eventType",): "eventType",
    ("userIdentity", "type"): "userIdentity.type",
}

# Athena's CloudTrail table (the schema the CloudTrail console and the CloudTrail user guide give:
# lower-case columns, `useridentity` a struct). Source: AWS CloudTrail User Guide, "Creating the table
# for CloudTrail logs in Athena using manual partitioning".
ATHENA_COLUMNS = {
    "eventSource": "eventsource",
    "eventName": "eventname",
    "errorCode": "errorcode",
    "eventType": "eventtype",
    "userIdentity.type": "useridentity.type",
}


@dataclass(frozen=True)
class Dialect:
    name: str
    column: Mapping[str, str]

    def ref(self, field: str) -> str:
        return self.column[field]


DUCKDB = Dialect("duckdb", {f: f"rec.{f}" for f in FIELDS.values()})
ATHENA = Dialect("athena", ATHENA_COLUMNS)


def quote(value: str) -> str:
    """A SQL string literal (standard quoting: a quote is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _field_condition(column: str, matchers: Sequence[Any]) -> str | None:
    """SQL for one field's list of EventBridge matchers, or None where it cannot narrow."""
    exact: list[str] = []
    parts: list[str] = []
    for matcher in matchers:
        if isinstance(matcher, str):
            exact.append(matcher)
        elif isinstance(matcher, Mapping) and set(matcher) == {"exists"}:
            parts.append(f"{column} IS {'NOT ' if matcher['exists'] else ''}NULL")
        elif isinstance(matcher, Mapping) and set(matcher) == {"prefix"} and isinstance(matcher["prefix"], str):
            # LIKE treats % and _ as wildcards: cut the prefix before the first one (still a superset).
            head = matcher["prefix"].split("%")[0].split("_")[0]
            parts.append(f"{column} LIKE {quote(head + '%')}")
        else:
            return None  # anything-but, wildcard, numeric, null...: the exact match decides
    if exact:
        parts.append(f"{column} IN ({', '.join(quote(v) for v in sorted(set(exact)))})")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _walk(detail: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], Any]]:
    for key, value in detail.items():
        if isinstance(value, Mapping):
            yield from _walk(value, (*path, key))
        else:
            yield (*path, key), value


def pattern_condition(pattern: Mapping[str, Any], dialect: Dialect) -> str | None:
    """The condition one CloudTrail trigger pattern compiles to; None if it is not a CloudTrail pattern."""
    detail_types = pattern.get("detail-type") or []
    if not any(d in CLOUDTRAIL_DETAIL_TYPES for d in detail_types):
        return None
    parts = []
    for path, matchers in _walk(pattern.get("detail") or {}):
        field = FIELDS.get(path)
        if field is None or not isinstance(matchers, list):
            continue
        sql = _field_condition(dialect.ref(field), matchers)
        if sql:
            parts.append(sql)
    return " AND ".join(parts) if parts else "TRUE"


def prefilter(patterns: Iterable[Mapping[str, Any]], dialect: Dialect) -> str:
    """One condition keeping every record any of `patterns` could match (FALSE when none can)."""
    conditions = sorted({c for p in patterns if (c := pattern_condition(p, dialect)) is not None})
    if not conditions:
        return "FALSE"
    if "TRUE" in conditions:
        return "TRUE"
    return "(" + ")\n   OR (".join(conditions) + ")"


def registry_patterns() -> list[Mapping[str, Any]]:
    """Every trigger pattern of the registry (the same ones the stacks deploy)."""
    from snapback import registry

    return [t.pattern for r in registry.all_remediations() for t in r.triggers]
