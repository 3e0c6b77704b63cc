"""The CDK app: the real `cdk synth` (pinned CLI, offline), cdk-nag, cfn-lint and Template assertions.

One synth per session (about 12 s); every assertion reads the templates it wrote. Everything that
varies with the catalogue is derived from the registry here too, so adding a remediation needs no
edit in this file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from snapback import membership, registry
from snapback.config import load_config
from snapback.member_role import SWEEP_ROLE, member_caller_arns, permissions_policy, remediator_role_name
from snapback.remediations import management_permission_boundary as mpb
from tests.conftest import ROOT

CONFIG = load_config(ROOT / "snapback.yaml", registry.names())
ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_CLI_TELEMETRY": "true", "CI": "true"}


def cdk(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    assert npx, "npx (Node.js) is needed for cdk synth"
    return subprocess.run(
        [npx, "--no-install", "cdk", *args, "--no-notices"], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="session")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Local iteration only: SNAPBACK_CDK_OUT names an existing, current `cdk synth -o DIR` to reuse.
    reuse = os.environ.get("SNAPBACK_CDK_OUT")
    if reuse and not os.environ.get("CI"):
        return Path(reuse)
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        outdir = tmp_path_factory.mktemp("cdk.out")
        done = cdk("synth", "-q", "-o", str(outdir))
        assert done.returncode == 0, done.stdout + done.stderr
        return outdir
    # Under xdist every worker would synthesize the same app (about 30 s of CPU each): the first one
    # does, into the run's shared temp dir, and the others wait on the lock and read it.
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent / "cdk.out-shared"
    with open(str(shared) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = shared / ".synthesized"
        if not marker.exists():
            done = cdk("synth", "-q", "-o", str(shared))
            assert done.returncode == 0, done.stdout + done.stderr
            marker.write_text("ok")
    return shared


def canonical(pattern: Any) -> str:
    """JSON with sorted keys, 7.0 and 7 alike (CloudFormation keeps a number, not its spelling)."""

    def norm(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    return json.dumps(norm(pattern), sort_keys=True)


def template(out: Path, stack: str) -> dict[str, Any]:
    return json.loads((out / f"{stack}.template.json").read_text())


def resources(tpl: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in tpl["Resources"].items() if v["Type"] == kind}


def test_synth_produces_every_stack_with_nag_clean_and_every_acknowledgment_reasoned(out):
    for stack in ("SnapbackSecurityAccount", "SnapbackManagementAccount", "SnapbackMember"):
        assert (out / f"{stack}.template.json").is_file(), stack
    report = json.loads((out / "validation-report.json").read_text())
    (nag,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success" and nag["violations"] == []
    for suppressed in nag["suppressedViolations"]:
        assert len(suppressed["reason"]) >= 40, suppressed
        # IAM4/IAM5 are acknowledged finding by finding, never a whole rule.
        if suppressed["ruleName"] in ("AwsSolutions-IAM4", "AwsSolutions-IAM5"):
            assert "[" in suppressed["acknowledgedId"], suppressed["acknowledgedId"]


def test_cfn_lint_passes_on_every_template(out):
    templates = sorted(str(p) for p in out.glob("*.template.json"))
    done = subprocess.run(
        [str(Path(os.sys.executable).with_name("cfn-lint")), "--config-file", str(ROOT / ".cfnlintrc.yaml"), "--", *templates],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_function_per_remediation_and_one_rule_per_trigger_with_the_pattern_verbatim(out):
    tpl = template(out, "SnapbackSecurityAccount")
    functions = resources(tpl, "AWS::Lambda::Function")
    by_remediation = {
        f["Properties"]["Environment"]["Variables"]["SNAPBACK_REMEDIATION"]: (k, f)
        for k, f in functions.items()
        if "SNAPBACK_REMEDIATION" in f["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert sorted(by_remediation) == registry.names()
    rules = [r for r in resources(tpl, "AWS::Events::Rule").values() if "EventBusName" in r["Properties"]]
    for remediation in registry.all_remediations():
        logical_id, function = by_remediation[remediation.name]
        props = function["Properties"]
        assert props["Runtime"].startswith("python3.")
        # no reservation by default: a new account's concurrency quota can be 10 (issue 12 item 4)
        assert "ReservedConcurrentExecutions" not in props
        assert json.loads(props["Environment"]["Variables"]["SNAPBACK_CONFIG"])["organization_id"] == CONFIG.organization_id
        mine = [r for r in rules if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}]
        assert sorted(canonical(r["Properties"]["EventPattern"]) for r in mine) == sorted(
            canonical(t.pattern) for t in remediation.triggers
        ), remediation.name
        for rule in mine:
            target = rule["Properties"]["Targets"][0]
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
            assert "Arn" in target["DeadLetterConfig"]
        configs = [
            c["Properties"]
            for c in resources(tpl, "AWS::Lambda::EventInvokeConfig").values()
            if c["Properties"]["FunctionName"] == {"Ref": logical_id}
        ]
        assert configs and "OnFailure" in configs[0]["DestinationConfig"], remediation.name


def test_function_roles_have_the_fixed_names_the_member_trust_pins(out):
    tpl = template(out, "SnapbackSecurityAccount")
    names = {r["Properties"].get("RoleName") for r in resources(tpl, "AWS::IAM::Role").values()}
    for remediation in registry.all_remediations():
        assert remediator_role_name(remediation.name) in names


def test_central_bus_admits_only_principals_of_the_organization(out):
    tpl = template(out, "SnapbackSecurityAccount")
    (bus,) = resources(tpl, "AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == "snapback"
    policies = list(resources(tpl, "AWS::Events::EventBusPolicy").values())
    statements = [p["Properties"].get("Statement") for p in policies]
    assert statements and all(
        s["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": CONFIG.organization_id}} and s["Action"] == "events:PutEvents"
        for s in statements
    )


def test_kms_key_rotates_and_encrypts_topic_queues_and_table(out):
    tpl = template(out, "SnapbackSecurityAccount")
    ((key_id, key),) = resources(tpl, "AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    services = {
        s["Principal"].get("Service") for s in key["Properties"]["KeyPolicy"]["Statement"] if isinstance(s["Principal"], dict)
    }
    assert {"events.amazonaws.com", "cloudwatch.amazonaws.com"} <= services
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    topics = resources(tpl, "AWS::SNS::Topic").values()
    assert topics and all(t["Properties"]["KmsMasterKeyId"] == key_arn for t in topics)
    for queue in resources(tpl, "AWS::SQS::Queue").values():
        # EventBridge DLQs use SSE-SQS (no key grant to get wrong, item 9); the others the key.
        props = queue["Properties"]
        assert props.get("KmsMasterKeyId") == key_arn or props.get("SqsManagedSseEnabled") is True
    targets = [t for r in resources(tpl, "AWS::Events::Rule").values() for t in r["Properties"]["Targets"]]
    dlqs = {t["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] for t in targets}
    assert dlqs and all(tpl["Resources"][q]["Properties"].get("SqsManagedSseEnabled") is True for q in dlqs)
    (table,) = resources(tpl, "AWS::DynamoDB::GlobalTable").values()
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["Replicas"][0]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    subscriptions = resources(tpl, "AWS::SNS::Subscription").values()
    assert {s["Properties"]["Endpoint"] for s in subscriptions if s["Properties"]["Protocol"] == "email"} == set(
        CONFIG.notifications.email
    )


def test_stackset_is_service_managed_auto_deployed_and_carries_the_member_template(out):
    tpl = template(out, "SnapbackSecurityAccount")
    (stackset,) = resources(tpl, "AWS::CloudFormation::StackSet").values()
    props = stackset["Properties"]
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"]["Enabled"] is True
    (group,) = props["StackInstancesGroup"]
    assert group["DeploymentTargets"]["OrganizationalUnitIds"] == list(CONFIG.target_ous)
    assert group["Regions"] == list(CONFIG.regions)
    assert json.loads(props["TemplateBody"]) == template(out, "SnapbackMember")


@pytest.mark.parametrize("stack", ["SnapbackMember", "SnapbackManagementAccount"])
def test_member_role_trust_pins_function_roles_and_policy_is_the_declared_union(out, stack):
    tpl = template(out, stack)
    (role,) = [r for r in resources(tpl, "AWS::IAM::Role").values() if r["Properties"].get("RoleName") == "snapback-remediator"]
    assert role["Condition"], "the remediator role exists once per account: home Region only"
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    arns = sorted(member_caller_arns(CONFIG.security_account, "${AWS::Partition}"))
    for statement in trust:
        principals = statement["Principal"]["AWS"]
        # the root alert declares nothing: its function role cannot enter a member (item 6)
        assert not any("root-activity-alert" in json.dumps(p) for p in principals)
        rendered = sorted(json.dumps(p) for p in principals)
        assert len(principals) == len(arns)
        assert all(CONFIG.security_account in r and "snapback-fn-" in r for r in rendered)
        assert any(f"role/{SWEEP_ROLE}" in r for r in rendered)
        assert statement["Condition"] == {"StringLike": {"sts:SourceIdentity": "snapback@*"}}
    (policy,) = role["Properties"]["Policies"]
    assert policy["PolicyDocument"] == permissions_policy()


def test_member_forwarding_rule_selects_what_the_triggers_need_and_has_a_dlq(out):
    tpl = template(out, "SnapbackMember")
    (rule,) = resources(tpl, "AWS::Events::Rule").values()
    assert rule["Properties"]["Name"] == "snapback-forward"
    (role,) = [r for r in resources(tpl, "AWS::IAM::Role").values() if "events.amazonaws.com" in json.dumps(r)]
    assert "snapback-forwarder" in json.dumps(role["Properties"]["RoleName"])  # the SCP protects snapback-*
    selectors, alarms = rule["Properties"]["EventPattern"]["$or"]
    assert alarms["detail-type"] == ["CloudWatch Alarm State Change"]
    pattern = selectors
    for remediation in registry.all_remediations():
        for trigger in remediation.triggers:
            assert set(trigger.pattern["source"]) <= set(pattern["source"])
            assert set(trigger.pattern["detail-type"]) <= set(pattern["detail-type"])
    target = rule["Properties"]["Targets"][0]
    assert f":events:{CONFIG.home_region}:{CONFIG.security_account}:event-bus/snapback" in json.dumps(target["Arn"])
    assert "RoleArn" in target and "DeadLetterConfig" in target


def test_an_invalid_config_stops_synth_naming_the_field_and_the_fix(tmp_path):
    bad = tmp_path / "snapback.yaml"
    bad.write_text((ROOT / "snapback.yaml").read_text().replace("home_region: us-east-1", "home_region: mars-1"))
    done = cdk("synth", "-q", "-o", str(tmp_path / "out"), "-c", f"snapback:config={bad}")
    assert done.returncode != 0
    assert "field `home_region`" in done.stderr + done.stdout and "fix:" in done.stderr + done.stdout


def is_management_boundary(resource: dict[str, Any]) -> bool:
    return (
        resource["Type"] == "AWS::IAM::ManagedPolicy"
        and resource["Properties"].get("ManagedPolicyName") == mpb.BOUNDARY_POLICY_NAME
    )


def _statements(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if "Effect" in node and ("Action" in node or "NotAction" in node) else []
        return found + [s for value in node.values() for s in _statements(value)]
    if isinstance(node, list):
        return [s for value in node for s in _statements(value)]
    return []


@pytest.mark.parametrize("stack", ["SnapbackSecurityAccount", "SnapbackManagementAccount", "SnapbackMember"])
def test_no_iam_statement_allows_every_action(out, stack):
    # The management account's permission boundary is the one allow-all: a boundary grants nothing, it
    # caps what identity policies grant (its own test below pins its exact document).
    grants = {k: v for k, v in template(out, stack)["Resources"].items() if not is_management_boundary(v)}
    statements = _statements(grants)
    assert statements
    for statement in (s for s in statements if s["Effect"] == "Allow"):
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        assert "NotAction" not in statement and "*" not in actions, statement


def test_chatbot_channel_gets_its_own_custom_format_topic_and_can_run_nothing(out):
    tpl = template(out, "SnapbackSecurityAccount")
    (config,) = resources(tpl, "AWS::Chatbot::SlackChannelConfiguration").values()
    props = config["Properties"]
    assert props["SlackWorkspaceId"] == CONFIG.notifications.chatbot_slack_workspace_id
    assert props["SlackChannelId"] == CONFIG.notifications.chatbot_slack_channel_id
    assert "AWSDenyAll" in json.dumps(props["GuardrailPolicies"])
    (topic_ref,) = props["SnsTopicArns"]
    functions = resources(tpl, "AWS::Lambda::Function").values()
    remediators = [f for f in functions if "SNAPBACK_REMEDIATION" in f["Properties"].get("Environment", {}).get("Variables", {})]
    assert all(f["Properties"]["Environment"]["Variables"]["SNAPBACK_CHAT_TOPIC_ARN"] == topic_ref for f in remediators)


def test_sweep_function_runs_on_its_schedule_fans_out_to_itself_with_the_trusted_role(out):
    tpl = template(out, "SnapbackSecurityAccount")
    functions = resources(tpl, "AWS::Lambda::Function")
    roles = resources(tpl, "AWS::IAM::Role")
    ((logical_id, function),) = [
        (k, f) for k, f in functions.items() if "reconciliation sweep" in f["Properties"].get("Description", "")
    ]
    props = function["Properties"]
    assert props["Timeout"] == 900 and "ReservedConcurrentExecutions" not in props and props["FunctionName"] == "snapback-sweep"
    assert props["Handler"] == "handler.handler" and "SNAPBACK_REMEDIATION" not in props["Environment"]["Variables"]
    assert json.loads(props["Environment"]["Variables"]["SNAPBACK_CONFIG"])["sweep"]["schedule"] == CONFIG.sweep.schedule
    role_id = props["Role"]["Fn::GetAtt"][0]
    assert roles[role_id]["Properties"]["RoleName"] == SWEEP_ROLE
    # it can enter members through the remediator role, and read the organization's accounts
    policies = [p for p in resources(tpl, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assume = next(s for s in statements if s.get("Sid") == "AssumeMemberRole")
    assert "sts:SetSourceIdentity" in assume["Action"] and "snapback-remediator" in json.dumps(assume["Resource"])
    assert any("securityhub:BatchImportFindings" in json.dumps(s["Action"]) for s in statements)
    # fan-out: it may invoke itself, and nothing else
    (fan,) = [s for s in statements if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    assert fan["Action"] == "lambda:InvokeFunction" and json.dumps(fan["Resource"]).endswith(':function:snapback-sweep"]]}')
    (schedule,) = [r for r in resources(tpl, "AWS::Events::Rule").values() if r["Properties"].get("Name") == "snapback-sweep"]
    assert schedule["Properties"]["ScheduleExpression"] == CONFIG.sweep.schedule
    assert schedule["Properties"]["State"] == ("ENABLED" if CONFIG.sweep.enabled else "DISABLED")
    assert "EventBusName" not in schedule["Properties"]  # the default bus
    (target,) = schedule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]} and "Arn" in target["DeadLetterConfig"]
    configs = [
        c["Properties"]
        for c in resources(tpl, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": logical_id}
    ]
    assert configs and "OnFailure" in configs[0]["DestinationConfig"]
    # Organizations membership changes refresh the membership cache through the same function, on the central bus
    (membership_rule,) = [
        r for r in resources(tpl, "AWS::Events::Rule").values() if r["Properties"].get("Name") == "snapback-membership"
    ]
    assert canonical(membership_rule["Properties"]["EventPattern"]) == canonical(membership.rule_pattern())
    assert membership_rule["Properties"]["State"] == "ENABLED" and "EventBusName" in membership_rule["Properties"]
    (target,) = membership_rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]} and "Arn" in target["DeadLetterConfig"]
    # the member StackSet is created after the roles its trust names
    (stackset_id,) = resources(tpl, "AWS::CloudFormation::StackSet")
    assert role_id in tpl["Resources"][stackset_id]["DependsOn"]


def test_every_function_reads_the_trimmed_service_models_shipped_in_the_layer(out):
    """botocore finds the layer's trimmed models through AWS_DATA_PATH (stacks/service_models.py)."""
    from stacks.service_models import FOLDER, registry_services

    tpl = template(out, "SnapbackSecurityAccount")
    functions = resources(tpl, "AWS::Lambda::Function")
    assert functions
    for name, fn in functions.items():
        env = fn["Properties"].get("Environment", {}).get("Variables", {})
        if "SNAPBACK_CONFIG" in env:  # Snapback's own functions (not CDK's custom-resource providers)
            assert env.get("AWS_DATA_PATH") == f"/opt/{FOLDER}", name
    layers = [p for p in out.glob("asset.*") if (p / "python" / "snapback" / "__init__.py").exists()]
    assert layers, "the runtime library layer asset is missing"
    shipped = {p.parent.parent.name for p in (layers[0] / FOLDER).glob("*/*/service-2.json")}
    assert shipped == registry_services()
    assert (layers[0] / FOLDER / "endpoints.json").is_file()  # the services' endpoint entries (botocore reads it first)


