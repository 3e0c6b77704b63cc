"""Backtest engines: where the records come from, and how they are narrowed before the exact match.

- `python`: every record parsed in Python and run through the decision path (the reference).
- `duckdb` (the default for local folders): DuckDB reads the CloudTrail log files, gzipped or not,
  with its own multi-threaded JSON reader and keeps only the records that the trigger patterns'
  SQL prefilter admits, returned as their JSON text; Python decodes just those records and runs
  them through the same decision path (it never reopens a log file DuckDB read). Files that are not CloudTrail logs (single events, SNS or
  SQS-wrapped batches) and files DuckDB cannot read go to the Python engine whole, which reports
  them exactly as before.
- `athena`: the same prefilter as a query over the organization trail's CloudTrail table in Amazon
  Athena, for a history no single machine should read; the returned rows are turned back into
  records and decided the same way.

The prefilter only widens (see snapback_ops.prefilter), so every record a trigger could match is
decided alike by every engine; the tests compare them. One accounting difference: a malformed record
that no trigger could match is REJECTED by the Python engine (it validates every record) and counted
as matching nothing by the others (they never parse it).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapback_ops.prefilter import ATHENA, DUCKDB, prefilter, quote, registry_patterns

# The record fields DuckDB reads for the prefilter, as a json_transform structure (everything else
# stays unparsed). read_json_objects + json_transform, not read_json with a STRUCT column: the latter
# was about 8x slower on CloudTrail's one-object-per-file layout (measured: 6 files of 5,000 records,
# 12.4 s against 1.4 s on the same machine in the same run).
RECORD_SHAPE = json.dumps(
    [
        {
            "eventSource": "VARCHAR",
            "eventName": "VARCHAR",
            "errorCode": "VARCHAR",
            "eventType": "VARCHAR",
            "userIdentity": {"type": "VARCHAR"},
        }
    ]
)
# CloudTrail delivers a log file about every 5 minutes per account and Region; one file is a few MB
# at most; a larger file is read by the Python engine instead (DuckDB buffers twice this per thread).
MAX_OBJECT_BYTES = 32 << 20
BATCH_FILES = 64  # 256 was no faster (measured) and holds more in memory; two batches are in flight
FEW_HITS = 2
MEMORY_LIMIT = "1GB"  # flat memory however large the folder: DuckDB streams or spills within it


@dataclass
class FileScan:
    """What the prefilter found in one file: its record count, the indexes of admitted records and
    their JSON text (`texts[k]` is record `hits[k]`); `records` None means "not a CloudTrail log
    file": the Python engine reads it."""

    path: Path
    records: int | None
    hits: list[int]
    texts: list[str] = dataclasses.field(default_factory=list)


def duckdb_available() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def _bad_file(message: str, batch: Sequence[Path]) -> Path | None:
    """The file a DuckDB error names (its messages quote the path), if it is one of `batch`."""
    for match in re.finditer(r'"([^"]+)"', message):
        for path in batch:
            if match.group(1) == str(path):
                return path
    return None


