"""The README a new user follows: its catalogue is the registry's, its first section stays the two
commands, and its worked example of a remediation really works (issue 15: "the catalogue lists 1 of
10 remediations; 'adding a remediation' is two sentences; no rollout guide")."""

from __future__ import annotations

import re
from pathlib import Path

from snapback import registry
from snapback_ops.docs import END, START, catalogue, with_catalogue

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}")
    following = README.find("\n## ", start + 3)
    return README[start : following if following > 0 else None]


def test_the_catalogue_is_generated_from_the_registry_and_in_step():
    assert with_catalogue(README) == README, "README catalogue is stale: python -m snapback_ops docs"
    table = README.split(START, 1)[1].split(END, 1)[0]
    for name in registry.names():
        assert f"| `{name}` (" in table
    assert table.strip() == catalogue()


def test_the_first_section_is_still_the_two_commands():
    first = README.split("\n## ", 2)[1]
    assert first.startswith("Try it") and "make demo" in first and "make test" in first


def test_it_says_real_aws_needs_credentials_and_deploys_one_stack_at_a_time():
    assert "needs credentials" in README
    deploy = section("Deploying for real")
    assert "docs/DEPLOY.md" in deploy and "one stack at a time" in deploy and "--all" in deploy
    assert "npx cdk deploy SnapbackSecurityAccount" in deploy and "npx cdk deploy SnapbackManagementAccount" in deploy
    assert "aws secretsmanager put-secret-value --secret-id snapback/slack-webhook" in deploy


def test_the_rollout_guide_goes_dry_run_backtest_notify_enforce_with_commands():
    rollout = section("Rolling out")
    steps = [rollout.index(word) for word in ("**Dry-run**", "**Backtest**", "**Notify**", "**Enforce**")]
    assert steps == sorted(steps)
    for command in ("snapback audit --outcome DRY_RUN", "snapback backtest ./trail", "snapback approve", "mode: enforce"):
        assert command in rollout


def test_the_exit_codes_table_matches_the_cli():
    from snapback_ops import cli

    table = section("The CLI")
    for code in (cli.EXIT_OK, cli.EXIT_REJECTED, cli.EXIT_USAGE, cli.EXIT_INTERNAL, cli.EXIT_INTERRUPTED, cli.EXIT_PIPE):
        assert f"| {code} |" in table


def test_the_worked_example_is_a_working_remediation(aws, monkeypatch):
    """The guide's code, run: it resolves a real-format event, re-reads, fixes, and undoes under moto."""
    import boto3

    from snapback import registry as registry_module
    from snapback.clients import Clients
    from snapback.config_schema import options_model
    from snapback.events import normalise
    from snapback_ops.demo import cloudtrail_record

    guide = section("Writing a remediation")
    code = re.search(r"```python\n(.*?)```", guide, re.S).group(1)  # type: ignore[union-attr]
    monkeypatch.setattr(registry_module, "register", lambda cls: cls)  # keep the example out of the registry
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README's example
    example = namespace["EbsDefaultEncryption"]()
    assert example.name not in registry.names()
    options_model(example)(also_set_default_key=True)  # its options validate like any remediation's

    account = "123456789012"
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.disable_ebs_encryption_by_default()
    record = cloudtrail_record(account, "ec2.amazonaws.com", "DisableEbsEncryptionByDefault", {})
    (envelope,) = normalise(record)
    from snapback.events import parse_cloudtrail

    target = example.resolve(envelope, parse_cloudtrail(envelope.detail))
    # Kept out of the registry, the example has no registry session policy: give it its own declared one.
    import json

    from snapback import clients as clients_module

    own = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(example.permissions), "Resource": "*"}]}
    monkeypatch.setattr(clients_module, "_session_policy", lambda name: json.dumps(own))
    session = Clients(region="us-east-1").member(account, "us-east-1", example.name)
    before = example.inspect(session, target)
    assert not example.is_compliant(before)
    undo = example.apply(session, target, before)
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    example.undo(session, target, undo)
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
