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

    from snapback_ops.demo import share_default_session

    with mock_aws():
        share_default_session()
        yield


@pytest.fixture
def org(aws: None, request: pytest.FixtureRequest):  # noqa: ANN201 - LocalOrg
    """The simulated organization. Member buses route to per-remediation queues only in modules that
    set `NEEDS_ROUTING = True` (the demo's scenarios and the routing tests): building the routes is
    most of the organization's AWS calls and no other test reads them."""
    from snapback_ops.demo import build_org

    return build_org(routing=bool(getattr(request.module, "NEEDS_ROUTING", False)))


# AWS managed policies the tests name. moto, when asked to load managed policies, parses its copy of
# all ~1,300 of them into every IAM backend it makes (one per account and partition: ~0.3 s each, most
# of a test that attaches AdministratorAccess). The tests read only these, so moto gets only these.
MANAGED_POLICIES_USED = ("AdministratorAccess", "ReadOnlyAccess", "AWSCompromisedKeyQuarantineV2", "PowerUserAccess")


def _trim_moto_managed_policies() -> None:
    import json

    import moto.iam.models as iam_models

    every = json.loads(iam_models.aws_managed_policies_data)
    iam_models.aws_managed_policies_data = json.dumps({k: v for k, v in every.items() if k in MANAGED_POLICIES_USED})


_trim_moto_managed_policies()
