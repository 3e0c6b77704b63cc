"""EventBridge event-pattern semantics, in process.

EventBridge routes events in AWS (and in moto, for the demo). The CLI's `handle` and `backtest`
have no bus, so they use this matcher; a contract test runs every registered pattern over every
fixture through both this matcher and moto's EventBridge and requires the same answer.

Supported: exact strings/numbers/booleans/null, `prefix`, `suffix`, `wildcard`,
`equals-ignore-case`, `anything-but` (value, list, prefix, suffix, wildcard), `exists`,
`numeric`, and `$or`. An event array field matches if any element matches, arrays of objects
included (`detail.findings[*]` against a nested pattern).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

_MISSING = object()


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True if `event` (an EventBridge envelope as a dict) matches `pattern`."""
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], event: Any) -> bool:
    for key, rule in pattern.items():
        if key == "$or":
            if not any(_match_object(alternative, event) for alternative in rule):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if isinstance(value, list):
                # An array of objects (Security Hub's detail.findings): some element must match.
                # EventBridge flattens such arrays; for the one-finding events AWS sends, the same.
                if not any(isinstance(v, Mapping) and _match_object(rule, v) for v in value):
                    return False
                continue
            if value is _MISSING or not isinstance(value, Mapping):
                return False
            if not _match_object(rule, value):
                return False
        elif isinstance(rule, list):
            if not _match_leaf(rule, value):
                return False
        else:
            raise ValueError(f"pattern value for {key!r} must be an object or a list")
    return True


def _match_leaf(rules: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for rule in rules:
        if isinstance(rule, Mapping) and "exists" in rule:
            present = value is not _MISSING and not (isinstance(value, list) and not value)
            if present == bool(rule["exists"]):
                return True
            continue
        if value is _MISSING:
            continue
        if any(_match_scalar(rule, v) for v in values):
            return True
    return False


def _match_scalar(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        if isinstance(value, (Mapping, list)):
            return False
        if isinstance(rule, bool) or isinstance(value, bool):
            return rule is value
        return rule == value
    if "prefix" in rule:
        prefix = rule["prefix"]
        if isinstance(prefix, Mapping):
            return isinstance(value, str) and value.lower().startswith(str(prefix["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.startswith(prefix)
    if "suffix" in rule:
        suffix = rule["suffix"]
        if isinstance(suffix, Mapping):
            return isinstance(value, str) and value.lower().endswith(str(suffix["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.endswith(suffix)
    if "wildcard" in rule:
        return isinstance(value, str) and _wildcard(rule["wildcard"]).fullmatch(value) is not None
    if "equals-ignore-case" in rule:
        return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
    if "anything-but" in rule:
        return _anything_but(rule["anything-but"], value)
    if "numeric" in rule:
        return _numeric(rule["numeric"], value)
    if "cidr" in rule:
        import ipaddress

        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(rule["cidr"], strict=False)
        except (TypeError, ValueError):
            return False
    raise ValueError(f"unsupported pattern operator {sorted(rule)}")


def _anything_but(spec: Any, value: Any) -> bool:
    if isinstance(value, (Mapping, list)):
        return False
    if isinstance(spec, Mapping):
        if "prefix" in spec:
            return isinstance(value, str) and not value.startswith(spec["prefix"])
        if "suffix" in spec:
            return isinstance(value, str) and not value.endswith(spec["suffix"])
        if "wildcard" in spec:
            patterns = spec["wildcard"] if isinstance(spec["wildcard"], list) else [spec["wildcard"]]
            return isinstance(value, str) and not any(_wildcard(p).fullmatch(value) for p in patterns)
        if "equals-ignore-case" in spec:
            options = spec["equals-ignore-case"]
            options = options if isinstance(options, list) else [options]
            return isinstance(value, str) and value.lower() not in {str(o).lower() for o in options}
        raise ValueError(f"unsupported anything-but operator {sorted(spec)}")
    options = spec if isinstance(spec, list) else [spec]
    return value not in options


def _numeric(spec: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    ops = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__, "=": float.__eq__}
    for op, bound in zip(spec[::2], spec[1::2], strict=False):
        if not ops[op](float(value), float(bound)):
            return False
    return True


@lru_cache(maxsize=256)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
