"""The backtest engines decide alike: the SQL prefilter only narrows what is read, never what is decided.

- every CloudTrail record that any trigger pattern matches (public corpus + every fixture case) is
  admitted by the DuckDB prefilter (superset), and the prefilter drops the rest of the noise;
- the DuckDB and Python engines give the same summary for a folder of logs, broken files, single
  events and an SNS-wrapped batch;
- Athena: the query sent carries the same prefilter, and rows from a recorded result (moto's Athena
  runs no SQL) are rebuilt into records that decide as the originals do.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from snapback.config import load_config
from snapback.events import normalise
from snapback.patterns import matches
from snapback_ops import engines
from snapback_ops.backtest import backtest, backtest_athena
from snapback_ops.demo import cloudtrail_record
from snapback_ops.prefilter import ATHENA, DUCKDB, pattern_condition, prefilter, registry_patterns
from tests.conftest import ROOT, SHARED_EVENTS
from tests.reliability.burst import event_pool, make_event

pytestmark = pytest.mark.skipif(not engines.duckdb_available(), reason="duckdb is not installed")

ACCOUNT = "111122223333"


def corpus_records() -> list[dict[str, Any]]:
    """Every bare CloudTrail record of the public corpus and of the fixtures' CloudTrail cases."""
    from tests.perf.trail_corpus import public_records

    out = public_records(SHARED_EVENTS)
    for i, (_, fixture, case) in enumerate(event_pool()):
        _, detail_type, detail = make_event(fixture, case, ACCOUNT, i)
        if "CloudTrail" in detail_type and "eventName" in detail:
            out.append(detail)
    return out


def routed(record: dict[str, Any]) -> bool:
    try:
        envelopes = normalise(record)
    except Exception:  # noqa: BLE001 - a record the runtime rejects routes nowhere
        return False
    return any(matches(p, e.as_dict()) for e in envelopes for p in registry_patterns())


def test_prefilter_admits_every_record_a_pattern_matches_and_drops_noise(tmp_path: Path) -> None:
    records = corpus_records()
    noise = [
        cloudtrail_record(ACCOUNT, "s3.amazonaws.com", "PutBucketTagging", {"bucketName": "b"}),
        cloudtrail_record(ACCOUNT, "ec2.amazonaws.com", "DescribeInstances", {}),
        cloudtrail_record(ACCOUNT, "sts.amazonaws.com", "GetCallerIdentity", {}),
    ]
    everything = records + noise
    (tmp_path / "all.json").write_text(json.dumps({"Records": everything}))
    [scan] = engines.DuckDBScanner().scan([tmp_path / "all.json"])
    assert scan.records == len(everything)
    must = {i for i, r in enumerate(everything) if routed(r)}
    assert must, "the corpus must hold records that route somewhere, or this test proves nothing"
    missing = must - set(scan.hits)
    assert not missing, f"the prefilter drops records a trigger matches: {[everything[i].get('eventName') for i in missing]}"
    assert not {len(records), len(records) + 1, len(records) + 2} & set(scan.hits), "noise must be dropped"


def test_prefilter_only_widens_a_pattern() -> None:
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["s3.amazonaws.com"],
            "eventName": ["PutBucketPolicy", "O'Brien"],
            "errorCode": [{"exists": False}],
            "userIdentity": {"arn": [{"anything-but": {"wildcard": ["arn:*:x"]}}], "type": [{"prefix": "Ro_ot%x"}]},
        },
    }
    sql = pattern_condition(pattern, DUCKDB)
    assert sql is not None
    assert "rec.eventName IN ('O''Brien', 'PutBucketPolicy')" in sql  # quoted, sorted
    assert "rec.errorCode IS NULL" in sql
    assert "rec.userIdentity.type LIKE 'Ro%'" in sql  # cut before the LIKE wildcard: still a superset
    assert "anything-but" not in sql and "arn" not in sql  # left to the exact match
    assert pattern_condition({"detail-type": ["GuardDuty Finding"], "detail": {}}, DUCKDB) is None
    assert "eventname IN" in prefilter([pattern], ATHENA)


