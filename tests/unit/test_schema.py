"""snapback.schema.json is generated from the pydantic models and the registry, and kept in step.

Regenerate after adding a remediation or an option: `SNAPBACK_UPDATE_GOLDEN=1 python -m pytest -n0 tests/unit/test_schema.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import yaml

from snapback.config_schema import SCHEMA_FILE, json_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / SCHEMA_FILE


def rendered() -> str:
    return json.dumps(json_schema(), indent=1, sort_keys=True) + "\n"


def test_the_published_schema_matches_the_models_and_the_registry():
    if os.environ.get("SNAPBACK_UPDATE_GOLDEN"):
        SCHEMA.write_text(rendered())
    assert SCHEMA.read_text() == rendered(), (
        "snapback.schema.json is stale: SNAPBACK_UPDATE_GOLDEN=1 python -m pytest -n0 tests/unit/test_schema.py"
    )


def test_snapback_yaml_points_editors_at_the_schema_and_validates_against_it():
    text = (ROOT / "snapback.yaml").read_text()
    assert text.splitlines()[0] == f"# yaml-language-server: $schema=./{SCHEMA_FILE}"
    data = yaml.safe_load(text)
    data["exemptions"][0]["expires"] = str(data["exemptions"][0]["expires"])
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))


def test_an_editor_using_the_schema_flags_a_mistyped_key_and_an_unknown_option():
    schema = json.loads(SCHEMA.read_text())
    data = yaml.safe_load((ROOT / "snapback.yaml").read_text())
    data["exemptions"][0] = {"reason": "site", "accounts": ["333333333333"], "resource": ["arn:aws:s3:::x"]}
    validator = jsonschema.Draft202012Validator(schema)
    assert any("resource" in e.message for e in validator.iter_errors(data))
    data = yaml.safe_load((ROOT / "snapback.yaml").read_text())
    data["exemptions"] = []
    data["remediations"]["ec2_revoke_world_admin_ports"] = {"options": {"admin_port": [22]}}
    assert any("admin_port" in e.message for e in validator.iter_errors(data))
