"""Trimmed service models: botocore loads them first, and clients built from them work the same."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from stacks.service_models import DOC_KEYS, RUNTIME_SERVICES, registry_services, services_for, trim, write_models
from tests.conftest import ROOT


def _has_docs(node: object) -> bool:
    if isinstance(node, dict):
        return bool(DOC_KEYS & node.keys()) or any(_has_docs(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_docs(v) for v in node)
    return False


def test_services_cover_every_declared_permission_and_the_runtime() -> None:
    services = registry_services()
    assert RUNTIME_SERVICES <= services
    assert {"s3", "s3control", "iam", "ec2"} <= services  # s3:* needs both S3 clients
    assert services_for(["notaservice:Do"], ["s3"]) == set()  # only services botocore has


def test_trim_drops_documentation_only(tmp_path: Path) -> None:
    [path] = write_models(tmp_path, ["sts"])
    trimmed = json.loads(path.read_text())
    assert not _has_docs(trimmed)
    from botocore.loaders import Loader

    full = Loader().load_service_model("sts", "service-2")
    assert trim(full) == trimmed
    assert set(trimmed["operations"]) == set(full["operations"])


def test_a_client_loads_the_trimmed_model_first_and_works_against_moto(tmp_path: Path) -> None:
    write_models(tmp_path, ["ec2"])
    code = """
import json, os
from moto import mock_aws
import boto3
os.environ.update(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b", AWS_DEFAULT_REGION="us-east-1")
with mock_aws():
    session = boto3.session.Session()
    loader = session._session.get_component("data_loader")
    ec2 = session.client("ec2")
    path = loader.load_service_model("ec2", "service-2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    found = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    print(json.dumps({"first": loader.search_paths[0], "docs": "documentation" in json.dumps(path), "ok": vpc in found}))
"""
    env = {"PATH": "/usr/bin:/bin", "AWS_DATA_PATH": str(tmp_path), "PYTHONPATH": str(ROOT / "layers")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result == {"first": str(tmp_path), "docs": False, "ok": True}


def test_trimmed_models_are_much_smaller(tmp_path: Path) -> None:
    [path] = write_models(tmp_path, ["ec2"])
    from botocore.loaders import Loader

    loader = Loader()
    version = loader.determine_latest_version("ec2", "service-2")
    builtin = Path(loader.BUILTIN_DATA_PATH) / "ec2" / version / "service-2.json.gz"
    full = len(gzip.open(builtin).read()) if builtin.exists() else len(json.dumps(loader.load_service_model("ec2", "service-2")))
    assert path.stat().st_size < full / 2
