"""The registry: the single source of truth for what Snapback can do.

A remediation module declares its triggers and member-account permissions beside its code and
registers its class with `@register`. The CDK stacks, the member role, the CLI, the demo and the
contract tests all read `all_remediations()`. A name clash fails at import.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

# The plugin base (snapback.remediation.Remediation), named but not imported: the registry sits below
# the plugins and the client layer (clients -> member_role -> registry), so even a typing-only import
# of the base would close an import cycle (tests/unit/test_import_graph.py).
Remediation = Any

R = TypeVar("R", bound=type)

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


# Services a remediation passes roles to, by name, for remediations that declare `iam:PassRole`
# without a `pass_role_to` class attribute of their own (the attribute, beside the code, wins).
# `iam:PassRole` is only ever granted with an `iam:PassedToService` condition
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html).
_PASS_ROLE_TO: dict[str, tuple[str, ...]] = {
    # PutConfigurationRecorder passes the recorder's role to AWS Config.
    "config_recorder_restore": ("config.amazonaws.com",),
}


def permissions_of(name: str) -> list[str]:
    """The IAM actions one remediation declares, for its events and for the sweep (its session policy)."""
    remediation = get(name)
    return sorted({*remediation.permissions, *remediation.sweep_permissions})


def passed_to_services(name: str) -> tuple[str, ...]:
    """The services one remediation passes roles to (`iam:PassedToService` values); () if it passes none."""
    remediation = get(name)
    declared = getattr(remediation, "pass_role_to", None)
    return tuple(declared) if declared else _PASS_ROLE_TO.get(name, ())


def acting() -> list[type[Remediation]]:
    """The remediations that act in member accounts (an alert-only one declares no permission at all)."""
    return [r for r in all_remediations() if permissions_of(r.name)]


def rule_name(name: str, trigger_id: str) -> str:
    """The central-bus rule of one trigger (the stacks create it, `snapback doctor` looks for it)."""
    return f"snapback-{name.replace('_', '-')}-{trigger_id}"[:64]
