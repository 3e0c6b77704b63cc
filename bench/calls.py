"""AWS calls per remediation: every must-fire fixture case, by service:operation, beside the budget.

1. The fixture sweep: the remediation tests' own `test_fixture_case` for every case that must
   fire, run by pytest with tests/perf/fixture_calls.py, which counts the calls of the case's event
   (a fresh runtime each: cold, so assume-role and the organization lookup are included).
2. The workloads (tests/perf/workloads.py) under moto: a cold and a warm event, split by phase.

    .venv/bin/python bench/calls.py [--no-fixtures]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from common import ROOT, save

PLATFORM = {"sts", "organizations", "dynamodb", "sns", "securityhub", "sqs"}


def phase(call: str) -> str:
    service, operation = call.split(":", 1)
    if service in ("sts", "organizations"):
        return "credentials and organization"
    if service == "dynamodb":
        return "ledger, breaker, audit"
    if service == "sns":
        return "notify"
    if service == "securityhub":
        return "finding"
    if service == "sqs":
        return "dead letter"
    return "member: inspect, act, verify"


def fixture_sweep() -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "calls.jsonl"
        env = {**os.environ, "SNAPBACK_CALLS_OUT": str(out)}
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.perf.fixture_calls",
            "tests/remediations",
            "-k",
            "test_fixture_case",
        ]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        return [json.loads(line) for line in out.read_text().splitlines()]


def workload_counts() -> dict[str, dict[str, object]]:
    from moto import mock_aws

    from snapback import registry
    from snapback_ops.demo import build_org
    from tests.perf import calls
    from tests.perf.workloads import WORKLOADS, bench_runtime

    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    rows = {}
    with mock_aws():
        org = build_org()
        for name, workload in sorted(WORKLOADS.items()):
            runtime = bench_runtime(org, name)
            counted = []
            for i in range(2):
                event = workload.prepare(org, i)
                with calls.recording() as recording:
                    runtime.process(event, remediations=[name])
                counted.append(recording.calls)
            cold, warm = counted
            phases: Counter[str] = Counter()
            for call, n in cold.items():
                phases[phase(call)] += n
            rows[name] = {
                "budget": registry.get(name).call_budget,
                "cold": sum(cold.values()),
                "warm": sum(warm.values()),
                "cold_calls": dict(sorted(cold.items())),
                "warm_calls": dict(sorted(warm.items())),
                "phases": dict(phases),
            }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-fixtures", action="store_true")
    args = parser.parse_args()
    rows = workload_counts()
    fixtures: dict[str, dict[str, object]] = {}
    if not args.no_fixtures:
        by: dict[str, list[dict[str, object]]] = defaultdict(list)
        for line in fixture_sweep():
            by[str(line["remediation"])].append(line)
        for name, cases in sorted(by.items()):
            worst = max(cases, key=lambda c: int(c["total"]))  # type: ignore[call-overload]
            fixtures[name] = {
                "cases": len(cases),
                "max": worst["total"],
                "max_case": worst["case"],
                "by_outcome": {
                    o: max(int(c["total"]) for c in cases if c["outcome"] == o)  # type: ignore[call-overload]
                    for o in sorted({str(c["outcome"]) for c in cases})
                },
                "all": cases,
            }
    for name, row in rows.items():
        extra = fixtures.get(name, {})
        print(
            f"{name:<32} budget {row['budget']:>3}  workload cold {row['cold']:>3} warm {row['warm']:>3}  "
            f"fixture max {extra.get('max', '-')!s:>3} over {extra.get('cases', 0)} cases  {row['phases']}"
        )
    save("calls", {"workloads": rows, "fixtures": fixtures})


if __name__ == "__main__":
    main()