def with_pseudo(value: Any) -> Any:
    """`value` with every `Fn::Join` of literals and pseudo parameters written as one string
    (`{"Ref": "AWS::Partition"}` as `${AWS::Partition}`); other references are kept."""
    if isinstance(value, list):
        return [with_pseudo(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and str(value["Ref"]).startswith("AWS::"):
        return "${" + value["Ref"] + "}"
    if set(value) == {"Fn::Join"}:
        sep, parts = value["Fn::Join"]
        parts = [with_pseudo(p) for p in parts]
        if all(isinstance(p, str) for p in parts):
            return sep.join(parts)
        return {"Fn::Join": [sep, parts]}
    return {k: with_pseudo(v) for k, v in value.items()}


def test_management_stack_offers_the_boundary_the_remediation_expects_with_its_exact_document(out):
    """Issue 14 item 8: SCPs never apply to the management account; its principals get this boundary."""
    tpl = template(out, "SnapbackManagementAccount")
    ((lid, policy),) = [(k, v) for k, v in tpl["Resources"].items() if is_management_boundary(v)]
    props = policy["Properties"]
    assert props["ManagedPolicyName"] == "snapback-management-boundary" and props.get("Path", "/") == "/"
    arn = f"arn:${{AWS::Partition}}:iam::{CONFIG.management_account}:policy{props.get('Path', '/')}{props['ManagedPolicyName']}"
    assert with_pseudo(props["PolicyDocument"]) == mpb.boundary_policy(arn)
    assert not props.get("Roles") and not props.get("Users") and not props.get("Groups"), "a boundary, never attached"
    # the remediation's default `boundary_policy_arn` is this policy's ARN
    remediation = mpb.ManagementPermissionBoundary()
    remediation.management_account = CONFIG.management_account
    remediation.options = CONFIG.options_for(remediation.name, remediation.defaults)
    assert remediation.boundary_arn("aws") == arn.replace("${AWS::Partition}", "aws")
    # cdk-nag: exactly the boundary's two wildcard findings are acknowledged, each with its reason
    report = json.loads((out / "validation-report.json").read_text())
    (nag,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    acknowledged = {
        s["acknowledgedId"]
        for s in nag["suppressedViolations"]
        for c in s["violatingConstructs"]
        if c["constructPath"].startswith("SnapbackManagementAccount/ManagementBoundary/")
    }
    assert acknowledged == {"AwsSolutions::AwsSolutions-IAM5[Action::*]", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"}


@pytest.mark.parametrize("stack", ["SnapbackManagementAccount", "SnapbackManagementForwarder-eu-west-1", "SnapbackMember"])
def test_snapbacks_own_management_roles_carry_the_boundary_except_the_remediator(out, stack):
    """Its own roles would be paged by the remediation otherwise; the remediator's undo removes
    boundaries, which the boundary denies. Member accounts are capped by SCPs: no boundary there."""
    tpl = template(out, stack)
    home = {k for k, v in tpl["Resources"].items() if is_management_boundary(v)}
    arn = f"arn:${{AWS::Partition}}:iam::{CONFIG.management_account}:policy/{mpb.BOUNDARY_POLICY_NAME}"
    for lid, role in resources(tpl, "AWS::IAM::Role").items():
        boundary = with_pseudo(role["Properties"].get("PermissionsBoundary"))
        if stack == "SnapbackMember" or role["Properties"].get("RoleName") == CONFIG.member_role_name:
            assert boundary is None, lid
        elif home:
            assert boundary == {"Ref": next(iter(home))}, lid
        else:
            assert boundary == arn, lid
    if stack == "SnapbackManagementForwarder-eu-west-1":  # the boundary exists before the role that names it
        manifest = json.loads((out / "manifest.json").read_text())
        assert "SnapbackManagementAccount" in manifest["artifacts"][stack]["dependencies"]


def test_the_boundary_is_not_offered_when_the_config_names_another():
    import dataclasses

    from stacks.management import offered_boundary_arn

    ours = f"arn:aws:iam::{CONFIG.management_account}:policy/{mpb.BOUNDARY_POLICY_NAME}"
    assert offered_boundary_arn(CONFIG, "aws") == ours
    for configured, offered in (
        (ours, ours),
        (ours.replace("arn:aws:", "arn:aws-us-gov:"), ours),
        (f"arn:aws:iam::{CONFIG.management_account}:policy/corp-boundary", None),
    ):
        config = dataclasses.replace(CONFIG, options={mpb.ManagementPermissionBoundary.name: {"boundary_policy_arn": configured}})
        assert offered_boundary_arn(config, "aws") == offered, configured