class DuckDBScanner:
    """Runs the prefilter over batches of files; one connection, bounded memory and threads."""

    def __init__(self, condition: str | None = None, threads: int | None = None) -> None:
        import duckdb

        # Records whose eventSource or eventName is missing or not a plain string (json_transform turns
        # a number or an object into its text) are admitted too: the Python engine rejects them with a
        # reason (REJECTED), and the prefilter must not turn that into "matched nothing".
        self.condition = condition or (
            f"({prefilter(registry_patterns(), DUCKDB)})"
            " OR rec.eventSource IS NULL OR rec.eventName IS NULL"
            " OR NOT regexp_full_match(rec.eventName, '[A-Za-z0-9_]+')"
            " OR NOT regexp_full_match(rec.eventSource, '[a-z0-9-]+([.][a-z0-9-]+)+')"
        )
        # DuckDB's own progress bar (queries over 2 s) would write to stdout, into `--json` output: off.
        self.con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, **({"threads": threads} if threads else {})})
        self.con.execute("SET enable_progress_bar = false")
        self.error = duckdb.Error
        # The admitted records come back as their JSON text, so Python never opens, inflates or decodes
        # the file again: one json_extract per admitted record when there are a few (each parses the
        # file's text), else every record extracted in one pass and the admitted ones selected.
        self.sql = f"""
            SELECT filename, n, hits,
                   CASE WHEN len(hits) = 0 THEN NULL
                        WHEN len(hits) <= {FEW_HITS}
                        THEN list_transform(hits, lambda i: json_extract(json, '$.Records[' || i || ']'))
                        ELSE list_select(json_extract(json, '$.Records[*]'), list_transform(hits, lambda i: i + 1))
                   END AS texts
              FROM (SELECT filename, json, len(recs) AS n,
                           (SELECT list(i ORDER BY i)
                              FROM (SELECT unnest(range(len(recs))) AS i, unnest(recs) AS rec)
                             WHERE {self.condition}) AS hits
                      FROM (SELECT filename, json,
                                   json_transform(json_extract(json, '$.Records'), {quote(RECORD_SHAPE)}) AS recs
                              FROM read_json_objects(?, filename=true, format='{{format}}',
                                                     maximum_object_size={MAX_OBJECT_BYTES})))
        """
        # CloudTrail writes each log file as one JSON object on one line: read as newline-delimited, the
        # reader need not look for objects across lines (measured: the scan about 15% faster). A batch
        # with a file that is not (pretty-printed JSON, say) is read again with format detection.
        self.sql_lines = self.sql.replace("{format}", "newline_delimited")
        self.sql = self.sql.replace("{format}", "auto")

    def scan(self, batch: Sequence[Path]) -> list[FileScan]:
        """Scan `batch`; a file DuckDB cannot read (malformed, odd types) comes back as not-CloudTrail
        so that the Python engine reports or reads it."""
        pending = list(batch)
        out: list[FileScan] = []
        try:
            rows = self.con.execute(self.sql_lines, [[str(p) for p in pending]]).fetchall()
        except self.error:
            pass  # not every file is one line: the loop below reads the batch with format detection
        else:
            by_name = {str(p): p for p in pending}
            return [FileScan(by_name[name], n, list(hits or []), list(texts or [])) for name, n, hits, texts in rows]
        while pending:
            try:
                rows = self.con.execute(self.sql, [[str(p) for p in pending]]).fetchall()
            except self.error as err:
                bad = _bad_file(str(err), pending)
                if bad is None:  # not attributable to one file: read each on its own
                    if len(pending) == 1:
                        return [*out, FileScan(pending[0], None, [])]
                    for path in pending:
                        out.extend(self.scan([path]))
                    return out
                out.append(FileScan(bad, None, []))
                pending.remove(bad)
                continue
            by_name = {str(p): p for p in pending}
            out.extend(FileScan(by_name[name], n, list(hits or []), list(texts or [])) for name, n, hits, texts in rows)
            pending = []
        return out


def scan_files(
    files: Sequence[Path], scanner: DuckDBScanner, batch: int = BATCH_FILES, on_batch: Callable[[int], None] | None = None
) -> Iterator[FileScan]:
    """The scans of `files`, batch by batch, in order. DuckDB scans the next batch on a worker thread
    (it releases the GIL) while the caller decides the admitted records of this one, so the scan and
    the decisions overlap; one batch ahead at most, so memory stays bounded."""
    chunks = [files[start : start + batch] for start in range(0, len(files), batch)]
    if not chunks:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-scan") as pool:
        ahead = pool.submit(scanner.scan, chunks[0])
        done = 0
        for index, chunk in enumerate(chunks):
            scans = ahead.result()
            if index + 1 < len(chunks):
                ahead = pool.submit(scanner.scan, chunks[index + 1])
            yield from scans
            done += len(chunk)
            if on_batch is not None:
                on_batch(done)


