"""Documented AWS hard limits on every synthesized template (tests/deploy/quotas.py cites each one).

Each limit is also fed the shape that broke it before issue 12, to show the gate catches it.
"""

from __future__ import annotations

import copy

import pytest

from snapback import member_role, registry
from stacks.security import reserved_concurrency
from tests.deploy.quotas import violations
from tests.infra.test_stacks import out, resources, template  # noqa: F401 - the session synth fixture

STACKS = ["SnapbackSecurityAccount", "SnapbackManagementAccount", "SnapbackMember", "SnapbackManagementForwarder-eu-west-1"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_template_fits_every_documented_limit(out, stack):  # noqa: F811
    assert violations(stack, template(out, stack)) == []


def test_every_session_policy_fits_assume_roles_limit():
    for remediation in registry.acting():
        text = member_role.session_policy_json(remediation.name)
        assert text is not None and len(text) <= member_role.SESSION_POLICY_MAX_CHARS, remediation.name


def test_a_rule_dlq_policy_with_one_statement_per_rule_is_caught(out):  # noqa: F811 - item 1
    tpl = copy.deepcopy(template(out, "SnapbackSecurityAccount"))
    ((_, policy),) = [
        (k, p) for k, p in resources(tpl, "AWS::SQS::QueuePolicy").items() if "SnapbackRulesOnly" in str(p["Properties"])
    ]
    statement = next(s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "SnapbackRulesOnly")
    policy["Properties"]["PolicyDocument"]["Statement"] = [
        {**statement, "Sid": f"Rule{i}", "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [f"Rule{i}", "Arn"]}}}}
        for i in range(25)
    ]
    found = violations("old", tpl)
    assert any("SQS policy" in v and "statements 25 > 20" in v for v in found), found


def test_reserved_concurrency_beyond_a_new_accounts_quota_is_caught(out):  # noqa: F811 - item 4
    tpl = copy.deepcopy(template(out, "SnapbackSecurityAccount"))
    for function in resources(tpl, "AWS::Lambda::Function").values():
        function["Properties"]["ReservedConcurrentExecutions"] = 10
    assert any("reserved concurrency total" in v for v in violations("old", tpl))
    # With the account's real quota stated, a fitting total passes.
    count = len(resources(tpl, "AWS::Lambda::Function"))
    assert not any("reserved concurrency" in v for v in violations("old", tpl, concurrency_quota=100 + 10 * count))


def test_the_stack_refuses_a_reservation_the_quota_cannot_hold():
    context = {"snapback:reserved_concurrency": "10", "snapback:concurrency_quota": "110"}.get
    with pytest.raises(ValueError, match="unreserved"):
        reserved_concurrency(context, 12)
    assert reserved_concurrency({}.get, 12) is None
    assert reserved_concurrency({"snapback:reserved_concurrency": 5, "snapback:concurrency_quota": 1000}.get, 12) == 5


def test_an_environment_over_4_kb_is_caught(out):  # noqa: F811 - item 12 (exemptions grow SNAPBACK_CONFIG)
    tpl = copy.deepcopy(template(out, "SnapbackSecurityAccount"))
    function = next(f for f in resources(tpl, "AWS::Lambda::Function").values() if "SNAPBACK_CONFIG" in str(f))
    function["Properties"]["Environment"]["Variables"]["SNAPBACK_CONFIG"] += "x" * 4096
    assert any("environment bytes" in v for v in violations("old", tpl))


def test_an_oversized_scp_and_long_names_are_caught(out):  # noqa: F811
    tpl = copy.deepcopy(template(out, "SnapbackManagementAccount"))
    (policy,) = resources(tpl, "AWS::Organizations::Policy").values()
    policy["Properties"]["Content"]["Statement"][0]["Condition"]["ArnNotLike"]["aws:PrincipalARN"] += ["x" * 100] * 60
    role = next(iter(resources(tpl, "AWS::IAM::Role").values()))
    role["Properties"]["RoleName"] = "snapback-" + "r" * 60
    found = violations("old", tpl)
    assert any("(SCP)" in v for v in found) and any("name length" in v for v in found), found


def test_an_slack_mapping_cap_out_of_range_is_caught(out):  # noqa: F811 - item 10
    tpl = copy.deepcopy(template(out, "SnapbackSecurityAccount"))
    (mapping,) = resources(tpl, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] == 2
    mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] = 1
    assert any("MaximumConcurrency" in v for v in violations("old", tpl))
