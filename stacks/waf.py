"""The security account's attacker blocklist: Snapback's WAFv2 IP sets and the rule group that blocks them.

`waf_block_attacker_ip` adds the remote IP of a GuardDuty finding to these IP sets (with an expiry in
Snapback's table, removed by the sweep). Scope: REGIONAL, in the Region of the stack that calls
`attacker_blocklist` (one call per configured Region: the security stack for the home Region,
`WafBlocklistStack` for the others), plus CLOUDFRONT when the remediation's `cloudfront` option is
true and the stack is in us-east-1 (CloudFront's WAF resources only exist there).

How web ACLs use it: a web ACL references the rule group by ARN (`RuleGroupReferenceStatement`).
Web ACLs in the security account reference it directly; web ACLs in member accounts cannot
reference another account's rule group themselves: an AWS Firewall Manager WAF policy in the
security account (when it is the Firewall Manager administrator) puts the rule group in the member
accounts' web ACLs (first rule group). The names and ARNs are exported for either.

The remediation's own function role, the sweep's and the custom actions' (undo) get exactly the
WAFv2 actions the remediation declares in `security_permissions`, on these IP sets.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from snapback import registry
from snapback.config import Config

REMEDIATION = "waf_block_attacker_ip"
RULE_GROUP_NAME = "snapback-blocked-attackers"
RULE_GROUP_CAPACITY = 10  # two IP set references cost 1 WCU each; capacity cannot change after creation
# Roles (construct ids in SecurityAccountStack) that make the WAFv2 calls with the security account's credentials.
CALLER_ROLE_IDS = ("WafBlockAttackerIpRole", "SweepRole", "CustomActionsRole")


def _blocklist(scope: Construct, prefix: str, waf_scope: str) -> dict[str, Any]:
    from snapback.remediations.waf_block_attacker_ip import IP_SET_NAMES

    sets = {
        version: wafv2.CfnIPSet(
            scope,
            f"{prefix}IpSetV{version}",
            name=name,
            scope=waf_scope,
            ip_address_version=f"IPV{version}",
            addresses=[],
            description="Snapback: attacker addresses from GuardDuty findings, each with an expiry in the Snapback table",
        )
        for version, name in IP_SET_NAMES.items()
    }
    # Snapback changes the addresses at run time. CloudFormation only writes `Addresses` back when this
    # resource's template changes (a rename, a description edit): keep these definitions stable.
    rules = [
        wafv2.CfnRuleGroup.RuleProperty(
            name=f"snapback-block-ipv{version}",
            priority=index,
            action=wafv2.CfnRuleGroup.RuleActionProperty(block={}),
            statement=wafv2.CfnRuleGroup.StatementProperty(
                ip_set_reference_statement=wafv2.CfnRuleGroup.IPSetReferenceStatementProperty(arn=ip_set.attr_arn)
            ),
            visibility_config=wafv2.CfnRuleGroup.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=f"SnapbackBlockedIpv{version}", sampled_requests_enabled=True
            ),
        )
        for index, (version, ip_set) in enumerate(sorted(sets.items()))
    ]
    group = wafv2.CfnRuleGroup(
        scope,
        f"{prefix}RuleGroup",
        name=RULE_GROUP_NAME,
        scope=waf_scope,
        capacity=RULE_GROUP_CAPACITY,
        description="Snapback: block the attacker addresses GuardDuty named, each until it expires",
        rules=rules,
        visibility_config=wafv2.CfnRuleGroup.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name="SnapbackBlockedAttackers", sampled_requests_enabled=True
        ),
    )
    return {"ip_sets": sets, "rule_group": group}


def attacker_blocklist(stack: cdk.Stack, config: Config) -> dict[str, Any]:
    """Create the IP sets and rule group in `stack` (REGIONAL, and CLOUDFRONT in us-east-1 when the
    remediation's `cloudfront` option is on), grant the caller roles found in `stack`, export the
    names and ARNs. Returns {"REGIONAL": {...}, "CLOUDFRONT": {...}?}."""
    options = config.options_for(REMEDIATION, registry.get(REMEDIATION).defaults)
    made = {"REGIONAL": _blocklist(stack, "SnapbackWafRegional", "REGIONAL")}
    if options.get("cloudfront"):
        if cdk.Token.is_unresolved(stack.region) or stack.region != "us-east-1":
            cdk.Annotations.of(stack).add_warning_v2(
                "snapback:waf-cloudfront", "the cloudfront option needs the blocklist in us-east-1: add WafBlocklistStack there"
            )
        else:
            made["CLOUDFRONT"] = _blocklist(stack, "SnapbackWafCloudFront", "CLOUDFRONT")
    ip_set_arns = [s.attr_arn for m in made.values() for s in m["ip_sets"].values()]
    actions = sorted(registry.get(REMEDIATION).security_permissions)  # type: ignore[attr-defined]
    for role_id in CALLER_ROLE_IDS:
        role = stack.node.try_find_child(role_id)
        if isinstance(role, iam.Role):
            grant_callers(role, stack, ip_set_arns, actions)
    for waf_scope, m in made.items():
        label = waf_scope.title()
        cdk.CfnOutput(stack, f"SnapbackWaf{label}RuleGroupArn", value=m["rule_group"].attr_arn,
                      export_name=f"snapback-waf-{waf_scope.lower()}-rule-group-arn")  # fmt: skip
        for version, ip_set in m["ip_sets"].items():
            cdk.CfnOutput(stack, f"SnapbackWaf{label}IpSetV{version}Arn", value=ip_set.attr_arn,
                          export_name=f"snapback-waf-{waf_scope.lower()}-ipv{version}-arn")  # fmt: skip
    return made


def grant_callers(role: iam.IRole, stack: cdk.Stack, ip_set_arns: list[str], actions: list[str]) -> None:
    """The declared WAFv2 actions: Get/Update on Snapback's IP sets only; ListIPSets (finding a set's
    Id by name) on the IP sets of the account and Region."""
    for statement in _statements(stack, ip_set_arns, actions):
        role.add_to_principal_policy(statement)
    if "wafv2:ListIPSets" in actions:
        _acknowledge_list(role)


class WafBlocklistStack(cdk.Stack):
    """The blocklist in another Region of the security account (one per configured Region besides the
    home Region, and us-east-1 for CloudFront). Grants go to the home stack's roles by name."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Snapback: attacker blocklist (WAFv2 IP sets, rule group)", **kwargs)
        self.blocklist = attacker_blocklist(self, config)
        from snapback.member_role import CUSTOM_ACTIONS_ROLE, SWEEP_ROLE, remediator_role_name

        arns = [s.attr_arn for m in self.blocklist.values() for s in m["ip_sets"].values()]
        actions = sorted(registry.get(REMEDIATION).security_permissions)  # type: ignore[attr-defined]
        for index, name in enumerate((remediator_role_name(REMEDIATION), SWEEP_ROLE, CUSTOM_ACTIONS_ROLE)):
            role = iam.Role.from_role_name(self, f"Caller{index}", name)
            policy = iam.Policy(self, f"CallerPolicy{index}", roles=[role], statements=_statements(self, arns, actions))
            if "wafv2:ListIPSets" in actions:
                _acknowledge_list(policy)


def _acknowledge_list(scope: Any) -> None:
    """cdk-nag: ListIPSets has no resource-level permissions (Service Authorization Reference, AWS WAF V2:
    ListIPSets lists no resource type), so it is granted on `*`; Get/UpdateIPSet name Snapback's sets."""
    from stacks.nag import acknowledge

    acknowledge(
        scope,
        "IAM5",
        "wafv2:ListIPSets has no resource-level permissions (it finds Snapback's set's Id by name); "
        "Get/UpdateIPSet are granted on Snapback's two IP sets only",
        "Resource::*",
    )


def _statements(stack: cdk.Stack, arns: list[str], actions: list[str]) -> list[iam.PolicyStatement]:
    out = [iam.PolicyStatement(actions=[a for a in actions if a != "wafv2:ListIPSets"], resources=arns)]
    if "wafv2:ListIPSets" in actions:
        out.append(iam.PolicyStatement(actions=["wafv2:ListIPSets"], resources=["*"]))
    return out
