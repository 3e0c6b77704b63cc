"""Every real public sample event in tests/data/public_events is handled without a crash, routed as expected.

`expected.tsv` is the checked-in routing table: file -> remediations its trigger patterns select
(in process and in moto's EventBridge alike) -> the outcome when handled against a moto org.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snapback.events import normalise
from snapback.runtime import Runtime
from snapback_ops.demo import runtime_for
from tests.conftest import ROOT, SHARED_EVENTS

TABLE = Path(__file__).with_name("expected.tsv")
FILES = sorted(p.relative_to(SHARED_EVENTS).as_posix() for p in SHARED_EVENTS.glob("*/*.json"))


def expected() -> dict[str, tuple[str, str]]:
    rows = [line.split("\t") for line in TABLE.read_text().splitlines()[1:] if line.strip()]
    return {file: (remediations, outcome) for file, remediations, outcome in rows}


def test_the_table_covers_every_file_of_the_corpus():
    assert FILES, f"no events found under {SHARED_EVENTS}"
    assert sorted(expected()) == FILES


def test_every_event_is_routed_and_handled_as_the_table_says(org):
    runtime: Runtime = runtime_for(org, "s3_block_public_access")
    table = expected()
    seen = {}
    for file in FILES:
        results = runtime.process((SHARED_EVENTS / file).read_text())
        remediations = ",".join(sorted({r.remediation for r in results if r.remediation})) or "none"
        outcome = ",".join(sorted({r.outcome.value for r in results}))
        seen[file] = (remediations, outcome)
        assert all(r.reason for r in results), file
    if os.environ.get("SNAPBACK_UPDATE_CORPUS") == "1":  # regenerate after a deliberate routing change; review the diff
        rows = [f"{f}\t{seen[f][0]}\t{seen[f][1]}" for f in FILES]
        TABLE.write_text(TABLE.read_text().splitlines()[0] + "\n" + "\n".join(rows) + "\n")
        table = expected()
    mismatches = {f: (seen[f], table[f]) for f in FILES if seen[f] != table[f]}
    assert not mismatches, "got (seen, expected): " + json.dumps(mismatches, indent=1)


def test_in_process_routing_agrees_with_moto_eventbridge():
    from moto.events.models import EventPattern

    from snapback import registry
    from snapback.patterns import matches

    patterns = [t.pattern for r in registry.all_remediations() for t in r.triggers]
    checked = 0
    for file in FILES:
        try:
            envelopes = normalise((SHARED_EVENTS / file).read_text())
        except Exception:  # noqa: BLE001 - rejected inputs are covered above
            continue
        for envelope in envelopes:
            event = json.loads(json.dumps(envelope.as_dict()))
            findings = event.get("detail", {}).get("findings")
            if isinstance(findings, list) and len(findings) == 1:
                # moto does not match a pattern object inside an array (EventBridge and snapback.patterns
                # do); with the single finding AWS sends per event, the element itself is equivalent.
                event["detail"]["findings"] = findings[0]
            for pattern in patterns:
                assert matches(pattern, event) == EventPattern.load(json.dumps(pattern)).matches_event(event), (file, pattern)
                checked += 1
    assert checked >= len(FILES) - 5


@pytest.mark.parametrize("with_endpoint", [False, True], ids=["no-aws-at-all", "moto-server"])
def test_cli_handle_prints_one_json_line_per_file_and_an_honest_exit_code(with_endpoint, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers", "ops")), "AWS_DEFAULT_REGION": "us-east-1"})
    paths = [str(SHARED_EVENTS / f) for f in FILES]
    if with_endpoint:
        import boto3
        from moto.server import ThreadedMotoServer

        from snapback_ops.demo import _free_port, create_table

        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        env.update(
            {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        )
        create_table(
            boto3.client(
                "dynamodb",
                region_name="us-east-1",
                endpoint_url=env["AWS_ENDPOINT_URL"],
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "snapback_ops", "--config", str(ROOT / "snapback.yaml"), "handle", *paths],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    finally:
        if with_endpoint:
            server.stop()
    assert "Traceback" not in proc.stderr
    if not with_endpoint:  # real AWS without credentials: one clear line, the fix, exit 1
        assert proc.returncode == 1 and not proc.stdout
        assert "no AWS credentials" in proc.stderr or "cannot reach" in proc.stderr, proc.stderr
        return
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["source"] for line in lines] == paths
    for line in lines:
        assert {"source", "remediations", "outcome", "actions", "reason"} <= set(line) and line["reason"]
    rejected = any(line["outcome"] in ("REJECTED", "FAILED", "ERROR") for line in lines)
    assert proc.returncode == (1 if rejected else 0), proc.stderr
