"""Golden on-call messages, generated from every remediation's real fixtures.

For each registered remediation, each outcome it can produce gets one file
`tests/golden/<remediation>/<outcome>.json`: the SNS message Snapback really published for one of its
fixture cases (run end to end under moto: the remediation's own `test_fixture_case`), and what
Slack (Block Kit) and Amazon Q Developer (custom notification) show for it. The outcomes are those
its fixtures expect (REMEDIATED, NOTIFIED, FAILED, ...) plus the modes every remediation runs in:
NOTIFIED (notify mode), DRY_RUN (dry-run) and BREAKER (the blast-radius breaker open), each derived
from its first REMEDIATED case (or NOTIFIED, for alert-only remediations).

Regenerate after adding or changing a remediation (runs every case under moto, minutes):

    SNAPBACK_UPDATE_GOLDEN=1 python -m pytest -n0 tests/golden

or, after a change to the rendering only (seconds): SNAPBACK_UPDATE_GOLDEN=render.

The everyday run re-renders each stored message (fast) and checks the on-call promises on it; one
fixture case is re-run for real so that the stored messages cannot drift from what is published.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snapback import registry
from snapback.chatbot import DESCRIPTION_LIMIT, chat_message
from snapback.slack import FIELD_LIMIT, HEADER_LIMIT, MAX_BLOCKS, TEXT_LIMIT, VIEWS, blocks_of, readable, render
from tests.remediations.helpers import load_cases

GOLDEN = Path(__file__).resolve().parent
UPDATE = bool(os.environ.get("SNAPBACK_UPDATE_GOLDEN"))
REPORTED = ("REMEDIATED", "NOTIFIED", "DRY_RUN", "FAILED", "EXEMPT")
# Stable stand-ins for what changes on every run (moto's account and resource ids, times, uuids).
FIXED_ACCOUNTS = {
    "member-a": "210987654321",
    "member-b": "210987654322",
    "security": "222222222222",
    "management": "210987654320",
}


def wanted(name: str) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Outcome -> (fixture case, forced mode or 'breaker' or None) for one remediation."""
    cases = [c for c in load_cases(name) if c.get("routed")]
    out: dict[str, tuple[dict[str, Any], str | None]] = {}
    for case in cases:
        if case["expect"] in REPORTED and case["expect"] not in out:
            out[case["expect"]] = (case, None)
    source = out.get("REMEDIATED") or out.get("NOTIFIED")
    if source:
        out.setdefault("NOTIFIED", (source[0], "notify"))
        out.setdefault("DRY_RUN", (source[0], "dry-run"))
    if "REMEDIATED" in out:
        out["BREAKER"] = (out["REMEDIATED"][0], "breaker")
    return out


def expected_files() -> list[tuple[str, str]]:
    return [(name, outcome) for name in registry.names() for outcome in sorted(wanted(name))]


def golden_path(name: str, outcome: str) -> Path:
    return GOLDEN / name / f"{outcome.lower()}.json"


def normalise(message: dict[str, Any], accounts: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(message, sort_keys=True)
    for real, fixed in accounts.items():
        text = text.replace(real, fixed)
    text = re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{10}", "20261122T100001Z-0a1b2c3d4e", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "0f5e1a2b-0000-4000-8000-00000000c0de", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", "2026-11-22T10:00:00Z", text)
    text = re.sub(r"\b(i|sg|sgr|vpc|subnet|eni|vol|snap|ami|igw|rtb|acl)-[0-9a-f]{8,17}\b", r"\1-0123456789abcdef0", text)
    text = re.sub(r"\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b", r"\1EXAMPLEEXAMPLE00", text)
    return json.loads(text)


