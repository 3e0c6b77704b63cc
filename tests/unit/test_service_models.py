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
    path = write_models(tmp_path, ["sts"])[0]
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


def test_every_shipped_model_builds_every_operation_and_resolves_endpoints(tmp_path: Path) -> None:
    """Every service the layer ships, loaded from its trimmed model as Lambda loads it: botocore builds
    each operation's input and output shapes, its client context parameters and waiters-free endpoint
    resolution (what an S3 call does first), and S3 / S3 Control calls work against moto. A key
    botocore indexes that the trim removed fails here, not in a deployed function."""
    services = sorted(registry_services())
    write_models(tmp_path, services)
    code = """
import json, os, sys
from moto import mock_aws
import botocore.session
os.environ.update(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b", AWS_DEFAULT_REGION="us-east-1")
seen = {}
def walk(shape, depth=0):
    if shape is None or depth > 12:
        return
    for child in getattr(shape, "members", {}).values():
        walk(child, depth + 1)
    for attr in ("member", "key", "value"):
        walk(getattr(shape, attr, None), depth + 1)
with mock_aws():
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    for name in json.loads(sys.argv[1]):
        client = session.create_client(name, region_name="us-east-1")
        model = client.meta.service_model
        assert loader.load_data_with_path(f"{name}/{model.api_version}/service-2")[1].startswith(sys.argv[2]), name
        [p.name for p in model.client_context_parameters]
        for op in model.operation_names:
            operation = model.operation_model(op)
            walk(operation.input_shape)
            walk(operation.output_shape)
        seen[name] = len(model.operation_names)
    s3 = session.create_client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="trimmed-models")
    s3.put_public_access_block(Bucket="trimmed-models", PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    block = s3.get_public_access_block(Bucket="trimmed-models")["PublicAccessBlockConfiguration"]
    control = session.create_client("s3control", region_name="us-east-1")
    control.put_public_access_block(AccountId="123456789012", PublicAccessBlockConfiguration={"BlockPublicPolicy": True})
    account = control.get_public_access_block(AccountId="123456789012")["PublicAccessBlockConfiguration"]
print(json.dumps({"seen": seen, "s3": block["BlockPublicAcls"], "s3control": account["BlockPublicPolicy"]}))
"""
    env = {"PATH": "/usr/bin:/bin", "AWS_DATA_PATH": str(tmp_path), "PYTHONPATH": str(ROOT / "layers")}
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(services), str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(result["seen"]) == set(services) and all(result["seen"].values())
    assert result["s3"] is True and result["s3control"] is True


ENDPOINTS = """
import json, sys
import botocore.session
services, data_path = json.loads(sys.argv[1]), sys.argv[2]
regions = ["us-east-1", "eu-west-1", "ap-southeast-3", "us-gov-west-1", "cn-north-1", "us-iso-east-1"]
def resolved(session, service, region):
    client = session.create_client(service, region_name=region, aws_access_key_id="a", aws_secret_access_key="b")
    signer = client._request_signer
    out = [client.meta.endpoint_url, client.meta.partition, signer._region_name, signer._signing_name]
    op = client.meta.service_model.operation_model(client.meta.service_model.operation_names[0])
    try:
        endpoint = client._ruleset_resolver.construct_endpoint(operation_model=op, call_args={}, request_context={})
        out.append(endpoint.url)
    except Exception as err:
        out.append(type(err).__name__)
    return out
stock = botocore.session.get_session()
shipped = botocore.session.get_session()
shipped.set_config_variable("data_path", data_path)
assert shipped.get_component("data_loader").load_data_with_path("endpoints")[1].startswith(data_path)
diff = {}
for service in services:
    for region in regions:
        a, b = resolved(stock, service, region), resolved(shipped, service, region)
        if a != b:
            diff[f"{service}/{region}"] = [a, b]
print(json.dumps({"compared": len(services) * len(regions), "diff": diff}))
"""


def test_the_shipped_endpoints_resolve_every_service_as_botocores_own(tmp_path: Path) -> None:
    """The layer's endpoints.json keeps only the shipped services' entries: every such client, in
    every partition, gets the endpoint URL, partition, signing region and name, and rule-set endpoint
    it gets from botocore's whole file."""
    services = sorted(registry_services())
    write_models(tmp_path, services)
    shipped = json.loads((tmp_path / "endpoints.json").read_text())
    assert len((tmp_path / "endpoints.json").read_bytes()) < 200_000
    assert len(shipped["partitions"]) > 5 and all(p["regions"] for p in shipped["partitions"])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "layers")}
    done = subprocess.run(
        [sys.executable, "-c", ENDPOINTS, json.dumps(services), str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["compared"] == len(services) * 6 and result["diff"] == {}, result["diff"]


def test_trimmed_models_are_much_smaller(tmp_path: Path) -> None:
    path = write_models(tmp_path, ["ec2"])[0]
    from botocore.loaders import Loader

    loader = Loader()
    version = loader.determine_latest_version("ec2", "service-2")
    builtin = Path(loader.BUILTIN_DATA_PATH) / "ec2" / version / "service-2.json.gz"
    full = len(gzip.open(builtin).read()) if builtin.exists() else len(json.dumps(loader.load_service_model("ec2", "service-2")))
    assert path.stat().st_size < full / 2
