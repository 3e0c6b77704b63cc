"""The deployed Powertools is the tested Powertools (issue 12 item 12)."""

from __future__ import annotations

import importlib.metadata

from stacks.layers import POWERTOOLS_DISTRIBUTION, pinned_version
from tests.infra.test_stacks import out, resources, template  # noqa: F401 - the session synth fixture


def test_the_installed_powertools_is_the_pinned_one():
    assert importlib.metadata.version(POWERTOOLS_DISTRIBUTION) == pinned_version(POWERTOOLS_DISTRIBUTION)


def test_every_function_uses_the_layer_built_from_the_tested_version_and_no_published_layer(out):  # noqa: F811
    tpl = template(out, "SnapbackSecurityAccount")
    layers = resources(tpl, "AWS::Lambda::LayerVersion")
    version = pinned_version(POWERTOOLS_DISTRIBUTION)
    ((powertools_id, powertools),) = [(k, v) for k, v in layers.items() if "Powertools" in v["Properties"].get("Description", "")]
    assert version in powertools["Properties"]["Description"]
    functions = [f for f in resources(tpl, "AWS::Lambda::Function").values() if "POWERTOOLS_SERVICE_NAME" in str(f)]
    assert len(functions) >= len(resources(tpl, "AWS::Lambda::Function")) - 1  # all but CDK's custom-resource provider
    for function in functions:
        refs = function["Properties"].get("Layers", [])
        assert {"Ref": powertools_id} in refs
        assert not any("017000801446" in str(r) for r in refs), "an AWS-published layer carries an untested version"
    # the layer's files are the installed (tested) package
    asset = out / powertools["Metadata"]["aws:asset:path"]
    text = (asset / "python" / "aws_lambda_powertools" / "shared" / "version.py").read_text()
    assert f'"{version}"' in text


def test_a_mismatched_pin_is_caught(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("aws-lambda-powertools==3.23.0\n")
    assert pinned_version(POWERTOOLS_DISTRIBUTION, requirements) != importlib.metadata.version(POWERTOOLS_DISTRIBUTION)
