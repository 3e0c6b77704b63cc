"""The benchmark's organization trail, small: both local engines reach the same decisions on it.

bench/backtest.py times the engines on 200k records of this corpus and fails if they disagree; this
is the same comparison on 2,000 records (with more trigger-relevant ones), fast and never timed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from snapback.config import load_config
from snapback_ops import engines
from snapback_ops.backtest import backtest
from tests.conftest import ROOT
from tests.perf.trail_corpus import decisions, write_corpus

pytestmark = pytest.mark.skipif(not engines.duckdb_available(), reason="duckdb is not installed")


def test_the_corpus_is_cloudtrail_shaped_and_deterministic(tmp_path: Path) -> None:
    one = write_corpus(tmp_path / "a", records=600, seed=3, hit_rate=0.05)
    assert write_corpus(tmp_path / "b", records=600, seed=3, hit_rate=0.05).bytes_gz == one.bytes_gz
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json.gz"))
    assert one.records == 600 and one.files == len(files) > 1 and one.hits > 0
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.json.gz"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    first = files[0]
    assert first.parts[:3] == ("AWSLogs", first.parts[1], "CloudTrail") and len(first.parts) == 8  # .../region/YYYY/MM/DD/file
    records = json.loads(gzip.decompress((tmp_path / "a" / first).read_bytes()))["Records"]
    assert records and all("eventName" in r and "eventSource" in r for r in records)


def test_python_and_duckdb_engines_decide_alike_on_the_bench_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any AWS call would fail loudly
    corpus = write_corpus(tmp_path, records=2_000, seed=16, hit_rate=0.05)
    config = load_config(ROOT / "snapback.yaml")
    python = decisions(backtest(config, [str(tmp_path)], engine="python"))
    duck = decisions(backtest(config, [str(tmp_path)], engine="duckdb"))
    assert python["records"] == corpus.records and python["files"] == corpus.files
    assert sum(e["total"] for e in python["would_fire"].values()) > 0, "nothing would fire: the comparison proves nothing"
    assert any(e["not_fired"] for e in python["would_fire"].values()), "the must-not-fire cases must be in the mix"
    assert duck == python
