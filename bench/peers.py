"""Side by side with Cloud Custodian: the same event, the same moto server, fresh processes, interleaved.

Custodian's peer of a Snapback function is its own Lambda entry point in event mode:
`c7n.handler.dispatch_event(event, context)` with the policy in `config.json`, exactly as
`custodian` deploys it (cloudtrail mode for CloudTrail events, guard-duty mode for findings). Each
sample is a fresh process (a cold start) on a freshly prepared resource; Snapback's sample and
Custodian's alternate, with the floor (`import boto3` + one client) beside them, so load moves all
three alike. Each Custodian run is checked to have made its change (a peer that did nothing would
flatter it). Custodian is installed into the bench's own environment (bench/.venv-peers, made by
`make bench`), never into the runtime's.

    .venv/bin/python bench/peers.py [--runs 10] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cold_start import FLOOR, HANDLER, stock
from common import ROOT, lambda_models, median, ms, save

PEERS_PYTHON = ROOT / "bench" / ".venv-peers" / "bin" / "python"
CUSTODIAN = """
import json, logging, os, sys, time
t0 = time.perf_counter()
logging.disable(logging.CRITICAL) if not os.environ.get("PEER_DEBUG") else logging.basicConfig(level=logging.INFO)
from c7n import handler
handler.C7N_DEBUG_EVENT = False
out = handler.dispatch_event(json.load(open({event!r})), None)
print(json.dumps({{"total": time.perf_counter() - t0, "ok": out}}))
"""


def wall(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    if os.environ.get("PEER_DEBUG"):
        print(done.stderr[-6000:], done.stdout[-3000:], file=sys.stderr)
    return time.perf_counter() - start, done.stdout


@dataclass(frozen=True)
class Peer:
    """A Custodian policy doing what one Snapback remediation does, and a check that it did."""

    remediation: str
    policy: Callable[[dict[str, Any]], dict[str, Any]]
    done: Callable[[Any, dict[str, Any]], bool]


def _trail_mode(source: str, event: str, ids: str) -> dict[str, Any]:
    return {
        "type": "cloudtrail",
        "role": "arn:aws:iam::123456789012:role/custodian",
        "events": [{"source": source, "event": event, "ids": ids}],
    }


def s3_policy(event: dict[str, Any]) -> dict[str, Any]:
    block = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
    return {
        "name": "s3-public-block",
        "resource": "s3",
        "mode": _trail_mode("s3.amazonaws.com", "PutBucketPolicy", "requestParameters.bucketName"),
        "filters": [{"type": "check-public-block", "BlockPublicPolicy": False}],
        "actions": [{"type": "set-public-block", **block}],
    }


def s3_done(session: Any, event: dict[str, Any]) -> bool:
    bucket = event["detail"]["requestParameters"]["bucketName"]
    try:
        conf = session.client("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except Exception:  # noqa: BLE001 - no block at all: not done
        return False
    return all(conf.values())


def iam_policy(event: dict[str, Any]) -> dict[str, Any]:
    arn = event["detail"]["requestParameters"]["policyArn"]
    return {
        "name": "iam-admin-detach",
        "resource": "iam-user",
        "mode": _trail_mode("iam.amazonaws.com", "AttachUserPolicy", "requestParameters.userName"),
        "actions": [{"type": "set-policy", "state": "detached", "arn": arn}],
    }


def iam_done(session: Any, event: dict[str, Any]) -> bool:
    user = event["detail"]["requestParameters"]["userName"]
    return not session.client("iam").list_attached_user_policies(UserName=user)["AttachedPolicies"]


def key_policy(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "iam-key-disable",
        "resource": "iam-user",
        "mode": {"type": "guard-duty", "role": "arn:aws:iam::123456789012:role/custodian"},
        "actions": [{"type": "remove-keys", "disable": True}],
    }


def key_done(session: Any, event: dict[str, Any]) -> bool:
    details = event["detail"]["resource"]["accessKeyDetails"]
    keys = session.client("iam").list_access_keys(UserName=details["userName"])["AccessKeyMetadata"]
    return all(k["Status"] == "Inactive" for k in keys)


def isolate_policy(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "ec2-isolate",
        "resource": "ec2",
        "mode": {"type": "guard-duty", "role": "arn:aws:iam::123456789012:role/custodian"},
        "actions": [
            {"type": "set-instance-profile"},
            {"type": "snapshot"},
            {"type": "modify-security-groups", "remove": "all", "isolation-group": ISOLATION_GROUP},
        ],
    }


ISOLATION_GROUP = "sg-placeholder"  # replaced per run with the VPC's isolation group


def isolate_done(session: Any, event: dict[str, Any]) -> bool:
    instance = event["detail"]["resource"]["instanceDetails"]["instanceId"]
    # Every network interface (the instance-level list is the primary interface's, and moto does not
    # update it when an interface's groups change): isolated only if each carries the group alone.
    enis = session.client("ec2").describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance]}])
    groups = [{g["GroupId"] for g in eni["Groups"]} for eni in enis["NetworkInterfaces"]]
    return bool(groups) and all(g == {ISOLATION_GROUP} for g in groups)


PEERS = {
    p.remediation: p
    for p in (
        Peer("s3_block_public_access", s3_policy, s3_done),
        Peer("iam_admin_policy_revert", iam_policy, iam_done),
        Peer("iam_contain_credentials", key_policy, key_done),
        Peer("ec2_isolate_instance", isolate_policy, isolate_done),
    )
}


def main() -> None:
    global ISOLATION_GROUP
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    if not PEERS_PYTHON.exists():
        sys.exit(f"{PEERS_PYTHON} is missing: `make bench` creates it (Cloud Custodian in its own environment)")

    from snapback import member_role
    from snapback_ops.demo import build_org, local_aws, session_in
    from tests.perf.workloads import OPEN_BREAKER, WORKLOADS, fresh_table, member_session, write_membership

    version = subprocess.run(
        [str(PEERS_PYTHON), "-c", "import c7n.version, botocore; print(c7n.version.version, botocore.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    rows: dict[str, dict[str, Any]] = {}
    with local_aws() as endpoint, tempfile.TemporaryDirectory() as tmp:
        org = build_org()
        write_membership(org)  # the sweep keeps it written in a deployment: a cold process reads one item
        models = lambda_models(Path(tmp))  # AWS_DATA_PATH as in Lambda (the floor keeps botocore's own)
        config_json = dataclasses.replace(org.config, breaker=OPEN_BREAKER).to_json()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SNAPBACK_", "PYTHON"))}
        for name, peer in sorted(PEERS.items()):
            if args.only and name not in args.only:
                continue
            workload = WORKLOADS[name]
            fresh_table(org)  # moto copies the whole table per transaction: each scenario starts from an empty one
            creds = session_in(org.security, member_role.remediator_role_name(name)).get_credentials()
            snap_env = {
                **base,
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
            session, account = member_session(org, "member-b" if name == "iam_contain_credentials" else "member-a")
            member = session.session.get_credentials()
            peer_env = {
                **base,
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": member.access_key,
                "AWS_SECRET_ACCESS_KEY": member.secret_key,
                "AWS_SESSION_TOKEN": member.token,
            }
            snap, peer_times, floors, done = [], [], [], []
            errors: set[str] = set()
            for i in range(args.runs):
                event = Path(tmp) / f"{name}-s-{i}.json"
                event.write_text(json.dumps(workload.prepare(org, 1000 + i)))
                code = HANDLER.format(
                    functions=str(ROOT / "functions" / "remediate"), event=str(event), count=False, root=str(ROOT)
                )
                snap.append(wall([sys.executable, "-c", code], snap_env)[0])

                prepared = workload.prepare(org, 2000 + i)
                if name == "ec2_isolate_instance":
                    vpc = prepared["detail"]["resource"]["instanceDetails"]["networkInterfaces"][0]["vpcId"]
                    ec2 = session.client("ec2")
                    ISOLATION_GROUP = ec2.create_security_group(
                        GroupName=f"c7n-isolation-{i}-{os.getpid()}", Description="quarantine", VpcId=vpc
                    )["GroupId"]
                    ec2.revoke_security_group_egress(
                        GroupId=ISOLATION_GROUP,
                        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
                    )
                run_dir = Path(tmp) / f"{name}-c-{i}"
                run_dir.mkdir()
                (run_dir / "event.json").write_text(json.dumps(prepared))
                policy_config = {"execution-options": {"account_id": account}, "policies": [peer.policy(prepared)]}
                (run_dir / "config.json").write_text(json.dumps(policy_config))
                try:
                    started = wall(
                        [str(PEERS_PYTHON), "-c", CUSTODIAN.format(event=str(run_dir / "event.json"))], peer_env, cwd=run_dir
                    )[0]
                except RuntimeError as err:  # the peer crashed: its time is not comparable, its error is a finding
                    errors.add(str(err).strip().splitlines()[-1][:200])
                else:
                    peer_times.append(started)
                done.append(peer.done(session, prepared))
                floors.append(wall([sys.executable, "-c", FLOOR], stock(snap_env))[0])
            rows[name] = {
                "runs": args.runs,
                "snapback_ms": ms(median(snap)),
                "custodian_ms": ms(median(peer_times)) if peer_times else None,
                "custodian_errors": sorted(errors),
                "floor_ms": ms(median(floors)),
                "ratio_to_custodian": round(median(snap) / median(peer_times), 2) if peer_times else None,
                "ratio_to_floor": round(median(snap) / median(floors), 2),
                "custodian_changed_the_resource": f"{sum(done)}/{len(done)}",
            }
            print(f"{name:<28} {json.dumps(rows[name])}", flush=True)
    save("peers", {"custodian": version[0], "custodian_botocore": version[1], "scenarios": rows})


if __name__ == "__main__":
    main()
