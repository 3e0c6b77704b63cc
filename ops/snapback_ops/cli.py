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
docs              regenerate the README catalogue and snapback.schema.json (--check: exit 1 if stale)

Global options (before or after the subcommand): --config PATH, --endpoint-url URL; --version.
Real AWS needs credentials (a profile, SSO or environment variables) for the security account;
`snapback demo --keep` runs a local organization to try every command against instead.

Exit codes:
  0    every input was read and handled (any outcome other than REJECTED or FAILED)
  1    at least one input was rejected or unreadable, or an outcome FAILED; or the command failed
       (missing table, credentials, audit item...): the reason is on stderr
  2    usage or configuration error (bad option, invalid snapback.yaml, bad --since)
  3    internal error (a bug: please report it with the input)
  130  interrupted (Ctrl-C)
  141  the reader of stdout went away (`snapback remediations | head`): output stopped quietly
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import io
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from snapback import registry
from snapback.clients import Clients
from snapback.config import Config, load_config
from snapback.errors import ConfigError, SnapbackError
from snapback.operations import approve, undo
from snapback.outcomes import Outcome, Result
from snapback.runtime import OrganizationsDirectory, OrgDirectory, Runtime, table_name, topic_arn

DEFAULT_CONFIG = "snapback.yaml"
EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 3, 130, 141
MAX_INPUT_BYTES = 64 << 20  # a CloudTrail log file is at most a few MB gzipped
MAX_NESTING = 64  # real events nest about 10 deep; more is not an event (and json would recurse)
NOT_OK = {"REJECTED", "FAILED", "ERROR"}


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("snapback")
    except PackageNotFoundError:  # a checkout on PYTHONPATH: the version pyproject.toml declares
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        found = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M) if pyproject.exists() else None
        return found.group(1) if found else "unknown"


