"""Backtest on a CloudTrail log folder built from tests/data/public_events: counts, no AWS calls, streaming."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc

from snapback.config import load_config
from snapback_ops.backtest import backtest, iter_records
from snapback_ops.demo import cloudtrail_record
from tests.conftest import ROOT, SHARED_EVENTS


def bare_records() -> list[dict]:
    out = []
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        data = json.loads(path.read_text())
        if "eventName" in data:
            out.append(data)
        elif isinstance(data.get("Records"), list):
            out.extend(data["Records"])
    return out


def test_backtest_counts_what_would_fire_without_touching_aws(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any AWS call would fail loudly
    records = bare_records()
    public = cloudtrail_record(
        "111122223333",
        "s3.amazonaws.com",
        "PutBucketPolicy",
        {
            "bucketName": "leaky",
            "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]},
        },
    )
    logs = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1"
    logs.mkdir(parents=True)
    (logs / "a.json").write_text(json.dumps({"Records": records[:20]}))
    with gzip.open(logs / "b.json.gz", "wt") as fh:
        json.dump({"Records": [*records[20:], public, public]}, fh)
    (logs / "broken.json").write_text('{"Records": [{"eventName": ')
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "envelope.json").write_text(
        (SHARED_EVENTS / "a_console_signin" / "root-success-cwe-doc.json").read_text()
    )

    config = load_config(ROOT / "snapback.yaml")
    summary = backtest(config, [str(tmp_path)], progress=None).summary()

    assert summary["files"] == 4 and summary["records"] == len(records) + 3
    assert len(summary["unreadable"]) == 1 and "broken.json" in summary["unreadable"][0]
    s3 = summary["remediations"]["s3_block_public_access"]
    assert s3["accounts"]["111122223333"] == 2  # the public policy, twice
    assert s3["would_fire"] == sum(s3["accounts"].values()) and all(e["actions"] for e in s3["examples"])
    assert s3["not_fired"]  # the corpus' non-public and unreadable S3 calls, with reasons


def test_records_stream_with_flat_memory(tmp_path):
    record = cloudtrail_record("111122223333", "s3.amazonaws.com", "PutBucketTagging", {"bucketName": "b", "pad": "x" * 900})
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"Records": [record] * 4000}))  # ~6 MB
    tracemalloc.start()
    with big.open() as stream:
        count = sum(1 for _ in iter_records(stream))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 4000
    assert peak < 1_000_000, f"peak {peak} bytes: the decoder must not hold the whole file"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_line_rewritten_on_a_terminal_and_silent_otherwise(tmp_path, monkeypatch):
    from snapback_ops.backtest import progress_stream

    monkeypatch.delenv("CI", raising=False)
    terminal, pipe = _Terminal(), io.StringIO()
    assert progress_stream(terminal) is terminal
    assert progress_stream(pipe) is None  # piped or redirected: quiet
    assert progress_stream(terminal, quiet=True) is None  # --quiet
    monkeypatch.setenv("CI", "true")
    assert progress_stream(terminal) is None  # CI logs are no terminal, whatever they claim
    monkeypatch.setenv("CI", "false")
    assert progress_stream(terminal) is terminal

    logs = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1"
    logs.mkdir(parents=True)
    record = cloudtrail_record("111122223333", "ec2.amazonaws.com", "DescribeInstances", {})
    for i in range(3):
        (logs / f"{i}.json").write_text(json.dumps({"Records": [record] * 5}))
    config = load_config(ROOT / "snapback.yaml")
    backtest(config, [str(tmp_path)], progress=terminal, every=0.0, engine="python")
    out = terminal.getvalue()
    assert out.count("\r") >= 3 and out.endswith("\n") and out.count("\n") == 1  # one line, rewritten in place
    last = out.rsplit("\r", 1)[1]
    assert "3/3 files" in last and "15 records" in last and "records/s" in last and "[####################]" in last


def test_cli_backtest_prints_no_progress_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    from snapback_ops import cli

    monkeypatch.delenv("CI", raising=False)
    record = cloudtrail_record("111122223333", "ec2.amazonaws.com", "DescribeInstances", {})
    (tmp_path / "a.json").write_text(json.dumps({"Records": [record]}))
    assert cli.main(["--config", str(ROOT / "snapback.yaml"), "backtest", "--engine", "python", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "1 files, 1 records" in captured.out and "backtest:" not in captured.err
