"""The two Lambda layers of the remediator functions, built without Docker.

- The Snapback runtime library (`layers/snapback`) is pure Python, so "bundling" it is a copy into
  the `python/` folder that Lambda puts on `sys.path`. The copy runs in-process (`ILocalBundling`),
  which is why synth works on a machine without a Docker engine.
- Powertools for AWS Lambda (Python) comes from the layer AWS publishes, pinned by version, so that
  nothing third-party is bundled at all and the version is visible in the template.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# Files that must never reach the layer nor change its asset hash.
IGNORED = ("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".ruff_cache")

# The Lambda runtime of every Snapback function: the newest Python for which the pinned Powertools
# layer below is published (AWSLambdaPowertoolsPythonV3-python313-*). The runtime library needs
# Python >= 3.11; moving on means changing this constant and the Powertools layer together.
RUNTIME = lambda_.Runtime.PYTHON_3_13
RUNTIME_REASON = (
    "Python 3.13 is the newest runtime for which the pinned AWS-published Powertools layer exists; "
    "a newer runtime needs a newer Powertools layer version pinned with it in stacks/layers.py"
)
ARCHITECTURE = lambda_.Architecture.X86_64

# Powertools for AWS Lambda (Python) V3, layer version 27 (Powertools 3.23.x), published by AWS from
# account 017000801446 under the same version number in every Region listed below.
# Source: aws-powertools/powertools-lambda-python PR #7757, which moved docs/index.md to
# `AWSLambdaPowertoolsPythonV3-{python_version}-x86_64:27` (one version number for every Python).
POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_VERSION = 27
POWERTOOLS_REGIONS = frozenset(
    {
        "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
        "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
        "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
        "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
        "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    }
)  # fmt: skip


def powertools_layer_arn(region: str) -> str:
    """The pinned Powertools layer ARN for `region`; an unlisted Region stops synth with the fix."""
    if region not in POWERTOOLS_REGIONS:
        raise ValueError(
            f"home_region {region!r}: no pinned Powertools layer is known there; fix: check the Powertools docs for "
            f"AWSLambdaPowertoolsPythonV3 in {region} and add it to stacks/layers.py POWERTOOLS_REGIONS"
        )
    python = RUNTIME.name.replace(".", "")  # python3.13 -> python313
    arch = ARCHITECTURE.name  # x86_64
    name = f"AWSLambdaPowertoolsPythonV3-{python}-{arch}"
    return f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:{name}:{POWERTOOLS_LAYER_VERSION}"


@jsii.implements(cdk.ILocalBundling)
class CopyPackage:
    """Local bundling: copy one pure-Python package into `<output>/python/<package>`.

    Returning True tells CDK the asset is built, so the Docker image named in the bundling options is
    never pulled (there is no Docker engine on the build machines).
    """

    def __init__(self, source: Path) -> None:
        self.source = source

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        target = Path(output_dir) / "python" / self.source.name
        shutil.copytree(self.source, target, ignore=shutil.ignore_patterns(*IGNORED), dirs_exist_ok=True)
        return True


def runtime_library_layer(scope: Construct, construct_id: str, layers_dir: Path) -> lambda_.LayerVersion:
    """The Snapback runtime library as a layer (`import snapback` in every function)."""
    package = layers_dir / "snapback"
    if not (package / "__init__.py").is_file():
        raise FileNotFoundError(f"{package}: the runtime library is missing; run synth from the repository root")
    code = lambda_.Code.from_asset(
        str(layers_dir),
        exclude=list(IGNORED),
        bundling=cdk.BundlingOptions(image=cdk.DockerImage.from_registry("none"), local=CopyPackage(package)),
    )
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=code,
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="Snapback runtime library (registry, remediations, runtime)",
    )
