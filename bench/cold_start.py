"""Cold start: whole-process time to import a function's handler and handle its first event.

Against a moto server holding a demo organization, each sample starts a fresh Python process
that imports `functions/remediate/handler.py` and handles one real-format event (a public bucket
policy in a member account: inspect, apply, verify, audit, SNS, Security Hub). The floor is
`import boto3; boto3.client("s3")` measured in the same run. Medians of N fresh processes.

    .venv/bin/python bench/cold_start.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers"))

HANDLER = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {functions!r})
from handler import handler
t1 = time.perf_counter()
out = handler(json.load(open({event!r})), None)
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "first_event": t2 - t1, "outcome": out[0]["outcome"]}}))
"""
FLOOR = "import boto3; boto3.client('s3', region_name='us-east-1')"


def wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    from snapback import member_role
    from snapback.demo import build_org, cloudtrail_record, local_aws, session_in
    from snapback.scenarios.s3_public_bucket import public_policy

    with local_aws() as endpoint, tempfile.TemporaryDirectory() as tmp:
        org = build_org()
        account = org.members["member-a"]
        creds = session_in(org.security, member_role.remediator_role_name("s3_block_public_access")).get_credentials()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": creds.access_key,
            "AWS_SECRET_ACCESS_KEY": creds.secret_key,
            "AWS_SESSION_TOKEN": creds.token,
            "PYTHONPATH": str(ROOT / "layers"),
            "SNAPBACK_CONFIG": org.config.to_json(),
            "SNAPBACK_REMEDIATION": "s3_block_public_access",
            "SNAPBACK_ORG_READER_ROLE_ARN": f"arn:aws:iam::{org.management}:role/snapback-org-reader",
        }
        s3 = org.session(account).client("s3")
        floors, totals, imports, firsts, outcomes = [], [], [], [], []
        for i in range(args.runs):
            bucket = f"cold-{i}"
            s3.create_bucket(Bucket=bucket)
            record = cloudtrail_record(
                account, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": bucket, "bucketPolicy": public_policy(bucket)}
            )
            event = Path(tmp) / f"event-{i}.json"
            event.write_text(json.dumps(record))
            floors.append(wall([sys.executable, "-c", FLOOR], env)[0])
            code = HANDLER.format(functions=str(ROOT / "functions" / "remediate"), event=str(event))
            total, out = wall([sys.executable, "-c", code], env)
            line = json.loads(out.strip().splitlines()[-1])
            totals.append(total)
            imports.append(line["import"])
            firsts.append(line["first_event"])
            outcomes.append(line["outcome"])
    floor, total = statistics.median(floors), statistics.median(totals)
    print(f"runs: {args.runs}; outcomes: {sorted(set(outcomes))}")
    print(f"floor (import boto3 + one client), median: {floor * 1000:.0f} ms")
    print(
        f"handler process, median: {total * 1000:.0f} ms  (import {statistics.median(imports) * 1000:.0f} ms, "
        f"first event {statistics.median(firsts) * 1000:.0f} ms)"
    )
    print(f"ratio handler / floor: {total / floor:.2f}  (budget 1.3; the first event makes ~12 AWS calls)")


if __name__ == "__main__":
    main()