_RELATIVE = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> str:
    """An ISO date or time, or an age (30m, 24h, 7d, 2w), as the UTC ISO time audit items compare to."""
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        return moment.astimezone(UTC).isoformat()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time: use an ISO date or time (2026-11-01, 2026-11-01T12:00Z) "
            "or an age (30m, 24h, 7d, 2w)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text, outside strings (cheap; before json parses it)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NESTING:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def read_input(path: str) -> tuple[str | None, str]:
    """The text of one input file, or None and why it cannot be used (never raises)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_INPUT_BYTES + 1)
    except OSError as err:
        return None, f"cannot read file: {err.strerror or err}"
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
                data = unzipped.read(MAX_INPUT_BYTES + 1)
        except (OSError, EOFError) as err:
            return None, f"not valid gzip: {err}"
    if len(data) > MAX_INPUT_BYTES:
        return None, f"larger than {MAX_INPUT_BYTES >> 20} MB: not an event or a CloudTrail log file"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}): events are UTF-8 JSON"
    if not text.strip():
        return None, "empty file"
    if _nesting(text) > MAX_NESTING:
        return None, f"JSON nested more than {MAX_NESTING} levels deep: not an event"
    return text, ""


def _rejected(path: str, reason: str) -> dict[str, Any]:
    return {"source": path, "remediations": [], "outcome": "REJECTED", "actions": [], "reason": reason}


def read_config(path: str | None) -> Config:
    if path is None and os.environ.get("SNAPBACK_CONFIG"):
        return Config.from_env()
    return load_config(path or DEFAULT_CONFIG, registry.names())


def build_runtime(
    config: Config, *, dry_run: bool = False, org: OrgDirectory | None = None, org_reader_role: str | None = None
) -> Runtime:
    clients = Clients(region=config.home_region, member_role_name=config.member_role_name)
    runtime = Runtime(
        config=config,
        clients=clients,
        table=table_name(config),
        topic_arn=topic_arn(config),
        org=org or OrganizationsDirectory(clients, org_reader_role or os.environ.get("SNAPBACK_ORG_READER_ROLE") or None),
        dead_letter_url=os.environ.get("SNAPBACK_DLQ_URL") or None,
        forced_mode="dry-run" if dry_run else None,
    )
    runtime.notifier.account_names = dict(config.account_names)
    return runtime


def _line(source: str, results: list[Result], member_role: str = "snapback-remediator") -> dict[str, Any]:
    first = results[0]
    worst = next((r for r in results if r.outcome is Outcome.FAILED), None) or next(
        (r for r in results if r.outcome is Outcome.REJECTED), first
    )
    reasons = []
    for r in results:
        reason = f"{r.remediation}: {r.reason}" if r.remediation else r.reason
        if r.outcome is Outcome.FAILED and "AssumeRole" in r.reason and r.target is not None:
            reason += (
                f" (fix: the member role {member_role} must exist in account {r.target.account} and trust the "
                "security account: deploy the member stack, see docs/DEPLOY.md)"
            )
        reasons.append(reason)
    return {
        "source": source,
        "remediations": [r.remediation for r in results if r.remediation],
        "outcome": worst.outcome.value,
        "actions": [a for r in results for a in r.actions],
        "reason": "; ".join(reasons),
        "results": [r.as_dict() for r in results],
    }


def handle_files(runtime: Runtime, paths: Sequence[str], out: Any = None) -> int:
    """One JSON line per input, in order; a bad file never stops the batch. Exit code: 0 when every
    input was handled, 1 when any was rejected, unreadable or FAILED, 3 on an internal error."""
    out = out or sys.stdout  # looked up now: sys.stdout may have been replaced since import
    status = EXIT_OK
    for path in paths:
        text, problem = read_input(path)
        if text is None:
            line = _rejected(path, problem)
        else:
            try:
                results = runtime.process(text)
                line = (
                    _line(path, results, runtime.config.member_role_name)
                    if results
                    else _rejected(path, "no events in the input (an empty Records list)")
                )
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
            except RecursionError:
                line = _rejected(path, "JSON nested too deeply: not an event")
            except Exception as err:  # noqa: BLE001 - an internal error is reported, never a traceback
                status = EXIT_INTERNAL
                line = {
                    "source": path,
                    "remediations": [],
                    "outcome": "ERROR",
                    "actions": [],
                    "reason": f"internal error {type(err).__name__}: {err}",
                }
        if line["outcome"] in NOT_OK and status == EXIT_OK:
            status = EXIT_REJECTED
        print(json.dumps(line, default=str), file=out, flush=True)
    return status


def preflight(runtime: Runtime) -> str | None:
    """Why commands that read or write Snapback's table cannot work here (with the fix), or None."""
    table = runtime.table
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    where = f"at {endpoint}" if endpoint else f"in the current AWS account, Region {runtime.config.home_region}"
    try:
        runtime.clients.client("dynamodb").describe_table(TableName=table)
    except NoCredentialsError:
        return (
            "no AWS credentials: real AWS needs credentials for the security account "
            "(fix: `aws sso login` / AWS_PROFILE / AWS_ACCESS_KEY_ID...; or try it locally: `snapback demo --keep` "
            "prints the exports of a local organization)"
        )
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return (
                f"Snapback's table {table!r} does not exist {where}: the security-account stack is not deployed there "
                f"(fix: deploy it, see docs/DEPLOY.md; or set SNAPBACK_TABLE to its name; or run `snapback demo --keep` "
                "and use the exports it prints)"
            )
        if code in ("AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"):
            return (
                f"cannot read Snapback's table {table!r} {where} ({code}): the credentials are not for the security "
                "account or lack dynamodb:DescribeTable (fix: use the security account's operator role)"
            )
        return f"cannot reach Snapback's table {table!r} {where}: {code or err}"
    except BotoCoreError as err:
        return f"cannot reach AWS {where}: {err} (fix: check AWS_ENDPOINT_URL and the network)"
    return None


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


def run_sweep(config: Config, args: argparse.Namespace, out: Any = None) -> int:
    """`snapback sweep`: progress per account on stderr, then the summary; 1 if any check failed."""
    out = out or sys.stdout
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


