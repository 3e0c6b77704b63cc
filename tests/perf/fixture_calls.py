"""pytest plugin for `bench/calls.py`: count the AWS calls of every must-fire fixture case.

    pytest -p tests.perf.fixture_calls tests/remediations -k test_fixture_case

Keeps only the fixture cases that must fire (routed, and an outcome other than SKIPPED/REJECTED),
runs each remediation test exactly as it is, and records the calls of the test's last
`Runtime.process` (the case's event; earlier ones are the test's own setup) as one JSON line in
the file named by SNAPBACK_CALLS_OUT.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from snapback.runtime import Runtime
from tests.perf import calls

QUIET = {"SKIPPED", "REJECTED"}
_LAST: list[tuple[calls.Recording, list[Any]]] = []
_PROCESS = Runtime.process


def _recorded_process(self: Runtime, raw: Any, remediations: Any = None) -> Any:
    with calls.recording() as recording:
        results = _PROCESS(self, raw, remediations)
    _LAST.append((recording, results))
    return results


def _case(item: pytest.Item) -> dict[str, Any] | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec else None
    return case if isinstance(case, dict) else None


def must_fire(case: dict[str, Any]) -> bool:
    return bool(case.get("routed")) and case.get("expect") not in QUIET


def pytest_configure(config: pytest.Config) -> None:
    Runtime.process = _recorded_process  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = [i for i in items if (case := _case(i)) is not None and must_fire(case)]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _LAST.clear()
    yield
    case = _case(item)
    if not _LAST or case is None:
        return
    recording, results = _LAST[-1]
    line = {
        "remediation": getattr(item.module, "NAME", item.module.__name__),
        "case": case["name"],
        "expect": case["expect"],
        "outcome": results[0].outcome.value if results else None,
        "calls": dict(sorted(recording.calls.items())),
        "total": recording.total,
    }
    with open(os.environ["SNAPBACK_CALLS_OUT"], "a") as out:
        out.write(json.dumps(line) + "\n")
