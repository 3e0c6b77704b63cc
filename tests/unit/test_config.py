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
            "  ec2_revoke_world_admin_ports:\n    options: {admin_ports: [22, 2222]}\n",
        )
    )
    file.write_text(text)
    config = load_config(file, registry.names())
    assert config.mode_for("ec2_revoke_world_admin_ports") == config.default_mode
    assert config.options_for("ec2_revoke_world_admin_ports", {"admin_ports": [22], "cidrs": ["0.0.0.0/0"]}) == {
        "admin_ports": [22, 2222],
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


# -- fails closed (issue 15: each of these was accepted, or gave a traceback) ---------------------


def sample_with(tmp_path, extra: str, replace: tuple[str, str] | None = None) -> Path:
    text = (ROOT / "snapback.yaml").read_text()
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    file = tmp_path / "snapback.yaml"
    file.write_text(text + extra)
    return file


def problems_of(file: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(file, registry.names())
    return str(err.value)


def test_a_mistyped_key_in_an_exemption_is_an_error_not_a_whole_account_exemption(tmp_path):
    file = sample_with(
        tmp_path,
        "",
        (
            '    resources: ["arn:aws:s3:::example-public-website-*"]\n',
            "    accounts: ['333333333333']\n    resource: ['arn:aws:s3:::x']\n",
        ),
    )
    text = problems_of(file)
    assert "field `exemptions[0].resource`" in text and "did you mean `resources`" in text and "fix:" in text


@pytest.mark.parametrize("where", ['management_account: "111111111111"', 'security_account: "222222222222"'])
def test_an_unquoted_octal_account_id_is_refused_and_the_error_says_why(tmp_path, where):
    key = where.split(":")[0]
    text = problems_of(sample_with(tmp_path, "", (where, f"{key}: 012345670123")))
    assert f"field `{key}`" in text and "octal" in text and "'012345670123'" in text


def test_unquoted_account_ids_in_lists_are_refused(tmp_path):
    text = problems_of(sample_with(tmp_path, "overrides:\n  - {accounts: [012345670123], mode: notify, reason: prod}\n"))
    assert "field `overrides[0].accounts[0]`" in text and "octal" in text


def test_an_impossible_expiry_date_is_a_named_error_not_a_traceback(tmp_path):
    text = problems_of(sample_with(tmp_path, "", ("expires: 2027-06-30", "expires: 2027-13-45")))
    assert "field `exemptions[0].expires`" in text and "2027-13-45" in text and "YYYY-MM-DD" in text


def test_the_cli_reports_a_bad_date_without_a_traceback(tmp_path, capsys):
    from snapback_ops import cli

    file = sample_with(tmp_path, "", ("expires: 2027-06-30", "expires: 2027-13-45"))
    assert cli.main(["--config", str(file), "audit"]) == 2
    err = capsys.readouterr().err
    assert "exemptions[0].expires" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "options, field, words",
    [
        ("{admin_port: [22]}", "options.admin_port", "did you mean `admin_ports`"),
        ("{admin_ports: [ssh]}", "options.admin_ports[0]", "[22, 3389]"),
        ("{admin_ports: 22}", "options.admin_ports", "[22, 3389]"),
    ],
)
def test_remediation_options_are_checked_against_the_declared_options(tmp_path, options, field, words):
    file = sample_with(
        tmp_path,
        "",
        ("  s3_block_public_access:\n    mode: enforce\n", f"  ec2_revoke_world_admin_ports:\n    options: {options}\n"),
    )
    text = problems_of(file)
    assert f"field `remediations.ec2_revoke_world_admin_ports.{field}`" in text and words in text


def test_every_registered_remediation_accepts_its_own_defaults_as_options():
    """The option types come from the registry: a remediation added later needs no edit here."""
    for remediation in registry.all_remediations():
        values = {k: v for k, v in remediation.defaults.items() if v is not None}
        config = Config.from_dict({**minimal(), "remediations": {remediation.name: {"options": values}}})
        assert config.options_for(remediation.name, remediation.defaults) == {**remediation.defaults, **values}


def test_declared_option_types_narrow_an_option_whose_default_is_none():
    from typing import Annotated, ClassVar

    from pydantic import Field

    from snapback.config_schema import validate

    class Fake:
        name = "fake_rotation"
        summary = "fake"
        defaults: ClassVar[dict] = {"rotation_period_days": None}
        option_types: ClassVar[dict] = {"rotation_period_days": Annotated[int, Field(ge=90, le=2560)] | None}

    ok = validate({**minimal(), "remediations": {"fake_rotation": {"options": {"rotation_period_days": 180}}}}, [Fake])
    assert ok["remediations"]["fake_rotation"]["options"] == {"rotation_period_days": 180}
    with pytest.raises(ConfigError, match=r"options.rotation_period_days"):
        validate({**minimal(), "remediations": {"fake_rotation": {"options": {"rotation_period_days": 30}}}}, [Fake])


@pytest.mark.parametrize("resource", ["example-bucket", "s3://example-bucket", "arn:aws:s3"])
def test_an_exemption_resource_must_be_an_arn_pattern(tmp_path, resource):
    file = sample_with(tmp_path, "", ('"arn:aws:s3:::example-public-website-*"', f'"{resource}"'))
    text = problems_of(file)
    assert "field `exemptions[0].resources[0]`" in text and "ARN" in text


@pytest.mark.parametrize(
    "extra, field",
    [
        ("breaker: {max_per_acount: 3}\n", "breaker.max_per_acount"),
        ("sweep: {enabled: true, schedul: rate(1 hour)}\n", "sweep.schedul"),
        ("guardrails: {enabled: true, exempt_principal: []}\n", "guardrails.exempt_principal"),
        (
            "overrides:\n  - {accounts: ['333333333333'], mode: notify, reason: prod, remediation: [x]}\n",
            "overrides[0].remediation",
        ),
        ("account_names: {'333333333333': prod}\nacount_names: {}\n", "acount_names"),
    ],
)
def test_unknown_keys_are_rejected_at_every_level(tmp_path, extra, field):
    assert f"field `{field}`" in problems_of(sample_with(tmp_path, extra))


def test_an_exemption_that_selects_nothing_is_refused(tmp_path):
    text = problems_of(sample_with(tmp_path, "", ('    resources: ["arn:aws:s3:::example-public-website-*"]\n', "")))
    assert "field `exemptions[0]`" in text and "everything" in text


def test_the_lambda_path_reads_the_validated_json_without_pydantic():
    import subprocess
    import sys

    config = load_config(ROOT / "snapback.yaml", registry.names())
    code = (
        "import sys, os; from snapback.config import Config; c = Config.from_env(); "
        "assert 'pydantic' not in sys.modules and 'yaml' not in sys.modules, sorted(m for m in sys.modules if 'pydantic' in m); "
        "print(c.organization_id)"
    )
    env = {"SNAPBACK_CONFIG": config.to_json(), "PYTHONPATH": str(ROOT / "layers"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == config.organization_id


def test_account_names_round_trip(tmp_path):
    config = load_config(sample_with(tmp_path, "account_names: {'333333333333': prod-payments}\n"), registry.names())
    assert Config.from_env({"SNAPBACK_CONFIG": config.to_json()}).account_names == {"333333333333": "prod-payments"}


def minimal() -> dict:
    return {
        "organization_id": "o-abcdefghij",
        "management_account": "111111111111",
        "security_account": "222222222222",
        "home_region": "us-east-1",
        "regions": ["us-east-1"],
        "target_ous": ["r-abcd"],
    }