def build_parser() -> argparse.ArgumentParser:
    # Global options live on a parent parser shared by every subcommand, so that they work before or
    # after it; SUPPRESS keeps a subcommand from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help=f"path to snapback.yaml (default: ./{DEFAULT_CONFIG}, or $SNAPBACK_CONFIG JSON)",
    )
    common.add_argument(
        "--endpoint-url", default=argparse.SUPPRESS, help="AWS endpoint (e.g. the demo's moto server); default $AWS_ENDPOINT_URL"
    )
    parser = argparse.ArgumentParser(
        prog="snapback", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"snapback {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p_handle = add("handle", help="process events as the Lambda would")
    p_handle.add_argument(
        "events", nargs="+", help="event files: envelope, CloudTrail record or log file (.gz too), SNS/SQS message"
    )
    p_handle.add_argument("--dry-run", action="store_true", help="act on nothing (record and report only)")
    p_handle.add_argument("--org-reader-role", help="role ARN to assume for listing the organization's accounts")
    p_demo = add("demo", help="run the embedded demo (moto)")
    p_demo.add_argument("--report", default="demo-report.json", help="where to write the JSON report")
    p_demo.add_argument(
        "--keep", action="store_true", help="leave the demo organization running and print the exports to use it (Ctrl-C stops)"
    )
    p_undo = add("undo", help="undo a remediation by audit id")
    p_undo.add_argument("audit_id")
    p_undo.add_argument("--force", action="store_true", help="undo even though the resource changed since (drift)")
    p_approve = add("approve", help="enforce what a notify-mode outcome proposed (human approval)")
    p_approve.add_argument("audit_id")
    p_approve.add_argument("--by", default=os.environ.get("USER", "cli"), help="who approves (recorded)")
    p_backtest = add("backtest", help="what would have fired on CloudTrail logs or event folders (no AWS calls)")
    p_backtest.add_argument(
        "paths", nargs="*", help="CloudTrail log files (.json, .json.gz) or folders of them / of events (not with --athena-table)"
    )
    p_backtest.add_argument(
        "--engine", choices=["auto", "duckdb", "python"], default="auto",
        help="local engine: duckdb prefilters with SQL (default when installed), python reads every record",
    )  # fmt: skip
    p_backtest.add_argument("--athena-table", help="database.table of the organization trail's CloudTrail table in Athena")
    p_backtest.add_argument("--athena-workgroup", default="primary")
    p_backtest.add_argument("--athena-output", help="s3:// location for Athena's query results (if the workgroup sets none)")
    p_backtest.add_argument("--since", help="with --athena-table: first eventTime, ISO 8601 (e.g. 2026-09-01T00:00:00Z)")
    p_backtest.add_argument("--until", help="with --athena-table: eventTime before this, ISO 8601")
    p_backtest.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_backtest.add_argument(
        "--quiet", action="store_true", help="no progress line (there is none anyway when stderr is not a terminal or CI=true)"
    )
    p_backtest.add_argument("--accounts", default="", help="comma-separated org account ids (default: any account id)")
    p_audit = add("audit", help="list and filter decisions from the audit table (newest first)")
    p_audit.add_argument("--remediation")
    p_audit.add_argument("--account")
    p_audit.add_argument("--outcome", choices=[o.value for o in Outcome])
    p_audit.add_argument("--since", type=parse_since, help="ISO date or time (2026-11-01, 2026-11-01T12:00Z) or an age (24h, 7d)")
    p_audit.add_argument("--resource", help="part of the resource ARN")
    p_audit.add_argument("--limit", type=int, default=50)
    p_audit.add_argument("--json", action="store_true", help="one JSON object per line, with before/after and undo data")
    p_breaker = add("breaker", help="blast-radius breakers: list open ones, or reset one")
    p_breaker.add_argument("action", nargs="?", choices=["status", "reset"], default="status")
    p_breaker.add_argument("scope", nargs="?", help="account#<id> or remediation#<name> (for reset)")
    p_redrive = add("redrive", help="replay dead-lettered events; delete each only after it succeeded")
    p_redrive.add_argument(
        "--queue", default=os.environ.get("SNAPBACK_DLQ_URL"), help="queue URL or name (default $SNAPBACK_DLQ_URL)"
    )
    p_redrive.add_argument("--dry-run", action="store_true", help="show what would be replayed; change nothing")
    p_redrive.add_argument("--max", type=int, default=10_000, help="at most this many messages")
    p_sweep = add("sweep", help="reconciliation sweep: find and fix violations that no event announced")
    p_sweep.add_argument("--account", action="append", help="only this account (repeatable; default: every org account)")
    p_sweep.add_argument("--region", action="append", help="only this configured Region (repeatable)")
    p_sweep.add_argument("--remediation", action="append", choices=[r.name for r in registry.swept()], help="only this check")
    p_sweep.add_argument("--dry-run", action="store_true", help="list the violations; decide, change and record nothing")
    p_sweep.add_argument("--org-reader-role", help="role ARN to assume for listing the organization's accounts")
    p_sweep.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p_doctor = add("doctor", help="check a real deployment end to end; print what is missing and the fix")
    p_doctor.add_argument("--role", default="OrganizationAccountAccessRole", help="role to read each account with")
    add("status", help="open breakers and the latest decisions")
    add("remediations", help="list the registry")
    p_docs = add("docs", help="regenerate the README catalogue and snapback.schema.json from the registry")
    p_docs.add_argument("--check", action="store_true", help="change nothing; exit 1 if either is stale")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; output stops quietly when its reader goes away (`| head`)."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that no second error is printed.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
        return EXIT_PIPE
    except KeyboardInterrupt:
        print("snapback: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "endpoint_url", None):
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    config_path = getattr(args, "config", None)

    if args.command == "demo":
        from snapback_ops.demo import run_demo

        if args.keep:
            from snapback_ops.demo import keep_running

            return keep_running(report_path=args.report)
        return run_demo(report_path=args.report)
    if args.command == "docs":
        from snapback_ops.docs import sync

        stale = sync(check=args.check)
        verb = "stale" if args.check else "rewritten"
        print(f"{verb}: {', '.join(stale)}" if stale else "README.md catalogue and snapback.schema.json are up to date")
        return EXIT_REJECTED if stale and args.check else EXIT_OK
    if args.command == "remediations":
        for r in registry.all_remediations():
            print(
                json.dumps(
                    {
                        "name": r.name,
                        "summary": r.summary,
                        "permissions": list(r.permissions),
                        "options": dict(r.defaults),
                        "triggers": [{"id": t.id, "pattern": t.pattern} for t in r.triggers],
                    },
                    default=str,
                )
            )
        sys.stdout.flush()
        return EXIT_OK
    try:
        config = read_config(config_path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    if args.command == "doctor":
        from snapback_ops.doctor import main as doctor

        return doctor(config, args.role)
    if args.command == "backtest":
        from snapback_ops.backtest import backtest, progress_stream, render_table

        progress = progress_stream(sys.stderr, args.quiet)
        accounts = frozenset(a.strip() for a in args.accounts.split(",") if a.strip())
        if args.athena_table:
            import boto3

            from snapback_ops.backtest import backtest_athena
            from snapback_ops.engines import AthenaSource

            if args.paths:
                print("snapback backtest: give paths or --athena-table, not both", file=sys.stderr)
                return EXIT_USAGE
            source = AthenaSource(
                boto3.client("athena", region_name=config.home_region),
                args.athena_table,
                workgroup=args.athena_workgroup,
                output=args.athena_output,
            )
            summary = backtest_athena(config, source, args.since, args.until, progress, accounts=accounts).summary()
        elif not args.paths:
            print("snapback backtest: give CloudTrail log paths, or --athena-table", file=sys.stderr)
            return EXIT_USAGE
        else:
            summary = backtest(config, args.paths, progress, accounts=accounts, engine=args.engine).summary()
        print(json.dumps(summary, indent=1, default=str) if args.json else render_table(summary))
        return EXIT_REJECTED if summary.get("unreadable") or summary.get("rejected") else EXIT_OK
    if args.command == "handle":
        runtime = build_runtime(config, dry_run=args.dry_run, org_reader_role=args.org_reader_role)
        problem = preflight(runtime)
        if problem:
            print(f"snapback handle: {problem}", file=sys.stderr)
            return EXIT_REJECTED
        return handle_files(runtime, args.events)
    if args.command == "sweep":
        return run_sweep(config, args)
    runtime = build_runtime(config)
    if args.command != "redrive":
        problem = preflight(runtime)
        if problem:
            print(f"snapback {args.command}: {problem}", file=sys.stderr)
            return EXIT_REJECTED
    try:
        if args.command == "undo":
            print(json.dumps(run_undo(runtime, args.audit_id, force=args.force), default=str))
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
        return EXIT_REJECTED
    return EXIT_OK


def run_undo(runtime: Runtime, audit_id: str, *, force: bool = False) -> dict[str, Any]:
    """`undo`, with `--force` passed on only to an undo that knows it (the drift-checking undo)."""
    if "force" in inspect.signature(undo).parameters:
        return undo(runtime, audit_id, force=force)  # type: ignore[call-arg]
    if force:
        raise SnapbackError("--force needs the drift-checking undo, which this build does not have; run undo without it")
    return undo(runtime, audit_id)