# -- Athena ------------------------------------------------------------------------------------------
# The columns of AWS's CloudTrail table read back, and how each becomes a record field again. Nested
# JSON documents (requestParameters, responseElements, additionalEventData) are strings in that table.
ATHENA_SELECT = (
    ("eventversion", "eventVersion", "text"),
    ("eventtime", "eventTime", "text"),
    ("eventsource", "eventSource", "text"),
    ("eventname", "eventName", "text"),
    ("awsregion", "awsRegion", "text"),
    ("sourceipaddress", "sourceIPAddress", "text"),
    ("useragent", "userAgent", "text"),
    ("errorcode", "errorCode", "text"),
    ("errormessage", "errorMessage", "text"),
    ("eventid", "eventID", "text"),
    ("eventtype", "eventType", "text"),
    ("recipientaccountid", "recipientAccountId", "text"),
    ("useridentity.type", "userIdentity.type", "text"),
    ("useridentity.principalid", "userIdentity.principalId", "text"),
    ("useridentity.arn", "userIdentity.arn", "text"),
    ("useridentity.accountid", "userIdentity.accountId", "text"),
    ("useridentity.invokedby", "userIdentity.invokedBy", "text"),
    ("useridentity.sessioncontext.sessionissuer.arn", "userIdentity.sessionContext.sessionIssuer.arn", "text"),
    ("useridentity.sessioncontext.sourceidentity", "userIdentity.sessionContext.sourceIdentity", "text"),
    ("requestparameters", "requestParameters", "json"),
    ("responseelements", "responseElements", "json"),
    ("additionaleventdata", "additionalEventData", "json"),
)


def athena_query(table: str, since: str | None = None, until: str | None = None) -> str:
    """The Athena SQL: the prefilter over the CloudTrail table, with an optional eventtime window
    (ISO 8601 strings compare in time order, as CloudTrail writes them)."""
    if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?", table):
        raise ValueError(f"athena table {table!r}: expected database.table (letters, digits, underscores)")
    where = [f"({prefilter(registry_patterns(), ATHENA)})"]
    if since:
        where.append(f"eventtime >= {quote(since)}")
    if until:
        where.append(f"eventtime < {quote(until)}")
    columns = ", ".join(f'{column} AS "{field}"' for column, field, _ in ATHENA_SELECT)
    return f"SELECT {columns}\n  FROM {table}\n WHERE " + "\n   AND ".join(where)


def record_from_row(row: Sequence[str | None]) -> dict[str, Any]:
    """A CloudTrail record rebuilt from one Athena result row (in ATHENA_SELECT order)."""
    record: dict[str, Any] = {}
    for (_, field, kind), value in zip(ATHENA_SELECT, row, strict=False):
        if value is None or value == "":
            continue
        if kind == "json":
            try:
                parsed: Any = json.loads(value)
            except json.JSONDecodeError:
                parsed = value
        else:
            parsed = value
        node = record
        *parents, leaf = field.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = parsed
    return record


@dataclass
class AthenaSource:
    """Runs the query in Athena and yields the records of its result, page by page."""

    client: Any
    table: str
    workgroup: str = "primary"
    output: str | None = None
    poll_seconds: float = 1.0
    timeout_seconds: float = 3600.0
    sleep: Callable[[float], None] = time.sleep

    def records(self, since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"QueryString": athena_query(self.table, since, until), "WorkGroup": self.workgroup}
        if self.output:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output}
        query_id = self.client.start_query_execution(**kwargs)["QueryExecutionId"]
        waited = 0.0
        while True:
            status = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                break
            if state in ("FAILED", "CANCELLED"):
                raise RuntimeError(f"athena query {query_id} {state}: {status.get('StateChangeReason', 'no reason given')}")
            if waited >= self.timeout_seconds:
                raise TimeoutError(f"athena query {query_id} still {state} after {self.timeout_seconds:.0f} s")
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds
        first = True
        for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            rows = page["ResultSet"]["Rows"]
            if first:  # the first row of the first page holds the column names
                rows, first = rows[1:], False
            for row in rows:
                yield record_from_row([cell.get("VarCharValue") for cell in row["Data"]])
