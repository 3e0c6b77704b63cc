"""The registry: the single source of truth for what Snapback can do.

A remediation module declares its triggers and member-account permissions beside its code and
registers its class with `@register`. The CDK stacks, the member role, the CLI, the demo and the
contract tests all read `all_remediations()`. A name clash fails at import.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from snapback.remediation import Remediation

R = TypeVar("R", bound="type[Remediation]")

_REGISTRY: dict[str, type[Remediation]] = {}
_loaded = False


def register(cls: R) -> R:
    name = cls.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise RuntimeError(f"remediation name clash: {name!r} is registered by {_REGISTRY[name].__module__} and {cls.__module__}")
    _REGISTRY[name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    from snapback import remediations

    for module in pkgutil.iter_modules(remediations.__path__):
        importlib.import_module(f"{remediations.__name__}.{module.name}")
    _loaded = True


def all_remediations() -> list[type[Remediation]]:
    _load()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def names() -> list[str]:
    return [r.name for r in all_remediations()]


def get(name: str) -> type[Remediation]:
    """One remediation by name. Importing only its module keeps each function's cold start small."""
    if name not in _REGISTRY:
        try:
            importlib.import_module(f"snapback.remediations.{name}")
        except ModuleNotFoundError:
            _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no remediation named {name!r}; known: {', '.join(names())}") from None


def member_permissions() -> list[str]:
    """The exact union of the IAM actions the registered remediations declare, for their events and
    for the reconciliation sweep (the member role)."""
    return sorted({action for r in all_remediations() for action in (*r.permissions, *r.sweep_permissions)})


def swept() -> list[type[Remediation]]:
    """The remediations with an invariant the reconciliation sweep checks."""
    return [r for r in all_remediations() if r.sweep_scope is not None]
