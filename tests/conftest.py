"""Shared fixtures: a multi-account organization in moto (decorator mode), built like the demo."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Public sample events, kept in the repository (sources and licences: tests/data/public_events/).
SHARED_EVENTS = ROOT / "tests" / "data" / "public_events"

# Never talk to a real endpoint or real credentials from the test suite.
for _key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "SNAPBACK_CONFIG"):
    os.environ.pop(_key, None)
os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def org(aws: None):  # noqa: ANN201 - LocalOrg
    from snapback_ops.demo import build_org

    return build_org()