def capture(org: Any, name: str, case: dict[str, Any], force: str | None, monkeypatch: pytest.MonkeyPatch) -> dict | None:
    """Run the fixture case end to end and return the last message Snapback published (normalised)."""
    from snapback import notify
    from snapback.config import Config
    from tests.reliability.support import case_views, run_case

    (view,) = case_views(org, name, [case], monkeypatch)
    published: list[dict[str, Any]] = []
    build = notify.build_message

    def recording(*args: Any, **kwargs: Any) -> dict[str, Any]:
        message = build(*args, **kwargs)
        published.append(message)
        return message

    with monkeypatch.context() as patch:
        patch.setattr(notify, "build_message", recording)
        if force in ("notify", "dry-run"):
            patch.setattr(Config, "mode_for", lambda self, *a, **k: force)
        if force == "breaker":
            from snapback.breaker import Breaker

            patch.setattr(
                Breaker,
                "admit",
                lambda self, remediation, account, now=None: (
                    f"breaker open for account#{account} since 2026-11-22T10:00:00Z "
                    f"(reset: snapback breaker reset account#{account})"
                ),
            )
        try:
            run_case(name, view, case)
        except AssertionError:
            if force is None:
                raise  # a fixture case that no longer holds is the remediation test's failure, not ours
    if not published:
        return None
    accounts = {view.members[k]: v for k, v in FIXED_ACCOUNTS.items() if k in view.members}
    accounts[view.security] = FIXED_ACCOUNTS["security"]
    accounts[view.management] = FIXED_ACCOUNTS["management"]  # management_permission_boundary acts there
    return normalise(published[-1], accounts)


def golden_of(message: dict[str, Any], name: str, outcome: str, case: dict[str, Any]) -> dict[str, Any]:
    slack = render(message)
    return {
        "remediation": name,
        "outcome": outcome,
        "fixture_case": case["name"],
        "message": message,
        "slack": slack,
        "slack_as_read": readable(slack),
        "chat": chat_message(message),
    }


@pytest.mark.skipif(
    os.environ.get("SNAPBACK_UPDATE_GOLDEN") != "1", reason="regenerates the golden files (SNAPBACK_UPDATE_GOLDEN=1)"
)
@pytest.mark.parametrize("name", registry.names())
def test_regenerate_golden_files(org, name, monkeypatch):
    folder = GOLDEN / name
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for outcome, (case, force) in sorted(wanted(name).items()):
        message = capture(org, name, case, force, monkeypatch)
        assert message is not None, f"{name}/{outcome}: nothing was published for {case['name']!r}"
        got = "BREAKER" if force == "breaker" else message["outcome"]
        assert got == outcome, f"{name}/{outcome}: the case {case['name']!r} gave {message['outcome']}"
        golden_path(name, outcome).write_text(
            json.dumps(golden_of(message, name, outcome, case), indent=1, ensure_ascii=False) + "\n"
        )


@pytest.mark.skipif(os.environ.get("SNAPBACK_UPDATE_GOLDEN") != "render", reason="SNAPBACK_UPDATE_GOLDEN=render only")
@pytest.mark.parametrize("name", registry.names())
def test_rerender_golden_files(name):
    """After a change to the rendering only: the stored messages, their derived fields recomputed as
    notify.build_message does, rendered again (no moto run). The drift test below still checks one
    message against a real run."""
    from snapback.slack import next_steps, view

    for path in sorted((GOLDEN / name).glob("*.json")):
        golden = json.loads(path.read_text())
        message = golden["message"]
        message["headline"], message["action_needed"] = view(message).headline, view(message).action_needed
        message["next_steps"] = next_steps(message)
        path.write_text(
            json.dumps(
                golden_of(message, name, golden["outcome"], {"name": golden["fixture_case"]}), indent=1, ensure_ascii=False
            )
            + "\n"
        )


def stored() -> Iterator[Any]:
    for name, outcome in expected_files():
        yield pytest.param(name, outcome, id=f"{name}-{outcome}")


def load(name: str, outcome: str) -> dict[str, Any]:
    path = golden_path(name, outcome)
    assert path.exists(), (
        f"no golden file {path.relative_to(GOLDEN.parents[1])}: SNAPBACK_UPDATE_GOLDEN=1 python -m pytest -n0 tests/golden"
    )
    return json.loads(path.read_text())


