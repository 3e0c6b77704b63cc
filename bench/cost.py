"""Cost per million events, per remediation and blended, from the measured figures.

Inputs: warm latency (bench/warm_latency.py) and calls per event (bench/calls.py), the deployed
memory size and architecture (stacks/security.py: 256 MB, x86_64), and list prices in us-east-1.
Duration on real AWS is estimated as Snapback's own time plus `AWS_CALL_MS` per call (moto on
loopback answers faster than AWS does); requests are priced per event, free tiers ignored.

    .venv/bin/python bench/cost.py
"""

from __future__ import annotations

from typing import Any

from common import load, save

MEMORY_GB = 256 / 1024  # stacks/security.py: remediation functions, x86_64
AWS_CALL_MS = 25.0  # assumed median latency of one AWS API call from Lambda in the same Region
PRICES_CHECKED = "2026-11-23"
# us-east-1 list prices (USD). Sources: aws.amazon.com/{lambda,eventbridge,sns,sqs,dynamodb,security-hub}/pricing,
# DynamoDB on-demand after the November 2024 cut as summarised by airbyte.com (July 2025).
PRICES = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_x86": 0.0000166667,
    # An AWS service event on the member's default bus is free to match; forwarding it to the central
    # bus in the security account is a cross-account event, billed like a custom event.
    "eventbridge_cross_account_event": 1.00 / 1e6,
    "sns_publish": 0.50 / 1e6,  # per 64 KB chunk; SNS -> SQS delivery itself is free
    "sqs_request": 0.40 / 1e6,  # the on-call queue: receive + delete per notification
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand WRU, items up to 1 KB
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand RRU, eventually consistent up to 4 KB
    "securityhub_finding_ingestion": 0.00003,  # per finding ingested (BatchImportFindings), after 10,000 free/month
}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem"}


def per_event(own_ms: float, calls: dict[str, int]) -> dict[str, float]:
    count = sum(calls.values())
    duration_s = (own_ms + count * AWS_CALL_MS) / 1000
    ddb_writes = sum(n for c, n in calls.items() if c.startswith("dynamodb:") and c.split(":")[1] in WRITES)
    ddb_reads = sum(n for c, n in calls.items() if c.startswith("dynamodb:") and c.split(":")[1] in READS)
    publishes = calls.get("sns:Publish", 0)
    return {
        "lambda": PRICES["lambda_request"] + duration_s * MEMORY_GB * PRICES["lambda_gb_second_x86"],
        "eventbridge": PRICES["eventbridge_cross_account_event"],
        "sns_sqs": publishes * (PRICES["sns_publish"] + 2 * PRICES["sqs_request"]),
        "dynamodb": ddb_writes * PRICES["dynamodb_write_unit"] + ddb_reads * PRICES["dynamodb_read_unit"],
        "securityhub": calls.get("securityhub:BatchImportFindings", 0) * PRICES["securityhub_finding_ingestion"],
        "duration_ms": duration_s * 1000,
    }


def model() -> dict[str, Any]:
    warm, counted = load("warm_latency"), load("calls")
    if not warm or not counted:
        raise SystemExit("run bench/warm_latency.py and bench/calls.py first")
    rows = {}
    for name, latency in warm["remediations"].items():
        cost = per_event(float(latency["own_median_ms"]), counted["workloads"][name]["warm_calls"])
        per_million = {k: round(v * 1e6, 2) for k, v in cost.items() if k != "duration_ms"}
        rows[name] = {**per_million, "total": round(sum(per_million.values()), 2), "duration_ms": round(cost["duration_ms"], 1)}
    keys = [k for k in next(iter(rows.values())) if k != "duration_ms"]
    blended = {k: round(sum(float(r[k]) for r in rows.values()) / len(rows), 2) for k in keys}
    return {
        "prices": PRICES,
        "prices_checked": PRICES_CHECKED,
        "aws_call_ms": AWS_CALL_MS,
        "memory_gb": MEMORY_GB,
        "remediations": rows,
        "blended": blended,
    }


def main() -> None:
    result = model()
    for name, row in result["remediations"].items():
        print(f"{name:<32} ${row['total']:>8.2f} per million events  {row}")
    print(f"blended (equal mix): ${result['blended']['total']:.2f} per million events  {result['blended']}")
    save("cost", result)


if __name__ == "__main__":
    main()
