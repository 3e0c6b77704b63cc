"""Shared fixtures: a multi-account organization in moto (decorator mode), built like the demo."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Public sample events, kept in the repository (sources and licences: tests/data/public_events/).
SHARED_EVENTS = ROOT / "tests" / "data" / "public_events"

# Never talk to a real endpoint or real credentials from the test suite.
for _key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "SNAPBACK_CONFIG"):
    os.environ.pop(_key, None)
os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
# No public AMIs in moto's EC2 backends (0.2 s each, one per account x Region a test touches): tests
# launch from `snapback_ops.demo.base_image`.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture(autouse=True)
def cloudtrail_selectors_replace_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS: a trail uses either basic or advanced selectors, and putting one kind replaces the other
    (PutEventSelectors API reference). moto keeps stale advanced selectors when basic ones are put.
    Autouse for every test: the reliability suites run the remediations' fixture tests as functions,
    without the fixtures of their modules."""
    from moto.cloudtrail.models import Trail

    def put(self: Any, event_selectors: Any, advanced_event_selectors: Any) -> None:
        self.event_selectors = event_selectors or []
        self.advanced_event_selectors = advanced_event_selectors or []

    monkeypatch.setattr(Trail, "put_event_selectors", put)


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

    from snapback_ops.demo import share_default_session

    with mock_aws():
        share_default_session()
        yield


@pytest.fixture(scope="module")
def _module_org(request: pytest.FixtureRequest) -> Iterator[object]:
    from moto import mock_aws

    from snapback_ops.demo import build_org, share_default_session

    with mock_aws():
        share_default_session()
        yield build_org(routing=bool(getattr(request.module, "NEEDS_ROUTING", False)))


@pytest.fixture
def org(aws: None, request: pytest.FixtureRequest):  # noqa: ANN201 - LocalOrg
    """The simulated organization, as each test sees it: fresh member accounts (member-a, member-b)
    in one organization per test module (its security and management accounts are shared by the
    module's tests). Building the organization is most of a small test's time, and every test gets
    accounts no other test touched. A module that needs the security account to itself (it counts
    every finding or message) sets `SHARED_ORG = False` and gets an organization per test.

    Member buses route to per-remediation queues only in modules that set `NEEDS_ROUTING = True` (the
    demo's scenarios and the routing tests): building the routes is most of the organization's AWS
    calls and no other test reads them."""
    from snapback_ops.demo import build_org

    routing = bool(getattr(request.module, "NEEDS_ROUTING", False))
    if not getattr(request.module, "SHARED_ORG", True) or routing or os.environ.get("SNAPBACK_ORG_PER_TEST"):
        return build_org(routing=routing)
    from tests.reliability.support import views

    (view,) = views(request.getfixturevalue("_module_org"), 1)
    return view


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


def _share_client_methods() -> None:
    """botocore builds a class for every client it makes, with a method (and its operation model and
    docstring) per API operation: ~700 for EC2. Snapback makes a client per member credentials, that
    is per (account, remediation, service, Region), on purpose (each remediation's session policy is
    its own), so the sweep tests spent a sixth of their CPU building the same methods again. The
    methods depend only on the service model: within the test process they are built once per model
    (its name, API version and operations, so a trimmed model gets its own); the class itself, and the
    `creating-client-class` handlers of each session, still run per client."""
    import botocore.client

    creator = botocore.client.ClientCreator
    plain_methods, plain_mapping = creator._create_methods, creator._create_name_mapping
    methods: dict[tuple[Any, ...], dict[str, Any]] = {}
    mappings: dict[tuple[Any, ...], dict[str, str]] = {}

    def key(service_model: Any) -> tuple[Any, ...]:
        return (service_model.service_name, service_model.api_version, tuple(service_model.operation_names))

    def create_methods(self: Any, service_model: Any) -> dict[str, Any]:
        k = key(service_model)
        if k not in methods:
            methods[k] = plain_methods(self, service_model)
        return dict(methods[k])  # the class's attributes: handlers add to them

    def create_name_mapping(self: Any, service_model: Any) -> dict[str, str]:
        k = key(service_model)
        if k not in mappings:
            mappings[k] = plain_mapping(self, service_model)
        return dict(mappings[k])

    creator._create_methods = create_methods
    creator._create_name_mapping = create_name_mapping


_share_client_methods()


# The longest single tests and the one xdist group, measured in whole runs (JUnit): run first, so that
# none of them starts last on one worker while the other sits idle (the suite's wall time is its tail).
LONG_FIRST = (
    "tests/deploy/test_least_privilege.py::",  # one xdist group: one worker, ~200 s under load
    "tests/functional/test_pipeline.py::test_demo_runs_against_a_moto_server_and_reports",
    "tests/reliability/test_burst.py::",
    "tests/cli/test_playground.py::",
)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)), len(LONG_FIRST))

    items.sort(key=rank)  # stable: everything else keeps its order
