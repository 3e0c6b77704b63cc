"""Burst: 1,000 mixed events through the local pipeline (moto EventBridge -> SQS -> handler).

Runs `tests.reliability.burst.run_burst` in a fresh child process so that its peak memory is the
burst's own: ru_maxrss of the child, and the tracemalloc peak of Python allocations during it.

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
tracemalloc.start()
report = run_burst({n})
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({{"report": report.as_dict(), "tracemalloc_peak": peak,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}, default=str))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    code = CHILD.format(root=str(ROOT), layers=str(ROOT / "layers"), n=args.events)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    data = json.loads(done.stdout.strip().splitlines()[-1])
    report = data["report"]
    seconds = float(report["seconds"])
    row = {
        "sent": report["sent"],
        "delivered": report["delivered"],
        "lost": report["lost"],
        "dead_lettered": report["dead_lettered"],
        "outcomes": report["outcomes"],
        "seconds": round(seconds, 2),
        "events_per_second": round(int(report["sent"]) / seconds, 1) if seconds else None,
        "maxrss_mib": round(data["maxrss_kib"] / 1024, 1),
        "tracemalloc_peak_mib": round(data["tracemalloc_peak"] / 2**20, 1),
    }
    print(json.dumps(row, indent=2))
    save("burst", row)


if __name__ == "__main__":
    main()
