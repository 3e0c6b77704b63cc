"""`snapback` / `python -m snapback`: the operator's command line.

handle EVENT...   run events exactly as the Lambda would (AWS_ENDPOINT_URL: moto or real AWS)
demo              the embedded default: a simulated org in moto, an attack, its remediation
undo AUDIT_ID     restore the before state recorded by an audit item
status            what Snapback has done recently (from the audit table)
remediations      the registry: names, triggers, permissions
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snapback import registry
from snapback.clients import Clients
from snapback.config import Config, load_config
from snapback.errors import ConfigError, SnapbackError
from snapback.operations import approve, undo
from snapback.outcomes import Outcome, Result
from snapback.runtime import OrganizationsDirectory, OrgDirectory, Runtime, table_name, topic_arn

DEFAULT_CONFIG = "snapback.yaml"


def read_config(path: str | None) -> Config:
    if path is None and os.environ.get("SNAPBACK_CONFIG"):
        return Config.from_env()
    return load_config(path or DEFAULT_CONFIG, registry.names())


def build_runtime(
    config: Config, *, dry_run: bool = False, org: OrgDirectory | None = None, org_reader_role: str | None = None
) -> Runtime:
    clients = Clients(region=config.home_region, member_role_name=config.member_role_name)
    return Runtime(
        config=config,
        clients=clients,
        table=table_name(config),
        topic_arn=topic_arn(config),
        org=org or OrganizationsDirectory(clients, org_reader_role),
        dead_letter_url=os.environ.get("SNAPBACK_DLQ_URL") or None,
        forced_mode="dry-run" if dry_run else None,
    )


def _line(source: str, results: list[Result]) -> dict[str, Any]:
    first = results[0]
    worst = next((r for r in results if r.outcome is Outcome.FAILED), first)
    return {
        "source": source,
        "remediations": [r.remediation for r in results if r.remediation],
        "outcome": worst.outcome.value,
        "actions": [a for r in results for a in r.actions],
        "reason": "; ".join(f"{r.remediation}: {r.reason}" if r.remediation else r.reason for r in results),
        "results": [r.as_dict() for r in results],
    }


def handle_files(runtime: Runtime, paths: Sequence[str], out: Any = sys.stdout) -> int:
    """One JSON line per input; 0 unless an internal error (a bug) happened."""
    status = 0
    for path in paths:
        try:
            raw = Path(path).read_text()
        except OSError as err:
            print(
                json.dumps(
                    {
                        "source": path,
                        "remediations": [],
                        "outcome": "REJECTED",
                        "actions": [],
                        "reason": f"cannot read file: {err.strerror}",
                    }
                ),
                file=out,
                flush=True,
            )
            continue
        try:
            results = runtime.process(raw)
            line = _line(path, results)
        except SnapbackError as err:
            retryable = type(err).__name__ == "RetryableError"
            line = {
                "source": path,
                "remediations": [],
                "outcome": "FAILED",
                "actions": [],
                "reason": f"{type(err).__name__}: {err}",
                "retryable": retryable,
            }
        except Exception as err:  # noqa: BLE001 - an internal error is reported, never a traceback
            status = 2
            line = {
                "source": path,
                "remediations": [],
                "outcome": "ERROR",
                "actions": [],
                "reason": f"internal error {type(err).__name__}: {err}",
            }
        print(json.dumps(line, default=str), file=out, flush=True)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="snapback", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help=f"path to snapback.yaml (default: ./{DEFAULT_CONFIG}, or $SNAPBACK_CONFIG JSON)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_handle = sub.add_parser("handle", help="process events as the Lambda would")
    p_handle.add_argument("events", nargs="+", help="event files: envelope, CloudTrail record or log file, SNS/SQS message")
    p_handle.add_argument("--dry-run", action="store_true", help="act on nothing (record and report only)")
    p_handle.add_argument("--org-reader-role", help="role ARN to assume for listing the organization's accounts")
    p_demo = sub.add_parser("demo", help="run the embedded demo (moto)")
    p_demo.add_argument("--report", default="demo-report.json", help="where to write the JSON report")
    p_undo = sub.add_parser("undo", help="undo a remediation by audit id")
    p_undo.add_argument("audit_id")
    p_approve = sub.add_parser("approve", help="enforce what a notify-mode outcome proposed (human approval)")
    p_approve.add_argument("audit_id")
    p_approve.add_argument("--by", default=os.environ.get("USER", "cli"), help="who approves (recorded)")
    p_backtest = sub.add_parser("backtest", help="what would have fired on CloudTrail logs or event folders (no AWS calls)")
    p_backtest.add_argument("paths", nargs="+", help="CloudTrail log files (.json, .json.gz) or folders of them / of events")
    p_backtest.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_backtest.add_argument("--accounts", default="", help="comma-separated org account ids (default: any account id)")
    sub.add_parser("status", help="recent outcomes from the audit table")
    sub.add_parser("remediations", help="list the registry")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from snapback.demo import run_demo

        return run_demo(report_path=args.report)
    if args.command == "remediations":
        for r in registry.all_remediations():
            print(
                json.dumps(
                    {
                        "name": r.name,
                        "summary": r.summary,
                        "permissions": list(r.permissions),
                        "triggers": [{"id": t.id, "pattern": t.pattern} for t in r.triggers],
                    }
                )
            )
        return 0
    try:
        config = read_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.command == "backtest":
        from snapback.backtest import backtest, render_table

        accounts = frozenset(a.strip() for a in args.accounts.split(",") if a.strip())
        summary = backtest(config, args.paths, accounts=accounts).summary()
        print(json.dumps(summary, indent=1, default=str) if args.json else render_table(summary))
        return 0
    if args.command == "handle":
        return handle_files(build_runtime(config, dry_run=args.dry_run, org_reader_role=args.org_reader_role), args.events)
    runtime = build_runtime(config)
    try:
        if args.command == "undo":
            print(json.dumps(undo(runtime, args.audit_id), default=str))
        elif args.command == "approve":
            print(json.dumps(approve(runtime, args.audit_id, args.by).as_dict(), default=str))
        elif args.command == "status":
            for item in runtime.audit.scan(limit=200):
                print(
                    json.dumps(
                        {k: item.get(k) for k in ("audit_id", "remediation", "outcome", "account", "resource_arn", "reason")},
                        default=str,
                    )
                )
    except SnapbackError as err:
        print(f"snapback {args.command}: {err}", file=sys.stderr)
        return 1
    return 0
