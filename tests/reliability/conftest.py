"""One moto organization per test module: every test takes fresh member accounts from it
(`support.views`), so building the org (about a second) is paid once per file, not per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def org() -> Iterator[object]:
    from moto import mock_aws

    from snapback_ops.demo import build_org

    with mock_aws():
        yield build_org(routing=False)  # no test here reads the member-bus routes
