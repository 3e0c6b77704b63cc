"""Cold start per remediation function: whole-process time to import its handler and handle a first event.

Against a moto server holding the demo organization, each sample starts a fresh Python process
with the function's environment (SNAPBACK_REMEDIATION, the function role's credentials) that
imports `functions/remediate/handler.py` and handles one real-format, must-fire event naming a
fresh resource (tests/perf/workloads.py: inspect, act, verify, audit, SNS, Security Hub). The
floor, `import boto3; boto3.client("s3")`, is measured in the same run, interleaved. Medians of
N fresh processes per function. The AWS calls of each first event are counted in the child.

    .venv/bin/python bench/cold_start.py [--runs 10] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, lambda_models, median, ms, save

HANDLER = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {functions!r})
from handler import handler
t1 = time.perf_counter()
if {count!r}:
    sys.path.insert(0, {root!r})
    from tests.perf import calls
    counting = calls.recording()
    recording = counting.__enter__()
out = handler(json.load(open({event!r})), None)
t2 = time.perf_counter()
n = recording.total if {count!r} else None
print(json.dumps({{"import": t1 - t0, "first_event": t2 - t1, "outcome": out[0]["outcome"], "calls": n}}))
"""
FLOOR = "import boto3; boto3.client('s3', region_name='us-east-1')"


def stock(env: dict[str, str]) -> dict[str, str]:
    """The floor's environment: botocore's own models (AWS_DATA_PATH is a Snapback lever, not the floor's)."""
    return {k: v for k, v in env.items() if k != "AWS_DATA_PATH"}


CPU: list[float] = []  # CPU seconds (user + system) of each child, in the order run: load moves it far less than wall


def wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--profile", metavar="DIR", help="also write a cProfile of each function's last process to DIR")
    args = parser.parse_args()

    from snapback import member_role
    from snapback_ops.demo import build_org, local_aws, session_in
    from tests.perf.workloads import OPEN_BREAKER, WORKLOADS, fresh_table, write_membership

    rows: dict[str, dict[str, object]] = {}
    floors: list[float] = []
    with local_aws() as endpoint, tempfile.TemporaryDirectory() as tmp:
        org = build_org()
        write_membership(org)  # the sweep keeps it written in a deployment: a cold process reads one item
        models = lambda_models(Path(tmp))  # AWS_DATA_PATH as in Lambda (the floor keeps botocore's own)
        config_json = dataclasses.replace(org.config, breaker=OPEN_BREAKER).to_json()
        for name, workload in sorted(WORKLOADS.items()):
            if args.only and name not in args.only:
                continue
            fresh_table(org)  # moto copies the whole table per transaction: each function starts from an empty one
            creds = session_in(org.security, member_role.remediator_role_name(name)).get_credentials()
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SNAPBACK_"))},
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": creds.access_key,
                "AWS_SECRET_ACCESS_KEY": creds.secret_key,
                "AWS_SESSION_TOKEN": creds.token,
                "PYTHONPATH": str(ROOT / "layers"),
                "AWS_DATA_PATH": models,
                "SNAPBACK_CONFIG": config_json,
                "SNAPBACK_REMEDIATION": name,
                "SNAPBACK_ORG_READER_ROLE_ARN": f"arn:aws:iam::{org.management}:role/snapback-org-reader",
            }
            totals, imports, firsts, outcomes, counts, own_floors = [], [], [], set(), set(), []
            cpus: list[float] = []
            floor_cpus: list[float] = []
            for i in range(args.runs + 1):  # run 0 counts the calls (the hooks cost time) and is not timed
                event = Path(tmp) / f"{name}-{i}.json"
                event.write_text(json.dumps(workload.prepare(org, i)))
                own_floors.append(wall([sys.executable, "-c", FLOOR], stock(env))[0])
                floor_cpu = CPU[-1]
                code = HANDLER.format(
                    functions=str(ROOT / "functions" / "remediate"), event=str(event), count=i == 0, root=str(ROOT)
                )
                if args.profile and i == args.runs:  # cProfile runs a script, not -c
                    script = Path(tmp) / f"{name}-profiled.py"
                    script.write_text(code)
                    cmd = [sys.executable, "-m", "cProfile", "-o", f"{args.profile}/{name}.prof", str(script)]
                else:
                    cmd = [sys.executable, "-c", code]
                total, out = wall(cmd, env)
                cpu, cpu_floor = (CPU[-1], floor_cpu) if i else (None, None)
                line = json.loads(out.strip().splitlines()[-1])
                outcomes.add(line["outcome"])
                if i == 0:
                    counts.add(line["calls"])
                    continue
                totals.append(total)
                floors.append(own_floors[-1])
                cpus.append(cpu)
                floor_cpus.append(cpu_floor)
                imports.append(line["import"])
                firsts.append(line["first_event"])
            rows[name] = {
                "runs": args.runs,
                "outcomes": sorted(outcomes),
                "first_event_calls": sorted(counts),
                "total_ms": ms(median(totals)),
                "import_ms": ms(median(imports)),
                "first_event_ms": ms(median(firsts)),
                # against the floor samples interleaved with this function's own runs (same load)
                "floor_ms": ms(median(own_floors[1:])),
                "ratio": round(median(totals) / median(own_floors[1:]), 2),
                # CPU time of the same processes: what load changes least (waiting on moto is not in it)
                "cpu_ms": ms(median(cpus)),
                "floor_cpu_ms": ms(median(floor_cpus)),
                "cpu_ratio": round(median(cpus) / median(floor_cpus), 2),
            }
            print(
                f"{name:<32} {'/'.join(sorted(outcomes)):<11} process {ms(median(totals)):6.0f} ms "
                f"(import {ms(median(imports)):4.0f}, first event {ms(median(firsts)):4.0f} ms, {sorted(counts)} calls)",
                flush=True,
            )
    floor = median(floors)
    print(f"floor (import boto3 + one client), median of {len(floors)}: {ms(floor):.0f} ms")
    for name, row in rows.items():
        print(
            f"  {name:<32} ratio {row['ratio']:.2f} to its interleaved floor {row['floor_ms']:.0f} ms; "
            f"CPU {row['cpu_ms']:.0f} ms, {row['cpu_ratio']:.2f} x the floor's {row['floor_cpu_ms']:.0f} ms"
        )
    save("cold_start", {"runs": args.runs, "floor_ms": ms(floor), "floor_samples": len(floors), "functions": rows})


if __name__ == "__main__":
    main()