def _write_folder(root: Path) -> None:
    records = corpus_records()
    noise = [cloudtrail_record(ACCOUNT, "s3.amazonaws.com", "PutBucketTagging", {"bucketName": f"b{i}"}) for i in range(50)]
    logs = root / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1"
    logs.mkdir(parents=True)
    (logs / "a.json").write_text(json.dumps({"Records": records[: len(records) // 2] + noise}))
    with gzip.open(logs / "b.json.gz", "wt") as fh:
        json.dump({"Records": noise + records[len(records) // 2 :]}, fh)
    (logs / "broken.json").write_text('{"Records": [{"eventName": ')
    (logs / "odd-types.json").write_text(json.dumps({"Records": [{"eventName": {"not": "a string"}, "eventSource": 7}]}))
    events = root / "events"
    events.mkdir()
    (events / "envelope.json").write_text((SHARED_EVENTS / "a_console_signin" / "root-success-cwe-doc.json").read_text())
    sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(records[0])}}]}
    (events / "sns-batch.json").write_text(json.dumps(sns))


def test_duckdb_and_python_engines_decide_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any AWS call would fail loudly
    _write_folder(tmp_path)
    config = load_config(ROOT / "snapback.yaml")
    python = backtest(config, [str(tmp_path)], progress=None, engine="python").summary()
    duck = backtest(config, [str(tmp_path)], progress=None, engine="duckdb").summary()
    assert python["remediations"], "nothing would fire: the comparison would be empty"
    for key in ("files", "records", "unreadable"):
        assert duck[key] == python[key], key
    # A malformed record no trigger could match (say, a bad account id on DescribeInstances) is REJECTED by
    # the Python engine, which validates every record, and "matched nothing" by the prefilter, which never
    # parses it: the two buckets add up alike, and every record a trigger could match is decided alike.
    assert duck["routed_nowhere"] + duck["rejected"] == python["routed_nowhere"] + python["rejected"]
    assert duck["rejected"] <= python["rejected"]
    fired = {n: (e["would_fire"], e["accounts"]) for n, e in python["remediations"].items()}
    assert {n: (e["would_fire"], e["accounts"]) for n, e in duck["remediations"].items()} == fired
    assert {n: e["not_fired"] for n, e in duck["remediations"].items()} == {
        n: e["not_fired"] for n, e in python["remediations"].items()
    }


def test_a_pretty_printed_log_is_scanned_like_a_one_line_log(tmp_path: Path) -> None:
    """CloudTrail writes one line per file and the scan reads lines first; a batch holding a file that
    is not one line is read again with format detection, never handed to the Python engine for that."""
    records = [
        cloudtrail_record(ACCOUNT, "ec2.amazonaws.com", "DescribeInstances", {}),
        cloudtrail_record(ACCOUNT, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": "b"}),
    ]
    (tmp_path / "line.json").write_text(json.dumps({"Records": records}))
    (tmp_path / "pretty.json").write_text(json.dumps({"Records": records}, indent=2))
    scans = engines.DuckDBScanner().scan([tmp_path / "line.json", tmp_path / "pretty.json"])
    assert [(s.path.name, s.records, s.hits) for s in scans] == [("line.json", 2, [1]), ("pretty.json", 2, [1])]
    assert [json.loads(t) for s in scans for t in s.texts] == [records[1], records[1]]


def test_duckdb_never_draws_its_own_progress_bar() -> None:
    """DuckDB draws one on stdout for queries over 2 s (a 256-file batch): it would corrupt `--json`."""
    [[enabled]] = engines.DuckDBScanner().con.execute("SELECT current_setting('enable_progress_bar')").fetchall()
    assert enabled is False


def _athena_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded result of the query: a header row, then one row per record as Athena returns it
    (nested documents as JSON strings, the struct's fields as the selected columns)."""

    def cell(record: dict[str, Any], field: str, kind: str) -> dict[str, str]:
        node: Any = record
        for part in field.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return {}
        return {"VarCharValue": json.dumps(node) if kind == "json" else str(node)}

    header = {"Data": [{"VarCharValue": field} for _, field, _ in engines.ATHENA_SELECT]}
    return [header] + [{"Data": [cell(r, f, k) for _, f, k in engines.ATHENA_SELECT]} for r in records]


@mock_aws
def test_athena_runs_the_prefilter_and_decides_like_the_local_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.athena.models import QueryResults, athena_backends

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    records = [r for r in corpus_records() if routed(r)]
    assert records
    athena_backends["123456789012"]["us-east-1"].query_results_queue.append(
        QueryResults(rows=_athena_rows(records), column_info=[])
    )
    client = boto3.client("athena", region_name="us-east-1")
    source = engines.AthenaSource(client, "security.cloudtrail_org", output="s3://results/", sleep=lambda _: None)
    config = load_config(ROOT / "snapback.yaml")
    athena = backtest_athena(config, source, since="2026-01-01T00:00:00Z", progress=None).summary()

    [execution] = client.list_query_executions()["QueryExecutionIds"]
    sent = client.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Query"]
    assert "FROM security.cloudtrail_org" in sent and "eventname IN" in sent and "eventtime >= '2026-01-01T00:00:00Z'" in sent

    local = Path("/nonexistent")  # the same records decided by the Python engine, from a temp file
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "r.json"
        local.write_text(json.dumps({"Records": records}))
        python = backtest(config, [str(local)], progress=None, engine="python").summary()
    assert athena["records"] == python["records"] == len(records)
    assert {n: e["would_fire"] for n, e in athena["remediations"].items()} == {
        n: e["would_fire"] for n, e in python["remediations"].items()
    }


def test_athena_table_name_is_validated() -> None:
    with pytest.raises(ValueError, match="database.table"):
        engines.athena_query("x; DROP TABLE y")
