"""The operator's command line, as a new user meets it (issue 15, "CLI"; issue 11 item 6).

Each test is one defect found by trying it: a bad file that stopped the batch, exit 0 with every
file rejected, a BrokenPipe traceback, `--config` refused after the subcommand, no `--version`,
`--since yesterday` matching nothing, "Requested resource not found" without the table's name,
`backtest` saying "1 rejected" without which file, an SNS-wrapped batch read as a CloudTrail log.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from snapback.clients import Clients
from snapback.config import load_config
from snapback.runtime import Runtime
from snapback_ops import cli
from tests.conftest import ROOT, SHARED_EVENTS

CONFIG = ROOT / "snapback.yaml"
EVENT = SHARED_EVENTS / "a_console_signin" / "root-success-cwe-doc.json"  # an EventBridge envelope


def offline_runtime() -> Runtime:
    """Decides without AWS (like backtest): what the CLI does with each file is the point here."""
    config = load_config(CONFIG)
    from snapback_ops.backtest import AnyOrgAccount

    return Runtime(
        config=config,
        clients=Clients(region=config.home_region),
        table="-",
        topic_arn="-",
        org=AnyOrgAccount(),
        forced_mode="dry-run",
        offline=True,
    )


def env_for_subprocess() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SNAPBACK_"))}
    env.update({"PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers", "ops", ".")), "AWS_DEFAULT_REGION": "us-east-1"})
    return env


def test_bad_files_never_stop_the_batch_and_each_says_why(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(EVENT.read_text())
    files = {
        "good.json": None,
        "bad-utf8.json": b'{"detail": "\xff\xfe"}',
        "zipped.json.gz": gzip.compress(EVENT.read_bytes()),
        "broken.gz": b"\x1f\x8b\x08\x00garbage",
        "empty.json": b"   \n",
        "no-records.json": b'{"Records": []}',
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "list.json": b"[1, 2]",
        "not-json.json": b"hello",
        "missing.json": "absent",
        "good2.json": EVENT.read_bytes(),
    }
    paths = []
    for name, data in files.items():
        path = tmp_path / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        paths.append(str(path))
    from io import StringIO

    out = StringIO()
    status = cli.handle_files(offline_runtime(), paths, out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["source"] for line in lines] == paths  # every file, in order, including after the bad ones
    by_name = {Path(line["source"]).name: line for line in lines}
    for name in ("good.json", "zipped.json.gz", "good2.json"):
        assert by_name[name]["outcome"] not in ("REJECTED", "ERROR"), by_name[name]
    expected = {
        "bad-utf8.json": "not UTF-8",
        "broken.gz": "not valid gzip",
        "empty.json": "empty file",
        "no-records.json": "no events",
        "deep.json": "nested",
        "list.json": "expected a JSON object",
        "not-json.json": "not JSON",
        "missing.json": "cannot read file",
    }
    for name, words in expected.items():
        assert by_name[name]["outcome"] == "REJECTED" and words in by_name[name]["reason"], by_name[name]
    assert status == cli.EXIT_REJECTED


def test_exit_0_only_when_every_input_was_handled(tmp_path):
    from io import StringIO

    good = tmp_path / "good.json"
    good.write_text(EVENT.read_text())
    assert cli.handle_files(offline_runtime(), [str(good), str(good)], out=StringIO()) == cli.EXIT_OK
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert cli.handle_files(offline_runtime(), [str(bad)], out=StringIO()) == cli.EXIT_REJECTED


def test_remediations_piped_into_head_stops_quietly():
    proc = subprocess.Popen(
        [sys.executable, "-m", "snapback_ops", "remediations"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for_subprocess(),
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert json.loads(first)["name"]
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code in (cli.EXIT_OK, cli.EXIT_PIPE)


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "x.yaml", "audit", "--limit", "3"],
        ["audit", "--config", "x.yaml", "--limit", "3"],
        ["audit", "--limit", "3", "--config", "x.yaml"],
    ],
)
def test_global_options_work_before_or_after_the_subcommand(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.config == "x.yaml" and args.limit == 3


def test_a_config_given_after_the_subcommand_is_the_one_read(tmp_path, capsys):
    bad = tmp_path / "snapback.yaml"
    bad.write_text(CONFIG.read_text().replace('management_account: "111111111111"', "management_account: 012345670123"))
    assert cli.main(["audit", "--config", str(bad)]) == cli.EXIT_USAGE
    assert "field `management_account`" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"snapback {cli.version()}"
    assert cli.version() == "0.1.0"


def test_since_takes_iso_dates_times_and_ages_and_refuses_yesterday(capsys):
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert cli.parse_since("2026-11-01") == "2026-11-01T00:00:00+00:00"
    assert cli.parse_since("2026-11-01T12:30Z") == "2026-11-01T12:30:00+00:00"
    assert cli.parse_since("2026-11-01T12:30:00+02:00") == "2026-11-01T10:30:00+00:00"
    assert cli.parse_since("24h", now) == "2026-11-21T12:00:00+00:00"
    assert cli.parse_since("7d", now) == "2026-11-15T12:00:00+00:00"
    assert cli.parse_since("30m", now) == "2026-11-22T11:30:00+00:00"
    for bad in ("yesterday", "2026-13-01", "24", "last week"):
        with pytest.raises(argparse.ArgumentTypeError, match="not a date or time"):
            cli.parse_since(bad)
    with pytest.raises(SystemExit) as done:
        cli.main(["audit", "--since", "yesterday"])
    assert done.value.code == cli.EXIT_USAGE and "'yesterday' is not a date or time" in capsys.readouterr().err


def test_handle_against_an_endpoint_without_snapbacks_table_names_it_and_the_fix(aws, capsys, monkeypatch):
    monkeypatch.delenv("SNAPBACK_TABLE", raising=False)
    assert cli.main(["--config", str(CONFIG), "handle", str(EVENT)]) == cli.EXIT_REJECTED
    err = capsys.readouterr().err
    assert "Snapback's table 'snapback' does not exist" in err and "docs/DEPLOY.md" in err and "demo --keep" in err
    assert "Requested resource not found" not in err and "Traceback" not in err


def test_without_credentials_the_cli_says_real_aws_needs_them(monkeypatch):
    from botocore.exceptions import NoCredentialsError

    class NoCreds:
        def describe_table(self, **_):
            raise NoCredentialsError()

    runtime = offline_runtime()
    monkeypatch.setattr(runtime.clients, "client", lambda *a, **k: NoCreds())
    problem = cli.preflight(runtime)
    assert problem and "no AWS credentials" in problem and "demo --keep" in problem


def test_a_missing_member_role_is_named_with_the_fix():
    from snapback.outcomes import Outcome, Result, Target

    target = Target("210987654321", "us-east-1", "AwsS3Bucket", "b", "arn:aws:s3:::b", "k")
    failed = Result(Outcome.FAILED, "AccessDenied: not authorized to perform: sts:AssumeRole", remediation="x", target=target)
    line = cli._line("f.json", [failed], "snapback-remediator")
    assert "snapback-remediator must exist in account 210987654321" in line["reason"]


def test_undo_force_is_passed_only_to_an_undo_that_takes_it(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "read_config", lambda path: load_config(CONFIG))
    monkeypatch.setattr(cli, "build_runtime", lambda config, **_: object())
    monkeypatch.setattr(cli, "preflight", lambda runtime: None)

    def drift_checking_undo(runtime, audit_id, force=False):
        calls.append((audit_id, force))
        return {"audit_id": audit_id, "outcome": "UNDONE"}

    monkeypatch.setattr(cli, "undo", drift_checking_undo)
    assert cli.main(["undo", "A1", "--force"]) == 0 and cli.main(["undo", "A2"]) == 0
    assert calls == [("A1", True), ("A2", False)]

    def old_undo(runtime, audit_id):
        calls.append((audit_id, None))
        return {"audit_id": audit_id, "outcome": "UNDONE"}

    monkeypatch.setattr(cli, "undo", old_undo)
    assert cli.main(["undo", "A3"]) == 0 and calls[-1] == ("A3", None)
    assert cli.main(["undo", "A4", "--force"]) == cli.EXIT_REJECTED and calls[-1] == ("A3", None)
    assert "--force needs the drift-checking undo" in capsys.readouterr().err


def test_exit_codes_are_documented():
    for code in ("0 ", "1 ", "2 ", "3 ", "130", "141"):
        assert f"\n  {code}" in cli.__doc__


# -- backtest (the smallest change in backtest.py: name rejected files; unwrap SNS/SQS deliveries) --


def test_backtest_names_each_rejected_file_with_its_reason_and_exits_1(tmp_path, capsys):
    (tmp_path / "odd.json").write_text('{"hello": 1}')
    (tmp_path / "ok.json").write_text(EVENT.read_text())
    assert cli.main(["--config", str(CONFIG), "backtest", str(tmp_path)]) == cli.EXIT_REJECTED
    out = capsys.readouterr().out
    assert f"rejected: {tmp_path / 'odd.json'}: malformed event: unrecognised shape" in out


def test_backtest_reads_an_sns_wrapped_batch_as_the_events_it_carries(tmp_path, capsys):
    envelope = json.loads(EVENT.read_text())
    batch = {
        "Records": [
            {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Type": "Notification", "Message": json.dumps(envelope)}},
            {"eventSource": "aws:sqs", "body": json.dumps(envelope), "messageId": "m-1"},
        ]
    }
    (tmp_path / "sns.json").write_text(json.dumps(batch))
    assert cli.main(["--config", str(CONFIG), "backtest", "--json", str(tmp_path)]) == cli.EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == 0 and summary["rejected_inputs"] == [] and summary["records"] == 2
    assert summary["remediations"]["root_activity_alert"]["would_fire"] == 2
