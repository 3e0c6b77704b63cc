"""Warm per-event latency per remediation against a moto server, split into AWS time and our own.

One runtime per remediation (a warm Lambda container), one cold event to warm it, then N events,
each naming a fresh resource (tests/perf/workloads.py), so every one is a real remediation and
never a duplicate skip. Per event: wall time of `Runtime.process`, time inside botocore calls
(tests/perf/calls.py hooks), and the rest: Snapback's own time. Medians and p95.

    .venv/bin/python bench/warm_latency.py [--events 100]
"""

from __future__ import annotations

import argparse
import time

from common import median, ms, p95, save


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()

    from snapback_ops.demo import build_org, local_aws
    from tests.perf import calls
    from tests.perf.workloads import WORKLOADS, bench_runtime, fresh_table

    rows = {}
    with local_aws():
        org = build_org()
        for name, workload in sorted(WORKLOADS.items()):
            if args.only and name not in args.only:
                continue
            fresh_table(org)
            runtime = bench_runtime(org, name)
            runtime.process(workload.prepare(org, 0), remediations=[name])  # the cold event
            totals, aws, own, counts, outcomes = [], [], [], [], set()
            for i in range(1, args.events + 1):
                if i % 20 == 0:  # keep moto's table small (see fresh_table): its cost is moto's, not DynamoDB's
                    fresh_table(org)
                event = workload.prepare(org, i)
                with calls.recording() as recording:
                    start = time.perf_counter()
                    (result,) = runtime.process(event, remediations=[name])
                    total = time.perf_counter() - start
                totals.append(total)
                aws.append(recording.aws_seconds)
                own.append(total - recording.aws_seconds)
                counts.append(recording.total)
                outcomes.add(result.outcome.value)
            rows[name] = {
                "events": args.events,
                "outcomes": sorted(outcomes),
                "calls_per_event": median(counts),
                "total_median_ms": ms(median(totals)),
                "total_p95_ms": ms(p95(totals)),
                "aws_median_ms": ms(median(aws)),
                "own_median_ms": ms(median(own)),
                "own_p95_ms": ms(p95(own)),
            }
            r = rows[name]
            print(
                f"{name:<32} {'/'.join(r['outcomes']):<11} calls {r['calls_per_event']:>4}  total {r['total_median_ms']:7.1f} ms "
                f"(p95 {r['total_p95_ms']:7.1f})  aws {r['aws_median_ms']:7.1f}  own {r['own_median_ms']:5.2f} ms "
                f"(p95 {r['own_p95_ms']:5.2f})",
                flush=True,
            )
    save("warm_latency", {"events": args.events, "remediations": rows})


if __name__ == "__main__":
    main()
