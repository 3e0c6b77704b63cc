"""Fuzzing (hypothesis): mutated real events never crash Snapback and never make it act on a
resource the event does not name.

Seeds: every event of tests/data/public_events and every fixture case of tests/fixtures (as EventBridge
delivers it). Mutations: fields removed, nulls, wrong types, huge strings, odd account ids,
unicode, nested JSON strings, and the whole event as a JSON string.

- "No unhandled exception" is checked offline (the backtest runtime: routing by the registry's
  patterns, parsing, guards and `resolve` of every remediation, no AWS) for many examples.
- "No foreign action" is checked against moto for fewer examples: real, non-compliant resources
  exist, and every write Snapback makes in a member account is recorded at the botocore layer;
  its account and its resource identifiers must occur in the mutated event.

Profiles: `ci` (default: bounded, derandomized) and `fuzz` (SNAPBACK_FUZZ_PROFILE=fuzz, `make fuzz`).
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapback.clients import Clients
from snapback.config import Config
from snapback.events import normalise
from snapback.runtime import Runtime
from snapback_ops.backtest import AnyOrgAccount
from snapback_ops.demo import runtime_for
from tests.conftest import SHARED_EVENTS
from tests.reliability.burst import event_pool, make_event
from tests.reliability.support import Faults, install

settings.register_profile(
    "ci", max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("fuzz", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
PROFILE = os.environ.get("SNAPBACK_FUZZ_PROFILE", "ci")
OFFLINE = settings.get_profile(PROFILE)
ONLINE = settings(OFFLINE, max_examples=max(OFFLINE.max_examples // 8, 20), suppress_health_check=list(HealthCheck))
ACCOUNT = "111122223333"
EXAMPLES: dict[str, int] = {"offline": 0, "online": 0, "member_writes": 0}


def _shared() -> list[Any]:
    return [json.loads(p.read_text()) for p in sorted(Path(SHARED_EVENTS).glob("*/*.json"))]


def _envelope(source: str, detail_type: str, detail: Any, account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.UUID(int=0)),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": "2026-11-22T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def _fixtures() -> list[Any]:
    return [_envelope(*make_event(fixture, case, ACCOUNT, k)) for k, (_, fixture, case) in enumerate(event_pool())]


SEEDS = _shared() + _fixtures()

ODD_ACCOUNTS = [
    "",
    "0",
    "12345678901",
    "1234567890123",
    "-11112222333",
    "１１１１２２２２３３３３",
    " 111122223333",
    "1e11",
    "000000000000",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(ODD_ACCOUNTS),
    st.just("x" * 100_000),
    st.just("\u202e\u0000\ud7ff\U0001f600 ünïcödé"),
    st.just([]),
    st.just({}),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(_paths(child, (*prefix, index)))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(event)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["remove", "null", "replace", "nest", "account", "whole"]))
        if kind == "whole":
            return json.dumps(event) if draw(st.booleans()) else event
        if not path:
            continue
        parent, key = _get(event, path[:-1]), path[-1]
        if kind == "remove":
            del parent[key]
        elif kind == "null":
            parent[key] = None
        elif kind == "replace":
            parent[key] = draw(SCALARS)
        elif kind == "nest":
            parent[key] = json.dumps(parent[key])
        elif kind == "account":
            parent[key] = draw(st.sampled_from(ODD_ACCOUNTS))
    return event


def offline_runtime() -> Runtime:
    config = Config(
        organization_id="o-fuzz000000",
        management_account="999999999999",
        security_account="222233334444",
        home_region="us-east-1",
        regions=("us-east-1",),
        target_ous=("ou-fuzz-00000000",),
    )
    return Runtime(
        config=config, clients=Clients(region="us-east-1"), table="-", topic_arn="-", org=AnyOrgAccount(), offline=True
    )


RUNTIME = offline_runtime()


@OFFLINE
@given(event=mutated(SEEDS))
def test_mutated_events_never_crash_the_handler(event):
    EXAMPLES["offline"] += 1
    results = RUNTIME.process(event)  # routing by pattern, every matching remediation's template method
    assert all(r.reason for r in results)
    if not results:  # only an input holding no event at all (an empty CloudTrail log file) gives none
        assert normalise(event) == []


# -- against moto: never an action on a resource the event does not name -------------------------

# Parameters that name the resource a write acts on; Snapback's own resources start with "snapback".
IDENTIFIERS = ("Bucket", "KeyId", "InstanceId", "InstanceIds", "Resources", "AccessKeyId", "PolicyArn", "TrailName", "GroupId")


def _named(value: str, text: str) -> bool:
    return value in text or value.rsplit("/", 1)[-1] in text or value.startswith(("snapback", "sg-"))


@pytest.fixture
def world(org, monkeypatch):
    """A public bucket and a KMS key with rotation off in member-a, and the fixture events naming them."""
    account = org.members["member-a"]
    session = org.session(account)
    s3, kms = session.client("s3"), session.client("kms")
    s3.create_bucket(Bucket="fuzz-bucket")
    key = kms.create_key()["KeyMetadata"]
    seeds = []
    for k, (name, fixture, case) in enumerate(event_pool()):
        if name in ("s3_block_public_access", "kms_enable_key_rotation") and case.get("routed"):
            source, detail_type, detail = make_event(fixture, case, account, k)
            text = json.dumps(detail).replace(f"burst-bucket-{k}", "fuzz-bucket")
            text = text.replace(f"burst-key-{k}", key["KeyId"]).replace(f"burst-arn-{k}", key["Arn"])
            seeds.append(_envelope(source, detail_type, json.loads(text), account))
    faults = Faults()
    install(monkeypatch, faults)
    return org, account, s3, kms, key["KeyId"], seeds, faults


@given(data=st.data())
@ONLINE
def test_mutated_events_act_only_on_resources_they_name(world, data):
    org, account, s3, kms, key, seeds, faults = world
    event = data.draw(mutated(seeds))
    if isinstance(event, dict) and isinstance(event.get("detail"), dict) and "eventID" in event["detail"]:
        event["detail"]["eventID"] = str(uuid.uuid4())  # a new occurrence, not a duplicate of the last example
    # The resources are non-compliant again before every example.
    s3.delete_public_access_block(Bucket="fuzz-bucket")
    kms.disable_key_rotation(KeyId=key)
    faults.member_writes.clear()
    EXAMPLES["online"] += 1
    for name in ("s3_block_public_access", "kms_enable_key_rotation", "s3_account_block_public_access"):
        runtime_for(org, name).process(event, remediations=[name])
    text = event if isinstance(event, str) else json.dumps(event)
    for service, operation, params in faults.member_writes:
        EXAMPLES["member_writes"] += 1
        if "AccountId" in params:
            assert params["AccountId"] in text, (service, operation, params)
        for field in IDENTIFIERS:
            values = params.get(field)
            for value in values if isinstance(values, list) else [values] if values else []:
                assert _named(str(value), text), f"{service}:{operation} on {value!r}, which the event does not name"


def test_fuzz_figures(record_property):
    """Runs after the properties above in the same worker (--dist loadfile): what they ran."""
    for key, value in EXAMPLES.items():
        record_property(f"fuzz_{key}", value)
    print(f"reliability figures: {json.dumps(EXAMPLES)}")
    if EXAMPLES["online"]:
        assert EXAMPLES["member_writes"] > 0, "no example made Snapback act: the property was never exercised"
