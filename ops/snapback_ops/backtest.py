"""Backtest: what would Snapback have done with these logs? Evidence before switching to enforce.

Reads CloudTrail log files (`{"Records": [...]}`, gzipped or not) and event folders, runs every
record through the real trigger patterns and the real decision path (guards, resolve, exemptions,
mode) with no AWS calls, and counts what would have fired, per remediation and account.

It streams: files one at a time, and inside a file the records one at a time (an incremental JSON
decoder over a bounded buffer), so memory stays flat however large the folder or the file.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from snapback.clients import Clients
from snapback.config import Config
from snapback.events import is_account_id
from snapback.outcomes import Outcome, Result
from snapback.runtime import Runtime
from snapback_ops import engines

CHUNK = 1 << 16
MAX_BUFFER = 8 << 20  # one record larger than this is not CloudTrail


@dataclass
class AnyOrgAccount:
    """Offline stand-in for the organization: any well-formed account id, or an explicit list."""

    members: frozenset[str] = frozenset()

    def contains(self, account: str) -> bool:
        return account in self.members if self.members else is_account_id(account)

    def accounts(self) -> set[str]:
        return set(self.members)


def input_files(paths: Iterable[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and (p.suffix in (".json", ".gz")))
        else:
            yield path


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def iter_records(stream: IO[str]) -> Iterator[Any]:
    """Each element of the top-level "Records" array, decoded one at a time; or the whole document.

    The buffer holds at most one chunk plus one record: decoded records are skipped by index and
    the consumed prefix is dropped only when more input is needed (no quadratic copying).
    """
    decoder = json.JSONDecoder()
    buffer = stream.read(CHUNK)
    start = buffer.find('"Records"')
    if start < 0:
        yield json.loads(buffer + stream.read())  # a single event document (envelope, record, finding)
        return
    while (bracket := buffer.find("[", start)) < 0:
        more = stream.read(CHUNK)
        if not more:
            raise ValueError('"Records" is not followed by an array')
        buffer += more
    index = bracket + 1
    while True:
        while index < len(buffer) and buffer[index] in " \t\r\n,":
            index += 1
        if index >= len(buffer):
            more = stream.read(CHUNK)
            if not more:
                raise ValueError("unterminated Records array")
            buffer, index = buffer[index:] + more, 0
            continue
        if buffer[index] == "]":
            return
        try:
            record, index = decoder.raw_decode(buffer, index)
        except json.JSONDecodeError:
            more = stream.read(CHUNK)
            if not more or len(buffer) - index > MAX_BUFFER:
                raise
            buffer, index = buffer[index:] + more, 0
            continue
        yield record


@dataclass
class Tally:
    files: int = 0
    records: int = 0
    unreadable: list[str] = field(default_factory=list)
    rejected_inputs: list[str] = field(default_factory=list)  # "<file>: <reason>", one per rejected record
    fired: Counter[tuple[str, str]] = field(default_factory=Counter)  # (remediation, account)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (remediation, outcome)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (remediation, reason)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, results: list[Result]) -> None:
        for r in results:
            name = r.remediation or "-"
            self.outcomes[(name, r.outcome.value)] += 1
            if r.remediation is None:
                continue
            if r.outcome in (Outcome.DRY_RUN, Outcome.NOTIFIED):
                self.fired[(name, r.target.account if r.target else "?")] += 1
                examples = self.examples.setdefault(name, [])
                if len(examples) < 3:
                    examples.append(
                        {"event_id": r.event_id, "resource": r.target.resource_arn if r.target else None, "actions": r.actions}
                    )
            else:
                self.reasons[(name, r.reason.split(":")[0])] += 1

    def summary(self) -> dict[str, Any]:
        per: dict[str, dict[str, Any]] = {}
        for (name, account), n in sorted(self.fired.items()):
            entry = per.setdefault(
                name, {"would_fire": 0, "accounts": {}, "not_fired": {}, "examples": self.examples.get(name, [])}
            )
            entry["would_fire"] += n
            entry["accounts"][account] = n
        for (name, reason), n in sorted(self.reasons.items()):
            per.setdefault(name, {"would_fire": 0, "accounts": {}, "not_fired": {}, "examples": []})["not_fired"][reason] = n
        return {
            "files": self.files,
            "records": self.records,
            "unreadable": self.unreadable,
            "remediations": per,
            "routed_nowhere": self.outcomes.get(("-", Outcome.SKIPPED.value), 0),
            "rejected": sum(n for (_, o), n in self.outcomes.items() if o == Outcome.REJECTED.value),
            "rejected_inputs": self.rejected_inputs,
        }


def offline_runtime(config: Config, accounts: frozenset[str] = frozenset()) -> Runtime:
    """The decision path with no AWS: dry-run, nothing recorded, any well-formed account a member."""
    return Runtime(
        config=config,
        clients=Clients(region=config.home_region),
        table="-",
        topic_arn="-",
        org=AnyOrgAccount(accounts),
        forced_mode="dry-run",
        offline=True,
    )


def progress_stream(stream: IO[str] = sys.stderr, quiet: bool = False) -> IO[str] | None:
    """Where the progress line goes: `stream` when a person watches it (a terminal), else nowhere
    (piped or redirected output, `--quiet`, CI=true)."""
    if quiet or os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return None
    try:
        return stream if stream.isatty() else None
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return None


@dataclass
class Progress:
    """Files and records done, would fire, records per second. On a terminal one line rewritten in
    place (with a bar when the number of files is known); on any other stream a line every `every`
    seconds."""

    stream: IO[str] | None
    total_files: int | None = None
    every: float = 2.0
    started: float = field(default_factory=time.monotonic)
    last: float = field(default_factory=time.monotonic)
    width: int = 20

    def __post_init__(self) -> None:
        try:
            self.tty = bool(self.stream is not None and self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        if self.tty:
            self.every = min(self.every, 0.2)

    def line(self, tally: Tally, where: str = "") -> str:
        rate = tally.records / max(time.monotonic() - self.started, 1e-9)
        if self.total_files:
            done = min(tally.files / self.total_files, 1.0)
            filled = round(done * self.width)
            files = f"[{'#' * filled}{'.' * (self.width - filled)}] {tally.files}/{self.total_files} files"
        else:
            files = f"{tally.files} files"
        return f"backtest: {files}, {tally.records:,} records, {sum(tally.fired.values())} would fire, {rate:,.0f} records/s" + (
            f" ({where})" if where and not self.tty else ""
        )

    def tick(self, tally: Tally, where: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if self.stream is None or (not force and now - self.last < self.every):
            return
        self.last = now
        if self.tty:  # rewrite the line; the last one ("done") ends it
            end = "\n" if where == "done" else ""
            print(f"\r{self.line(tally)}\x1b[K", end=end, file=self.stream, flush=True)
        else:
            print(self.line(tally, where), file=self.stream, flush=True)


def _decide(record: Any, path: Path, runtime: Runtime, tally: Tally) -> None:
    """One record through the decision path; a rejected one is named with its file and reason."""
    if isinstance(record, dict) and ("Sns" in record or ("body" in record and "eventSource" in record)):
        record = {"Records": [record]}  # one SNS/SQS delivery of an event, not a CloudTrail record
    results = runtime.process(record)
    tally.add(results)
    tally.rejected_inputs += [f"{path}: {r.reason}"[:300] for r in results if r.outcome is Outcome.REJECTED]


def _python_file(path: Path, runtime: Runtime, tally: Tally, progress: Progress) -> None:
    """Every record of one file through the decision path (the reference engine)."""
    try:
        with _open(path) as stream:
            for record in iter_records(stream):
                tally.records += 1
                _decide(record, path, runtime, tally)
                progress.tick(tally, path.name)
    except (OSError, ValueError, EOFError) as err:
        tally.unreadable.append(f"{path}: {type(err).__name__}: {err}"[:300])


def backtest(
    config: Config,
    paths: Iterable[str],
    progress: IO[str] | None = None,
    every: float = 2.0,
    accounts: frozenset[str] = frozenset(),
    engine: str = "auto",
) -> Tally:
    """What would have fired on these files. `engine`: "python" (every record in Python), "duckdb"
    (the SQL prefilter first; see snapback_ops.engines) or "auto" (duckdb when it is installed).
    `progress`: where the progress line goes (none by default; the CLI passes `progress_stream()`)."""
    if engine == "auto":
        engine = "duckdb" if engines.duckdb_available() else "python"
    if engine not in ("python", "duckdb"):
        raise ValueError(f"engine {engine!r}: expected python, duckdb or auto")
    runtime = offline_runtime(config, accounts)
    tally = Tally()
    files = list(input_files(paths))
    ticker = Progress(progress, total_files=len(files), every=every)
    if engine == "python":
        for path in files:
            tally.files += 1
            _python_file(path, runtime, tally, ticker)
    else:
        for scan in engines.scan_files(files, engines.DuckDBScanner()):
            tally.files += 1
            if scan.records is None:  # not a CloudTrail log file, or one DuckDB cannot read
                _python_file(scan.path, runtime, tally, ticker)
                continue
            tally.records += scan.records
            # Records the prefilter leaves out match no trigger (it only ever widens): routed nowhere.
            tally.outcomes[("-", Outcome.SKIPPED.value)] += scan.records - len(scan.hits)
            for text in scan.texts:  # the admitted records, as DuckDB read them
                _decide(json.loads(text), scan.path, runtime, tally)
            ticker.tick(tally, scan.path.name)
    ticker.tick(tally, "done", force=True)
    return tally


def backtest_athena(
    config: Config,
    source: engines.AthenaSource,
    since: str | None = None,
    until: str | None = None,
    progress: IO[str] | None = None,
    accounts: frozenset[str] = frozenset(),
) -> Tally:
    """The organization trail's history through Athena: the prefilter runs there, the exact match here."""
    runtime = offline_runtime(config, accounts)
    tally = Tally()
    ticker = Progress(progress)
    for record in source.records(since, until):
        tally.records += 1
        tally.add(runtime.process(record))
        ticker.tick(tally, "athena")
    ticker.tick(tally, "done", force=True)
    return tally


def render_table(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['files']} files, {summary['records']} records; "
        f"{summary['routed_nowhere']} matched no trigger, {summary['rejected']} rejected"
    ]
    for name, entry in sorted(summary["remediations"].items()):
        lines.append(f"\n{name}: would fire {entry['would_fire']} time(s)")
        for account, n in sorted(entry["accounts"].items()):
            lines.append(f"    account {account}: {n}")
        for reason, n in sorted(entry["not_fired"].items(), key=lambda kv: -kv[1]):
            lines.append(f"    not fired ({reason}): {n}")
    for line in summary.get("rejected_inputs", [])[:20]:
        lines.append(f"rejected: {line}")
    if summary["unreadable"]:
        lines.append("\nunreadable: " + "; ".join(summary["unreadable"][:10]))
    return "\n".join(lines)