def check_limits(payload: dict[str, Any]) -> None:
    blocks = blocks_of(payload)
    assert payload["text"] and len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= HEADER_LIMIT
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= TEXT_LIMIT
            assert all(len(item["text"]) <= FIELD_LIMIT for item in block.get("fields", []))
            assert len(block.get("fields", [])) <= 10


def test_every_remediation_has_a_golden_file_for_every_outcome_it_can_produce():
    missing = [str(golden_path(n, o).relative_to(GOLDEN)) for n, o in expected_files() if not golden_path(n, o).exists()]
    assert not missing, f"missing golden files {missing}: SNAPBACK_UPDATE_GOLDEN=1 python -m pytest -n0 tests/golden"


@pytest.mark.parametrize("name, outcome", stored())
def test_the_golden_message_renders_as_stored(name, outcome):
    golden = load(name, outcome)
    assert render(golden["message"]) == golden["slack"]
    assert readable(golden["slack"]) == golden["slack_as_read"]
    assert chat_message(golden["message"]) == golden["chat"]


@pytest.mark.parametrize("name, outcome", stored())
def test_each_golden_message_says_what_on_call_must_do(name, outcome):
    golden = load(name, outcome)
    message, slack = golden["message"], golden["slack"]
    check_limits(slack)
    assert len(chat_message(message)["content"]["description"]) <= DESCRIPTION_LIMIT
    header = blocks_of(slack)[0]["text"]["text"]
    text = "\n".join(golden["slack_as_read"])
    audit = message["audit_id"]
    colour = slack["attachments"][0]["color"]
    assert "<audit id>" not in json.dumps(golden)
    assert 'BlockPublicPolicy": "[redacted]' not in json.dumps(message)
    assert any(f" ({FIXED_ACCOUNTS[k]})" in text for k in ("member-a", "member-b", "management"))  # name (id)
    if outcome == "REMEDIATED":
        assert "Fixed, nothing to do" in header and colour == VIEWS["REMEDIATED"].colour
        assert "*Done:*" in text and ("undo" not in message or not message["undo"] or f"snapback undo {audit}" in text)
        assert message["changes"], "a remediation that changed nothing says REMEDIATED"
    if outcome == "FAILED":
        assert "Action needed" in header and colour == VIEWS["FAILED"].colour
        assert "remediated and verified" not in text and "snapback redrive" in text
    if outcome == "NOTIFIED" and message["actions"]:  # a proposal: approve it
        assert "Action needed" in header and colour == VIEWS["NOTIFIED"].colour
        assert "*Would do:*" in text and "What Snapback did" not in text
        assert f"snapback approve {audit}" in text
        assert not re.search(r"\bisolated\b", header)
    if outcome == "NOTIFIED" and not message["actions"]:  # an alert: nothing to approve
        assert "Action needed: check this activity" in header and "snapback approve" not in text
    if outcome == "BREAKER":
        assert "Action needed" in header and "breaker" in header and colour == VIEWS["BREAKER"].colour
        assert "snapback breaker reset" in text and f"snapback approve {audit}" in text
    if outcome == "DRY_RUN":
        assert "Would do" in header and colour == VIEWS["DRY_RUN"].colour
        assert "*Would do:*" in text or not message["actions"]
    if outcome != "REMEDIATED":
        assert "Fixed" not in header


def test_goldens_differ_between_outcomes_and_remediations():
    """The old goldens were one S3 message with the header swapped: each must be its own."""
    seen: dict[str, str] = {}
    for name, outcome in expected_files():
        body = json.dumps(load(name, outcome)["slack"], sort_keys=True)
        assert body not in seen, f"{name}/{outcome} renders exactly like {seen.get(body)}"
        seen[body] = f"{name}/{outcome}"
        assert name in body


@pytest.mark.skipif(UPDATE, reason="regenerating")
def test_a_stored_message_is_what_snapback_publishes_today(org, monkeypatch):
    """One real end-to-end run: the stored messages must not drift from what notify builds."""
    name = "s3_block_public_access"
    golden = load(name, "REMEDIATED")
    case = next(c for c in load_cases(name) if c["name"] == golden["fixture_case"])
    assert capture(org, name, case, None, monkeypatch) == golden["message"]
