"""Burst: 1,000 mixed events through the local pipeline (moto EventBridge -> SQS -> handler).

Runs `tests.reliability.burst.run_burst` in fresh child processes so that its peak memory is the
burst's own: one plain run for events/s and ru_maxrss, one traced run for the tracemalloc peak of
Python allocations (tracing slows every allocation, so its run is never timed).

    .venv/bin/python bench/burst.py [--events 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import ROOT, save

CHILD = """
import json, resource, sys, time, tracemalloc
sys.path[:0] = [{root!r}, {layers!r}]
from tests.reliability.burst import run_burst
if {traced}:
    tracemalloc.start()
report = run_burst({n})
peak = tracemalloc.get_traced_memory()[1] if {traced} else 0
tracemalloc.stop()
print(json.dumps({{"report": report.as_dict(), "tracemalloc_peak": peak,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}, default=str))
"""


def child(events: int, traced: bool) -> dict:
    code = CHILD.format(root=str(ROOT), layers=str(ROOT / "layers"), n=events, traced=traced)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    data = child(args.events, traced=False)
    traced = child(args.events, traced=True)
    report = data["report"]
    seconds = float(report["seconds"])
    row = {
        "sent": report["sent"],
        "entered": report["entered"],
        "routed": report["routed"],
        "delivered": report["delivered"],
        "malformed_sent": report["malformed_sent"],
        "duplicates_sent": report["duplicates_sent"],
        "lost": report["lost"],
        "dead_lettered": report["dead_lettered"],
        "outcomes": report["outcomes"],
        "seconds": round(seconds, 2),
        "events_per_second": round(int(report["sent"]) / seconds, 1) if seconds else None,
        "maxrss_mib": round(data["maxrss_kib"] / 1024, 1),
        "tracemalloc_peak_mib": round(traced["tracemalloc_peak"] / 2**20, 1),
        "lost_traced_run": traced["report"]["lost"],
    }
    print(json.dumps(row, indent=2))
    save("burst", row)


if __name__ == "__main__":
    main()
