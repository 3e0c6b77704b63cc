"""`snapback` / `python -m snapback_ops`: the operator's command line.

handle EVENT...   run events exactly as the Lambda would (AWS_ENDPOINT_URL: moto or real AWS)
demo              the embedded default: a simulated org in moto, an attack, its remediation
undo AUDIT_ID     restore the before state recorded by an audit item
redrive           replay dead-lettered events (--queue, --dry-run); delete each only after success
sweep             check every account and Region for violations no event announced, and fix them
                  (--account, --region, --remediation, --dry-run: list only)
approve AUDIT_ID  enforce what a notify-mode outcome proposed (human approval)
audit             list and filter decisions from the audit table
breaker           open blast-radius breakers; `breaker reset SCOPE` closes one
status            open breakers and the latest decisions
backtest PATH...  what would have fired on CloudTrail logs (no AWS calls)
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


AUDIT_COLUMNS = ("recorded_at", "audit_id", "remediation", "outcome", "mode", "account", "resource_id", "reason")


def render_audit(items: Sequence[dict[str, Any]], width: int = 60) -> str:
    """A plain table of audit items; long values are cut with a marker."""
    if not items:
        return "no audit items match"
    rows = [[str(i.get(c, "-"))[:width] + ("…" if len(str(i.get(c, "-"))) > width else "") for c in AUDIT_COLUMNS] for i in items]
    widths = [max(len(c), *(len(r[n]) for r in rows)) for n, c in enumerate(AUDIT_COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(AUDIT_COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def run_sweep(config: Config, args: argparse.Namespace, out: Any = sys.stdout) -> int:
    """`snapback sweep`: progress per account on stderr, then the summary; 1 if any check failed."""
    from snapback.sweep import Sweeper

    unknown = sorted(set(args.region or ()) - set(config.regions))
    if unknown:
        print(
            f"snapback sweep: {', '.join(unknown)} not in the configured regions ({', '.join(config.regions)})", file=sys.stderr
        )
        return 2
    runtime = build_runtime(config, org_reader_role=args.org_reader_role)
    sweeper = Sweeper(
        runtime,
        accounts=args.account,
        regions=args.region,
        remediations=args.remediation,
        dry_run=args.dry_run,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    summary = sweeper.run()
    data = summary.as_dict()
    if args.json:
        print(json.dumps(data, default=str), file=out)
    else:
        print(render_sweep(data), file=out)
    return 1 if summary.errors else 0


def render_sweep(data: dict[str, Any]) -> str:
    """The summary of a sweep, for people: one line per violation and per error, then the totals."""
    lines = []
    for found in data["found"]:
        lines.append(
            f"{found.get('outcome', '?'):<17} {found['remediation']:<31} {found['account']} {found['region']:<14} "
            f"{found['resource']}  {found.get('summary') or ''}".rstrip()
        )
    for error in data["error_details"]:
        where = " ".join(str(error[k]) for k in ("account", "region", "remediation") if error[k])
        lines.append(f"{'ERROR':<17} {where}: {error['error']}")
    outcomes = ", ".join(f"{k} {v}" for k, v in data["outcomes"].items()) or "none"
    lines.append(
        f"sweep {data['run_id']}{' (dry run)' if data['dry_run'] else ''}: {data['accounts']} account(s) x "
        f"{len(data['regions'])} Region(s), {data['checks']} checks, {data['violations']} violation(s); outcomes: {outcomes}; "
        f"{data['errors']} error(s); {data['calls']} member calls in {data['seconds']:.1f} s"
    )
    return "\n".join(lines)


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
    p_audit = sub.add_parser("audit", help="list and filter decisions from the audit table (newest first)")
    p_audit.add_argument("--remediation")
    p_audit.add_argument("--account")
    p_audit.add_argument("--outcome", choices=[o.value for o in Outcome])
    p_audit.add_argument("--since", help="ISO date or time, e.g. 2026-11-01")
    p_audit.add_argument("--resource", help="part of the resource ARN")
    p_audit.add_argument("--limit", type=int, default=50)
    p_audit.add_argument("--json", action="store_true", help="one JSON object per line, with before/after and undo data")
    p_breaker = sub.add_parser("breaker", help="blast-radius breakers: list open ones, or reset one")
    p_breaker.add_argument("action", nargs="?", choices=["status", "reset"], default="status")
    p_breaker.add_argument("scope", nargs="?", help="account#<id> or remediation#<name> (for reset)")
    p_redrive = sub.add_parser("redrive", help="replay dead-lettered events; delete each only after it succeeded")
    p_redrive.add_argument(
        "--queue", default=os.environ.get("SNAPBACK_DLQ_URL"), help="queue URL or name (default $SNAPBACK_DLQ_URL)"
    )
    p_redrive.add_argument("--dry-run", action="store_true", help="show what would be replayed; change nothing")
    p_redrive.add_argument("--max", type=int, default=10_000, help="at most this many messages")
    p_sweep = sub.add_parser("sweep", help="reconciliation sweep: find and fix violations that no event announced")
    p_sweep.add_argument("--account", action="append", help="only this account (repeatable; default: every org account)")
    p_sweep.add_argument("--region", action="append", help="only this configured Region (repeatable)")
    p_sweep.add_argument("--remediation", action="append", choices=[r.name for r in registry.swept()], help="only this check")
    p_sweep.add_argument("--dry-run", action="store_true", help="list the violations; decide, change and record nothing")
    p_sweep.add_argument("--org-reader-role", help="role ARN to assume for listing the organization's accounts")
    p_sweep.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p_doctor = sub.add_parser("doctor", help="check a real deployment end to end; print what is missing and the fix")
    p_doctor.add_argument("--role", default="OrganizationAccountAccessRole", help="role to read each account with")
    sub.add_parser("status", help="open breakers and the latest decisions")
    sub.add_parser("remediations", help="list the registry")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from snapback_ops.demo import run_demo

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
    if args.command == "doctor":
        from snapback_ops.doctor import main as doctor

        return doctor(config, args.role)
    if args.command == "backtest":
        from snapback_ops.backtest import backtest, render_table

        accounts = frozenset(a.strip() for a in args.accounts.split(",") if a.strip())
        summary = backtest(config, args.paths, accounts=accounts).summary()
        print(json.dumps(summary, indent=1, default=str) if args.json else render_table(summary))
        return 0
    if args.command == "handle":
        return handle_files(build_runtime(config, dry_run=args.dry_run, org_reader_role=args.org_reader_role), args.events)
    if args.command == "sweep":
        return run_sweep(config, args)
    runtime = build_runtime(config)
    try:
        if args.command == "undo":
            print(json.dumps(undo(runtime, args.audit_id), default=str))
        elif args.command == "approve":
            print(json.dumps(approve(runtime, args.audit_id, args.by).as_dict(), default=str))
        elif args.command == "audit":
            items = runtime.audit.scan(
                args.limit,
                remediation=args.remediation,
                account=args.account,
                outcome=args.outcome,
                since=args.since,
                resource=args.resource,
            )
            print("\n".join(json.dumps(i, default=str) for i in items) if args.json else render_audit(items))
        elif args.command == "breaker":
            if args.action == "reset":
                if not args.scope:
                    raise SnapbackError("breaker reset needs a SCOPE: account#<id> or remediation#<name>")
                was_open = runtime.breaker.reset(args.scope)
                print(f"breaker {args.scope}: {'closed' if was_open else 'was not open (count cleared)'}")
            else:
                opened = runtime.breaker.open_scopes()
                print("\n".join(json.dumps(o) for o in opened) if opened else "no breaker is open")
        elif args.command == "redrive":
            from snapback_ops.redrive import redrive

            if not args.queue:
                raise SnapbackError("name the dead-letter queue: --queue URL_OR_NAME (or set SNAPBACK_DLQ_URL)")
            print(json.dumps(redrive(runtime, args.queue, dry_run=args.dry_run, limit=args.max).as_dict()))
        elif args.command == "status":
            opened = runtime.breaker.open_scopes()
            print(f"open breakers: {', '.join(o['scope'] for o in opened) or 'none'}")
            print(render_audit(runtime.audit.scan(20)))
    except SnapbackError as err:
        print(f"snapback {args.command}: {err}", file=sys.stderr)
        return 1
    return 0
