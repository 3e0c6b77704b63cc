from pathlib import Path

import pytest

from snapback import registry
from snapback.config import Config, load_config
from snapback.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_sample_config_is_valid_and_round_trips_through_the_lambda_environment():
    config = load_config(ROOT / "snapback.yaml", registry.names())
    again = Config.from_env({"SNAPBACK_CONFIG": config.to_json()})
    assert again == config
    assert config.mode_for("s3_block_public_access") in ("enforce", "notify", "dry-run")


def test_every_problem_names_its_field_and_the_fix(tmp_path):
    bad = tmp_path / "snapback.yaml"
    bad.write_text(
        "organization_id: org-1\nmanagement_account: '12'\nsecurity_account: '222222222222'\nhome_region: mars-1\n"
        "regions: [eu-west-1]\ntarget_ous: []\nremediations: {s3_block_public_access: {mode: enforcd}, nope: {mode: enforce}}\n"
        "exemptions: [{accounts: ['1']}]\ntypo: 1\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(bad, registry.names())
    text = str(err.value)
    for field in (
        "organization_id",
        "management_account",
        "home_region",
        "target_ous",
        "regions",
        "remediations.s3_block_public_access.mode",
        "remediations.nope",
        "exemptions[0].reason",
        "typo",
    ):
        assert f"field `{field}`" in text, field
    assert "fix:" in text and "us-east-1" in text


def test_exemptions_match_on_every_given_selector_and_expire(tmp_path):
    config = Config.from_dict(
        {
            "organization_id": "o-abcdefghij",
            "management_account": "111111111111",
            "security_account": "222222222222",
            "home_region": "us-east-1",
            "regions": ["us-east-1"],
            "target_ous": ["r-abcd"],
            "exemptions": [
                {"reason": "site", "resources": ["arn:aws:s3:::site-*"], "expires": "2020-01-01"},
                {"reason": "break-glass", "principals": ["arn:aws:sts::*:assumed-role/BreakGlass/*"]},
            ],
        }
    )
    common = {"remediation": "s3_block_public_access", "account": "333333333333"}
    assert config.exemption_for(**common, resource_arn="arn:aws:s3:::site-a", principal_arn=None) is None  # expired
    hit = config.exemption_for(
        **common, resource_arn="arn:aws:s3:::x", principal_arn="arn:aws:sts::3:assumed-role/BreakGlass/bob"
    )
    assert hit is not None and hit.reason == "break-glass"


def test_options_overlay_the_remediation_defaults_and_survive_the_lambda_environment(tmp_path):
    file = tmp_path / "snapback.yaml"
    text = (
        (ROOT / "snapback.yaml")
        .read_text()
        .replace(
            "  s3_block_public_access:\n    mode: enforce\n",
            "  s3_block_public_access:\n    options: {ports: [22, 2222]}\n",
        )
    )
    file.write_text(text)
    config = load_config(file, registry.names())
    assert config.mode_for("s3_block_public_access") == config.default_mode
    assert config.options_for("s3_block_public_access", {"ports": [22], "cidrs": ["0.0.0.0/0"]}) == {
        "ports": [22, 2222],
        "cidrs": ["0.0.0.0/0"],
    }
    assert Config.from_env({"SNAPBACK_CONFIG": config.to_json()}) == config


def test_options_must_be_a_mapping(tmp_path):
    file = tmp_path / "snapback.yaml"
    text = (ROOT / "snapback.yaml").read_text().replace("    mode: enforce\n", "    options: [22]\n")
    file.write_text(text)
    with pytest.raises(ConfigError, match=r"field `remediations.s3_block_public_access.options`"):
        load_config(file, registry.names())


def test_overrides_breaker_and_retention_are_validated_and_round_trip(tmp_path):
    file = tmp_path / "snapback.yaml"
    good = (ROOT / "snapback.yaml").read_text() + (
        "overrides:\n"
        "  - {ous: [ou-ab12-cdefgh34], mode: notify, reason: production OU}\n"
        "  - {accounts: ['333333333333'], mode: enforce, reason: owner approved, remediations: [s3_block_public_access]}\n"
        "breaker: {max_per_account: 3, window_minutes: 15}\n"
        "audit_retention_days: 90\n"
    )
    file.write_text(good)
    config = load_config(file, registry.names())
    assert config.breaker.max_per_account == 3 and config.breaker.max_per_remediation == 25
    assert config.audit_retention_days == 90
    assert config.mode_for("s3_block_public_access", "333333333333", ("ou-ab12-cdefgh34",)) == "enforce"
    assert config.mode_for("s3_block_public_access", "444444444444", ("ou-ab12-cdefgh34", "r-exam")) == "notify"
    assert config.mode_for("s3_block_public_access", "444444444444", ("r-exam",)) == "enforce"
    assert Config.from_env({"SNAPBACK_CONFIG": config.to_json()}) == config

    file.write_text(
        (ROOT / "snapback.yaml").read_text()
        + "overrides:\n  - {ous: [prod], mode: loud}\n  - {mode: notify, reason: nothing named}\nbreaker: {max_per_account: 0, typo: 1}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(file, registry.names())
    text = str(err.value)
    for field in (
        "overrides[0].ous[0]",
        "overrides[0].mode",
        "overrides[0].reason",
        "overrides[1]",
        "breaker.max_per_account",
        "breaker.typo",
    ):
        assert f"field `{field}`" in text, field


def test_a_principal_exemption_for_a_role_covers_its_sessions():
    from datetime import date

    from snapback.config import Exemption

    exemption = Exemption(reason="break-glass role of the incident team", principals=("arn:aws:iam::*:role/BreakGlass*",))
    common = {"remediation": "x", "account": "111111111111", "resource_arn": "arn:aws:s3:::b", "today": date(2026, 1, 1)}
    assert exemption.matches(principal_arn="arn:aws:sts::111111111111:assumed-role/BreakGlassAdmin/alice", **common)
    assert exemption.matches(principal_arn="arn:aws:iam::111111111111:role/BreakGlassAdmin", **common)
    assert not exemption.matches(principal_arn="arn:aws:sts::111111111111:assumed-role/Developer/bob", **common)
    assert not exemption.matches(principal_arn=None, **common)
