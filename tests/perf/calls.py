"""Count and time every AWS call a process makes, with botocore event hooks (no mocks).

The hooks go into botocore's built-in handler list, so every session created afterwards (the
runtime's, an assumed role's, the organization reader's) carries them. They only record while a
`Recording` is active, so the setup of a benchmark or a test is never counted.

Per call: `provide-client-params` (the first event of `BaseClient._make_api_call`) starts the clock;
`after-call` / `after-call-error` stop it. The span covers endpoint resolution, validation,
serialisation, the HTTP round trip (with retries) and parsing: everything botocore and the
endpoint do for the call. What remains of `Runtime.process` is Snapback's own time. Calls that
overlap (the Security Hub import and the SNS publish run on two threads) count once: `aws_seconds`
is the wall time during which at least one call was in flight.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore import handlers


@dataclass
class Recording:
    calls: Counter[str] = field(default_factory=Counter)  # "service:Operation" -> count
    aws_seconds: float = 0.0
    _started: dict[int, float] = field(default_factory=dict)
    _in_flight: int = 0
    _since: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


_ACTIVE: list[Recording] = []
_LOCK = threading.Lock()


def _name(model: Any) -> str:
    return f"{model.service_model.service_name}:{model.name}"


def _start(model: Any = None, **_: Any) -> None:
    if _ACTIVE and model is not None:
        recording = _ACTIVE[-1]
        with _LOCK:
            recording.calls[_name(model)] += 1
            now = time.perf_counter()
            recording._started[threading.get_ident()] = now
            if recording._in_flight == 0:
                recording._since = now
            recording._in_flight += 1


def _stop(**_: Any) -> None:
    if _ACTIVE:
        recording = _ACTIVE[-1]
        with _LOCK:
            started = recording._started.pop(threading.get_ident(), None)
            if started is not None:
                recording._in_flight -= 1
                if recording._in_flight == 0:
                    recording.aws_seconds += time.perf_counter() - recording._since


_HOOKS = (("provide-client-params", _start), ("after-call", _stop), ("after-call-error", _stop))


def install() -> None:
    """Add the hooks to botocore's built-in handlers (once); sessions created later carry them."""
    for hook in _HOOKS:
        if hook not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append(hook)


@contextmanager
def recording() -> Iterator[Recording]:
    install()
    current = Recording()
    _ACTIVE.append(current)
    try:
        yield current
    finally:
        _ACTIVE.remove(current)


install()
