"""Backtest throughput: the Python engine against DuckDB on one organization trail corpus.

A deterministic organization trail (tests/perf/trail_corpus.py: CloudTrail log files, gzipped, a
few hundred records each, mostly read-only noise and ~0.5% trigger-relevant records from the public
sample events and the fixtures) is written once; then each engine backtests it in a fresh process
per run, the engines interleaved, medians of N. Per run: the backtest's wall time in the child
(config loaded, before `backtest()` to its summary: imports and interpreter start excluded; the
process wall is kept beside it), the child's peak RSS (ru_maxrss: Python, DuckDB's native memory
and all), the decisions (outcomes per remediation, would fire per account, reasons). Every run of
every engine must reach the same decisions, or the script fails.

Flat memory: DuckDB alone on two more corpus sizes (default 100k and 400k records), peak RSS each.
The 90-day organization figure is a linear extrapolation of the measured records/s, nothing more.

    .venv/bin/python bench/backtest.py [--records 200000] [--runs 3] [--memory-sizes 100000 400000]
                                       [--corpus-dir DIR] [--engines python duckdb]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, median, save

ORG_EVENTS_PER_DAY = 10_000_000
ORG_DAYS = 90
CHILD = """
import json, resource, sys, time
from snapback.config import load_config
from snapback_ops.backtest import backtest
from tests.perf.trail_corpus import decisions
config = load_config({config!r})
t0 = time.perf_counter()
tally = backtest(config, [{path!r}], progress=None, engine={engine!r})
seconds = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "maxrss_kib": rss, "decisions": decisions(tally)}}))
"""


def child_env() -> dict[str, str]:
    """The worktree's code first (the shared venv's editable install may point at another checkout)."""
    path = os.pathsep.join(str(p) for p in (ROOT, ROOT / "layers", ROOT / "ops"))
    return {**os.environ, "PYTHONPATH": path, "CI": "true"}


def run_engine(engine: str, corpus: Path) -> dict[str, Any]:
    code = CHILD.format(config=str(ROOT / "snapback.yaml"), path=str(corpus), engine=engine)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{engine} backtest failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "seconds": out["seconds"],
        "process_seconds": wall,
        "peak_mib": out["maxrss_kib"] / 1024,
        "decisions": out["decisions"],
        "load_average": load,
    }


def corpus_at(base: Path, records: int, seed: int, hit_rate: float) -> tuple[Path, dict[str, Any]]:
    """The corpus for these parameters, written once (kept in `base` when it is given)."""
    from tests.perf.trail_corpus import write_corpus

    folder = base / f"trail-{records}-s{seed}-h{hit_rate}"
    meta = folder / "corpus.json"
    if meta.exists():
        return folder, json.loads(meta.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    corpus = write_corpus(folder / "logs", records=records, seed=seed, hit_rate=hit_rate).as_dict()
    corpus["generated_seconds"] = round(time.perf_counter() - started, 1)
    meta.write_text(json.dumps(corpus))
    return folder, corpus


def summarise(samples: list[dict[str, Any]], records: int) -> dict[str, Any]:
    wall = median([s["seconds"] for s in samples])
    return {
        "runs": len(samples),
        "wall_s_median": round(wall, 2),
        "wall_s": [round(s["seconds"], 2) for s in samples],
        "process_s_median": round(median([s["process_seconds"] for s in samples]), 2),
        "records_per_s": round(records / wall),
        "peak_mib_median": round(median([s["peak_mib"] for s in samples]), 1),
        "peak_mib_max": round(max(s["peak_mib"] for s in samples), 1),
        "load_average_during": [round(s["load_average"], 2) for s in samples],
    }


def same_decisions(label: str, reference: dict[str, Any], other: dict[str, Any]) -> None:
    if other != reference:
        keys = sorted(k for k in set(reference) | set(other) if reference.get(k) != other.get(k))
        detail = {k: {"reference": reference.get(k), label: other.get(k)} for k in keys}
        raise SystemExit(f"DECISIONS DIFFER ({label}):\n{json.dumps(detail, indent=1, sort_keys=True)[:6000]}")


def hours(records_per_s: float) -> float:
    return round(ORG_EVENTS_PER_DAY * ORG_DAYS / records_per_s / 3600, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[100_000, 400_000])
    parser.add_argument("--engines", nargs="*", default=["python", "duckdb"])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--hit-rate", type=float, default=0.005)
    parser.add_argument("--corpus-dir", type=Path, help="keep the generated corpora here (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="snapback-trail-") as tmp:
        base = args.corpus_dir or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        folder, corpus = corpus_at(base, args.records, args.seed, args.hit_rate)
        print(f"corpus: {corpus['records']:,} records in {corpus['files']} files, {corpus['bytes_gz'] / 2**20:.1f} MiB gzipped")
        samples: dict[str, list[dict[str, Any]]] = {e: [] for e in args.engines}
        reference: dict[str, Any] | None = None
        for run in range(args.runs):
            order = args.engines if run % 2 == 0 else list(reversed(args.engines))
            for engine in order:
                sample = run_engine(engine, folder / "logs")
                reference = reference or sample["decisions"]
                same_decisions(f"{engine} run {run + 1}", reference, sample["decisions"])
                samples[engine].append(sample)
                print(f"  run {run + 1} {engine}: {sample['seconds']:.2f} s, {sample['peak_mib']:.0f} MiB", flush=True)
        engines = {e: summarise(s, corpus["records"]) for e, s in samples.items()}
        assert reference is not None

        memory = []
        for size in args.memory_sizes:
            sized, meta = corpus_at(base, size, args.seed, args.hit_rate)
            runs = [run_engine("duckdb", sized / "logs") for _ in range(max(1, min(args.runs, 2)))]
            print(f"  memory {size:,} records: {[round(r['peak_mib']) for r in runs]} MiB", flush=True)
            memory.append(
                {
                    "records": meta["records"],
                    "files": meta["files"],
                    "peak_mib_max": round(max(r["peak_mib"] for r in runs), 1),
                    "records_per_s": round(meta["records"] / median([r["seconds"] for r in runs])),
                }
            )

    python, duck = engines.get("python"), engines.get("duckdb")
    ratio = round(duck["records_per_s"] / python["records_per_s"], 1) if python and duck else None
    peaks = [m["peak_mib_max"] for m in memory]
    result = {
        "corpus": {k: v for k, v in corpus.items() if k != "root"} | {"seed": args.seed, "hit_rate": args.hit_rate},
        "engines": engines,
        "ratio_duckdb_to_python": ratio,
        "decisions": reference,
        "same_decisions": True,
        "memory_by_size": memory,
        "memory_growth_mib": round(peaks[-1] - peaks[0], 1) if len(peaks) > 1 else None,
        "cpus": os.cpu_count(),
        "extrapolation": {
            "events": ORG_EVENTS_PER_DAY * ORG_DAYS,
            "what": f"{ORG_DAYS} days x {ORG_EVENTS_PER_DAY:,} events/day at the measured records/s on this machine "
            "(linear; local files, S3 download not included): an extrapolation, not a measurement",
            "hours": {e: hours(r["records_per_s"]) for e, r in engines.items()},
        },
    }
    path = save("backtest", result)
    for e, r in engines.items():
        print(f"{e}: {r['records_per_s']:,} records/s (median {r['wall_s_median']} s), peak {r['peak_mib_max']} MiB")
    print(f"ratio duckdb/python: {ratio}; memory by size: {memory}; wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
