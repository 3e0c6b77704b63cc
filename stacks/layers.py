"""The two Lambda layers of the remediator functions, built without Docker.

- The Snapback runtime library (`layers/snapback`) is pure Python, so "bundling" it is a copy into
  the `python/` folder that Lambda puts on `sys.path`. The copy runs in-process (`ILocalBundling`),
  which is why synth works on a machine without a Docker engine.
- Powertools for AWS Lambda (Python) is copied from the installed distribution that requirements.txt
  pins and the tests run, so the deployed version is the tested one (see `powertools_layer`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks import service_models

# Files that must never reach the layer nor change its asset hash.
IGNORED = ("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".ruff_cache")

# The Lambda runtime of every Snapback function. The runtime library needs Python >= 3.11; Powertools
# is pure Python, so the copied layer works on any runtime Powertools supports.
RUNTIME = lambda_.Runtime.PYTHON_3_13
RUNTIME_REASON = (
    "Python 3.13 is the runtime Snapback is tested against; moving to a newer one is a deliberate change in "
    "stacks/layers.py together with the test matrix"
)
ARCHITECTURE = lambda_.Architecture.X86_64

# Powertools for AWS Lambda (Python): the deployed version must be the tested one (issue 12 item 12).
# The AWS-published layer AWSLambdaPowertoolsPythonV3-python313-x86_64 (account 017000801446) numbers
# its versions independently of Powertools releases: version 27 carried Powertools 3.23.x (source:
# aws-powertools/powertools-lambda-python PR #7757, docs/index.md), while requirements.txt pins and the
# test suite runs 3.37.0, whose layer number could not be settled offline. So the layer is built
# from the tested distribution itself: `powertools_layer` copies the installed `aws_lambda_powertools`
# (and its one dependency the Lambda runtime lacks, typing_extensions; jmespath ships with boto3 in the
# runtime) and stops synth if the installed version differs from the pin. tests/deploy/test_versions.py
# holds the pin, the installed version and the synthesized layer to the same number.
POWERTOOLS_DISTRIBUTION = "aws-lambda-powertools"
POWERTOOLS_PUBLISHED = {27: "3.23"}  # AWS layer version -> Powertools minor it carries (for reviewers)


def pinned_version(distribution: str, requirements: Path | None = None) -> str:
    """The version requirements.txt pins for `distribution` (the tested version)."""
    path = requirements or Path(__file__).resolve().parents[1] / "requirements.txt"
    for line in path.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower().split("[")[0] == distribution.lower():
            return version.split("#")[0].strip()
    raise LookupError(f"{distribution} is not pinned in {path}; fix: pin it with ==")


def installed_powertools() -> tuple[str, Path, Path]:
    """(version, package dir, typing_extensions file) of the Powertools this process would test with."""
    import aws_lambda_powertools
    import typing_extensions

    version = importlib.metadata.version(POWERTOOLS_DISTRIBUTION)
    return version, Path(aws_lambda_powertools.__file__).parent, Path(typing_extensions.__file__)


@jsii.implements(cdk.ILocalBundling)
class CopyPaths:
    """Local bundling: copy packages and modules into `<output>/python/` (no Docker)."""

    def __init__(self, *sources: Path) -> None:
        self.sources = sources

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        for source in self.sources:
            if source.is_dir():
                shutil.copytree(source, target / source.name, ignore=shutil.ignore_patterns(*IGNORED), dirs_exist_ok=True)
            else:
                shutil.copy2(source, target / source.name)
        return True


def powertools_layer(scope: Construct, construct_id: str) -> lambda_.LayerVersion:
    """Powertools as a layer built from the installed, tested distribution; synth stops on a mismatch."""
    version, package, typing_extensions = installed_powertools()
    pinned = pinned_version(POWERTOOLS_DISTRIBUTION)
    if version != pinned:
        raise ValueError(
            f"Powertools {version} is installed but requirements.txt pins {pinned}: the layer would not be the tested "
            "version; fix: pip install -r requirements.txt"
        )
    code = lambda_.Code.from_asset(
        str(package),
        # The asset hash is the version: the copy is only rebuilt when the pinned version changes.
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=f"{POWERTOOLS_DISTRIBUTION}-{version}",
        bundling=cdk.BundlingOptions(image=cdk.DockerImage.from_registry("none"), local=CopyPaths(package, typing_extensions)),
    )
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=code,
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description=f"Powertools for AWS Lambda (Python) {version}, the version Snapback is tested with",
    )


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
        # Trimmed botocore models beside the library (/opt/snapback-models, named by AWS_DATA_PATH in
        # every function's environment): see stacks/service_models.py.
        shutil.copytree(trimmed_models(), Path(output_dir) / service_models.FOLDER, dirs_exist_ok=True)
        return True


@functools.cache
def trimmed_models() -> Path:
    """The trimmed models, written once per synth process (every stack's layer copies the same files)."""
    out = Path(tempfile.mkdtemp(prefix="snapback-models-"))
    service_models.write_models(out, service_models.registry_services())
    return out


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
