"""The runtime's trigger index only narrows which patterns are tried: `Runtime.route` gives exactly
what matching every registered pattern gives, for every real-format event we hold, for the whole
benchmark trail, and for events whose routing fields are changed at random (hypothesis)."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapback import registry
from snapback.errors import MalformedEvent
from snapback.events import normalise
from snapback.patterns import matches
from snapback.runtime import _trigger_index
from snapback_ops.backtest import offline_runtime
from tests.perf import trail_corpus

PUBLIC = Path(__file__).resolve().parents[1] / "data" / "public_events"


def exhaustive(event: dict[str, Any]) -> list[str]:
    return [r.name for r in registry.all_remediations() if any(matches(t.pattern, event) for t in r.triggers)]


@pytest.fixture(scope="module")
def runtime() -> Any:
    return offline_runtime(_config())


def _config() -> Any:
    import yaml

    from snapback.config import Config

    return Config.from_dict(yaml.safe_load((Path(__file__).resolve().parents[2] / "snapback.yaml").read_text()))


def envelopes(raw: Any) -> list[Any]:
    try:
        return normalise(raw)
    except MalformedEvent:
        return []


def corpus() -> list[dict[str, Any]]:
    rng = random.Random(7)
    records: list[Any] = []
    for account in trail_corpus.ACCOUNTS[:2]:
        records += trail_corpus.hit_templates(account)
        records += [trail_corpus.noise_record(account, "us-east-1", trail_corpus.START, rng) for _ in range(300)]
    records += [json.loads(p.read_text()) for p in sorted(PUBLIC.glob("*/*.json"))]
    out = [e.as_dict() for raw in records for e in envelopes(raw)]
    # every fixture case that replays without setup, CloudTrail and service events alike, as EventBridge sends it
    from tests.reliability.burst import event_pool, make_event

    for i, (_, fixture, case) in enumerate(event_pool()):
        source, detail_type, detail = make_event(fixture, case, trail_corpus.ACCOUNTS[0], i)
        raw = {"version": "0", "id": f"e-{i}", "detail-type": detail_type, "source": source, "account": trail_corpus.ACCOUNTS[0]}
        out += [e.as_dict() for e in envelopes({**raw, "region": "us-east-1", "time": "2026-12-01T00:00:00Z", "detail": detail})]
    return out


def example(pattern: Any) -> Any:
    """An event (part) that a pattern accepts, from its first alternative of each field."""
    out: dict[str, Any] = {}
    for key, rule in pattern.items():
        if key == "$or":
            out.update(example(rule[0]))
        elif isinstance(rule, dict):
            out[key] = example(rule)
        elif isinstance(rule, list) and rule:
            first = rule[0]
            if not isinstance(first, dict):
                out[key] = first
            elif "prefix" in first and isinstance(first["prefix"], str):
                out[key] = first["prefix"] + "x"
            elif "suffix" in first and isinstance(first["suffix"], str):
                out[key] = "x" + first["suffix"]
            elif "wildcard" in first:
                out[key] = first["wildcard"].replace("*", "a")
            elif "equals-ignore-case" in first:
                out[key] = first["equals-ignore-case"].upper()
            elif first.get("exists") is True or "anything-but" in first:
                out[key] = "zz-example"
            elif "numeric" in first:  # [">=", n] and the like: n itself, or just above it
                bounds = first["numeric"]
                out[key] = bounds[1] + (1 if bounds[0] == ">" else 0)
    return out


def pattern_examples() -> list[dict[str, Any]]:
    base = {"version": "0", "id": "e-1", "account": "123456789012", "region": "us-east-1", "time": "2026-12-01T00:00:00Z"}
    return [{**base, **example(t.pattern)} for r in registry.all_remediations() for t in r.triggers]


EVENTS = corpus() + pattern_examples()
LITERALS = sorted(
    {
        v
        for r in registry.all_remediations()
        for t in r.triggers
        for v in [*(t.pattern.get("source") or []), *((t.pattern.get("detail") or {}).get("eventName") or [])]
        if isinstance(v, str)
    }
)


def test_the_corpus_is_broad() -> None:
    routed = {name for event in EVENTS for name in exhaustive(event)}
    assert len(EVENTS) > 1200 and routed == set(registry.names()), sorted(set(registry.names()) - routed)


def test_every_held_event_routes_exactly_as_every_pattern_would(runtime: Any) -> None:
    for event in EVENTS:
        assert runtime.route(_Envelope(event)) == exhaustive(event), (event.get("source"), event.get("detail", {}))


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(EVENTS) - 1),
    source=st.one_of(st.none(), st.sampled_from(LITERALS), st.text(max_size=12), st.lists(st.sampled_from(LITERALS), max_size=2)),
    name=st.one_of(
        st.none(), st.sampled_from(LITERALS), st.text(max_size=12), st.integers(), st.lists(st.sampled_from(LITERALS), max_size=2)
    ),
    drop_detail=st.booleans(),
)
def test_changed_routing_fields_never_change_the_answer(index: int, source: Any, name: Any, drop_detail: bool) -> None:
    event = copy.deepcopy(EVENTS[index])
    if source is not None:
        event["source"] = source
    if drop_detail:
        event["detail"] = "not an object"
    elif name is not None and isinstance(event.get("detail"), dict):
        event["detail"]["eventName"] = name
    index_ = _trigger_index(tuple(registry.all_remediations()))
    got = [r.name for r in index_.candidates(event) if any(matches(t.pattern, event) for t in r.triggers)]
    assert got == exhaustive(event)


def test_patterns_without_plain_literals_are_always_tried() -> None:
    """A source given as a prefix, or a top-level `$or`, can match events of any source."""
    from types import SimpleNamespace

    from snapback.runtime import TriggerIndex

    def fake(name: str, pattern: dict[str, Any]) -> Any:
        return type(name, (), {"name": name, "triggers": (SimpleNamespace(pattern=pattern),)})

    by_prefix = fake("by_prefix", {"source": [{"prefix": "aws."}], "detail": {"eventName": ["X"]}})
    either = fake("either", {"$or": [{"source": ["aws.s3"]}, {"source": ["aws.ec2"]}]})
    plain = fake("plain", {"source": ["aws.s3"], "detail": {"eventName": ["PutBucketPolicy"]}})
    index = TriggerIndex.build((by_prefix, either, plain))
    assert [r.name for r in index.candidates({"source": "aws.ec2", "detail": {"eventName": "X"}})] == ["by_prefix", "either"]
    assert [r.name for r in index.candidates({"source": "aws.s3", "detail": {"eventName": "Other"}})] == ["by_prefix", "either"]
    assert [r.name for r in index.candidates({"source": "aws.s3", "detail": {"eventName": "PutBucketPolicy"}})] == [
        "by_prefix",
        "either",
        "plain",
    ]
    # an array-valued field matches when any element does (EventBridge): never narrowed away
    assert "plain" in [r.name for r in index.candidates({"source": "aws.s3", "detail": {"eventName": ["a", "PutBucketPolicy"]}})]


class _Envelope:
    """What `Runtime.route` reads of an envelope."""

    def __init__(self, event: dict[str, Any]) -> None:
        self._event = event

    def as_dict(self) -> dict[str, Any]:
        return self._event
