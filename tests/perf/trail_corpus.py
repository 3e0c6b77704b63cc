"""A deterministic organization trail for the backtest benchmark: CloudTrail log files as S3 holds them.

`write_corpus(root, records, seed)` writes `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz`, each file `{"Records":[...]}` in
CloudTrail's compact JSON, a few hundred records per file (one file per account and Region every
five minutes, as CloudTrail delivers). The mix is mostly read-only noise (Describe*/Get*/List*,
AssumeRole and KMS Decrypt by AWS services, SSM agent check-ins, federated ConsoleLogin, some
AccessDenied); a small fraction (`hit_rate`) are the records the trigger patterns are about, taken
from the public sample events (tests/data/public_events) and every CloudTrail case of the
remediation fixtures, must-fire and must-not-fire alike. Same seed, same bytes.

Imported by bench/backtest.py and tests/perf/test_backtest_corpus.py.
"""

from __future__ import annotations

import functools
import gzip
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNTS = [f"{100000000000 + 111111111 * i:012d}" for i in range(1, 13)]
# Most activity in the home Region, some in a second one, a trickle elsewhere (as in most orgs).
REGIONS = [("us-east-1", 6), ("eu-west-1", 3), ("us-west-2", 1), ("ap-southeast-2", 1)]
START = datetime(2026, 9, 1, tzinfo=UTC)
AGENTS = [
    "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.6",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.141.0",
    "console.amazonaws.com",
    "aws-internal/3 aws-sdk-java/1.12.600 Linux/5.10 OpenJDK_64-Bit_Server_VM/25.392-b08",
]
ROLES = ["developer", "platform-deploy", "readonly-audit", "data-pipeline", "AWSReservedSSO_Admin_0a1b2c3d", "terraform"]
SERVICES = ["ec2.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "config.amazonaws.com", "ssm.amazonaws.com"]


@dataclass
class Corpus:
    root: Path
    files: int
    records: int
    hits: int  # records taken from the trigger-relevant templates
    bytes_gz: int
    bytes_json: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def _role_identity(account: str, role: str, rng: random.Random) -> dict[str, Any]:
    session = f"{role}-{rng.randrange(1000, 9999)}"
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{account[-6:]}EXAMPLE:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": f"ASIA{rng.randrange(16**12):012X}",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{account[-6:]}EXAMPLE",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-09-01T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def _service_identity(service: str) -> dict[str, Any]:
    return {"type": "AWSService", "invokedBy": service}


def _request(name: str, account: str, region: str, rng: random.Random) -> Any:
    """requestParameters shaped like the real API's (sizes matter more than exact content here)."""
    n = rng.randrange(1, 6)
    if name == "AssumeRole":
        return {
            "roleArn": f"arn:aws:iam::{account}:role/{rng.choice(ROLES)}",
            "roleSessionName": f"session-{rng.randrange(10**6)}",
            "durationSeconds": 3600,
        }
    if name in ("Decrypt", "GenerateDataKey"):
        return {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:lambda:FunctionArn": f"arn:aws:lambda:{region}:{account}:function:fn-{n}"},
            **({"keySpec": "AES_256", "keyId": f"arn:aws:kms:{region}:{account}:key/{uuid.UUID(int=rng.getrandbits(128))}"}
               if name == "GenerateDataKey" else {}),
        }  # fmt: skip
    if name.startswith("Describe") and "Instances" in name:
        return {
            "instancesSet": {"items": [{"instanceId": f"i-{rng.getrandbits(64):017x}"[:19]} for _ in range(n)]},
            "filterSet": {},
        }
    if name.startswith("Describe"):
        return {
            "maxResults": 1000,
            "filterSet": {"items": [{"name": "vpc-id", "valueSet": {"items": [{"value": f"vpc-{n:08x}"}]}}]},
        }
    if name.startswith("GetBucket") or name in ("HeadBucket",):
        return {"bucketName": f"org-data-{account[-4:]}-{n}", "Host": f"org-data-{account[-4:]}-{n}.s3.{region}.amazonaws.com"}
    if name in ("GetRole", "ListAttachedRolePolicies", "ListRolePolicies"):
        return {"roleName": rng.choice(ROLES)}
    if name == "UpdateInstanceInformation":
        return {"instanceId": f"i-{rng.getrandbits(64):017x}"[:19], "agentVersion": "3.3.131.0", "platformType": "Linux"}
    if name in ("CreateTags",):
        return {"resourcesSet": {"items": [{"resourceId": f"i-{rng.getrandbits(64):017x}"[:19]}]}, "tagSet": {"items": [{"key": "team", "value": "data"}]}}  # fmt: skip
    if name == "PutBucketTagging":
        return {"bucketName": f"org-data-{account[-4:]}-{n}", "Tagging": {"TagSet": {"Tag": {"Key": "team", "Value": "data"}}}}
    return None


# (eventSource, eventName, weight, read-only, identity kind): the noise of a busy organization.
NOISE = [
    ("sts.amazonaws.com", "AssumeRole", 18, True, "service"),
    ("kms.amazonaws.com", "Decrypt", 12, True, "service"),
    ("kms.amazonaws.com", "GenerateDataKey", 5, True, "service"),
    ("ssm.amazonaws.com", "UpdateInstanceInformation", 8, False, "role"),
    ("ec2.amazonaws.com", "DescribeInstances", 6, True, "role"),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", 4, True, "role"),
    ("ec2.amazonaws.com", "DescribeVolumes", 3, True, "role"),
    ("ec2.amazonaws.com", "DescribeNetworkInterfaces", 3, True, "role"),
    ("ec2.amazonaws.com", "CreateTags", 1, False, "role"),
    ("s3.amazonaws.com", "GetBucketAcl", 4, True, "service"),
    ("s3.amazonaws.com", "GetBucketLocation", 3, True, "role"),
    ("s3.amazonaws.com", "ListBuckets", 2, True, "role"),
    ("s3.amazonaws.com", "GetBucketPolicy", 2, True, "role"),
    ("s3.amazonaws.com", "PutBucketTagging", 1, False, "role"),
    ("iam.amazonaws.com", "GetRole", 3, True, "role"),
    ("iam.amazonaws.com", "ListRoles", 2, True, "role"),
    ("iam.amazonaws.com", "ListAttachedRolePolicies", 2, True, "role"),
    ("logs.amazonaws.com", "DescribeLogGroups", 3, True, "role"),
    ("logs.amazonaws.com", "CreateLogStream", 2, False, "service"),
    ("lambda.amazonaws.com", "ListFunctions20150331", 2, True, "role"),
    ("lambda.amazonaws.com", "GetFunction20150331v2", 1, True, "role"),
    ("config.amazonaws.com", "PutEvaluations", 3, False, "service"),
    ("config.amazonaws.com", "DescribeConfigurationRecorders", 1, True, "role"),
    ("cloudtrail.amazonaws.com", "DescribeTrails", 1, True, "role"),
    ("cloudtrail.amazonaws.com", "LookupEvents", 1, True, "role"),
    ("sts.amazonaws.com", "GetCallerIdentity", 4, True, "role"),
    ("signin.amazonaws.com", "ConsoleLogin", 1, False, "federated"),
]
NOISE_WEIGHTS = [w for _, _, w, _, _ in NOISE]


def noise_record(account: str, region: str, when: datetime, rng: random.Random) -> dict[str, Any]:
    source, name, _, read_only, kind = rng.choices(NOISE, NOISE_WEIGHTS)[0]
    if kind == "service":
        identity = _service_identity(rng.choice(SERVICES))
        agent, ip = identity["invokedBy"], identity["invokedBy"]
    else:
        identity = _role_identity(account, rng.choice(ROLES), rng)
        agent, ip = rng.choice(AGENTS), f"203.0.113.{rng.randrange(1, 255)}"
    record: dict[str, Any] = {
        "eventVersion": "1.09" if kind != "federated" else "1.08",
        "userIdentity": identity,
        "eventTime": (when + timedelta(seconds=rng.randrange(300))).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": _request(name, account, region, rng),
        "responseElements": None,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": read_only,
        "eventType": "AwsApiCall" if kind != "federated" else "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if name == "AssumeRole":
        record["responseElements"] = {
            "credentials": {
                "accessKeyId": f"ASIA{rng.randrange(16**12):012X}",
                "sessionToken": "IQoJb3JpZ2luX2VjE" + "x" * rng.randrange(300, 700),
                "expiration": "Sep 1, 2026, 1:00:00 AM",
            },
            "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLE:session", "arn": f"arn:aws:sts::{account}:assumed-role/r/s"},
        }
        record["resources"] = [{"accountId": account, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{account}:role/r"}]
        record["sharedEventID"] = str(uuid.UUID(int=rng.getrandbits(128)))
    if kind == "federated":  # SSO/federated sign-in: not what the console-login triggers watch (IAMUser, Root)
        record["responseElements"] = {"ConsoleLogin": "Success"}
        record["additionalEventData"] = {"MobileVersion": "No", "MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com/"}
    elif kind == "role" and rng.random() < 0.03:
        record["errorCode"], record["errorMessage"] = "AccessDenied", f"User is not authorized to perform: {name}"
    if kind == "role":
        record["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com",
        }
    return record


def public_records(folder: Path) -> list[dict[str, Any]]:
    """Every bare CloudTrail record of the public event corpus (single records and `Records` files)."""
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*/*.json")):
        data = json.loads(path.read_text())
        if "eventName" in data:
            out.append(data)
        elif isinstance(data.get("Records"), list):
            out.extend(r for r in data["Records"] if isinstance(r, dict) and "eventName" in r)
    return out


def hit_templates(account: str) -> list[dict[str, Any]]:
    """`_templates()` for `account` (built once for the first account, the id replaced for the others)."""
    text = _templates()
    return json.loads(text if account == ACCOUNTS[0] else text.replace(ACCOUNTS[0], account))


@functools.lru_cache(maxsize=1)
def _templates(account: str = ACCOUNTS[0]) -> str:
    """The trigger-relevant records: the public sample events' CloudTrail records and every CloudTrail
    case of the remediation fixtures (must fire and must not), for `account`.

    Records the offline runtime would reject as malformed and that no trigger could match are left out:
    the engines count those differently by design (REJECTED against matched nothing, see
    snapback_ops.engines), and a real trail does not hold them.
    """
    from snapback.events import normalise
    from snapback.patterns import matches
    from snapback_ops.prefilter import registry_patterns
    from tests.conftest import SHARED_EVENTS
    from tests.reliability.burst import event_pool, make_event

    out: list[dict[str, Any]] = public_records(SHARED_EVENTS)
    for i, (_, fixture, case) in enumerate(event_pool()):
        _, detail_type, detail = make_event(fixture, case, account, i)
        if "CloudTrail" in detail_type and "eventName" in detail:
            # cloudtrail_record stamps the time of day and random ids: fixed here, so a seed is a corpus
            text = json.dumps(detail).replace(detail["eventTime"], START.strftime("%Y-%m-%dT%H:%M:%SZ"))
            for key in ("eventID", "requestID"):
                if isinstance(detail.get(key), str):
                    text = text.replace(detail[key], str(uuid.uuid5(uuid.NAMESPACE_URL, f"{account}/{i}/{key}")))
            out.append(json.loads(text))
    patterns = registry_patterns()

    def routed(record: dict[str, Any]) -> bool:
        try:
            envelopes = normalise(record)
        except Exception:  # noqa: BLE001 - a record the runtime rejects
            return False
        return any(matches(p, e.as_dict()) for e in envelopes for p in patterns)

    return json.dumps([r for r in out if routed(r)])


def decisions(tally: Any) -> dict[str, Any]:
    """What a backtest decided, as the engines must agree on it (a `snapback_ops.backtest.Tally`):
    counts per remediation and outcome, would fire per account, reasons for not firing."""
    s = tally.summary()
    return {
        "files": s["files"],
        "records": s["records"],
        "unreadable": len(s["unreadable"]),
        "routed_nowhere": s["routed_nowhere"],
        "rejected": s["rejected"],
        "outcomes": {f"{r}/{o}": n for (r, o), n in sorted(tally.outcomes.items()) if r != "-"},
        "would_fire": {
            n: {"total": e["would_fire"], "accounts": e["accounts"], "not_fired": e["not_fired"]}
            for n, e in sorted(s["remediations"].items())
        },
    }


def write_corpus(
    root: Path, records: int = 200_000, seed: int = 16, hit_rate: float = 0.005, per_file: tuple[int, int] = (50, 500)
) -> Corpus:
    """Write about `records` records (whole files: the last one is cut to the exact count)."""
    rng = random.Random(seed)
    hits_by_account = {a: hit_templates(a) for a in ACCOUNTS}
    regions = [r for r, w in REGIONS for _ in range(w)]
    slot = {(a, r): START for a in ACCOUNTS for r, _ in REGIONS}
    written = files = hits = size_gz = size_json = 0
    while written < records:
        account, region = rng.choice(ACCOUNTS), rng.choice(regions)
        when = slot[(account, region)]
        slot[(account, region)] = when + timedelta(minutes=5)
        count = min(rng.randrange(*per_file), records - written)
        batch = []
        for _ in range(count):
            if rng.random() < hit_rate:
                batch.append(rng.choice(hits_by_account[account]))
                hits += 1
            else:
                batch.append(noise_record(account, region, when, rng))
        stamp = when.strftime("%Y%m%dT%H%MZ")
        folder = root / "AWSLogs" / account / "CloudTrail" / region / when.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{account}_CloudTrail_{region}_{stamp}_{rng.getrandbits(64):016X}.json.gz"
        text = json.dumps({"Records": batch}, separators=(",", ":")).encode()
        data = gzip.compress(text, compresslevel=6, mtime=0)
        (folder / name).write_bytes(data)
        written += count
        files += 1
        size_gz += len(data)
        size_json += len(text)
    return Corpus(root, files, written, hits, size_gz, size_json)
