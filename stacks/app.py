"""Assemble the stacks of one organization from a validated Config (used by app.py and the tests)."""

from __future__ import annotations

import json

import aws_cdk as cdk

from snapback.config import Config
from stacks import nag
from stacks.management import ManagementAccountStack, ManagementForwarderStack
from stacks.member import MemberStack
from stacks.security import SecurityAccountStack
from stacks.waf import WafBlocklistStack


def member_template(config: Config) -> str:
    """The MemberStack template as the StackSet's body: synthesized in its own app, nag-checked too."""
    app = cdk.App(analytics_reporting=False)
    nag.add_checks(app)
    stack = MemberStack(app, "SnapbackMember", config=config)
    template = app.synth().get_stack_by_name(stack.stack_name).template
    return json.dumps(template, separators=(",", ":"), sort_keys=True)


def build(app: cdk.App, config: Config) -> dict[str, cdk.Stack]:
    nag.add_checks(app)
    security = SecurityAccountStack(
        app,
        "SnapbackSecurityAccount",
        config=config,
        member_template=member_template(config),
        env=cdk.Environment(account=config.security_account, region=config.home_region),
    )
    management = ManagementAccountStack(
        app,
        "SnapbackManagementAccount",
        config=config,
        env=cdk.Environment(account=config.management_account, region=config.home_region),
    )
    stacks: dict[str, cdk.Stack] = {"security": security, "management": management}
    for region in config.regions:
        if region != config.home_region:
            stacks[f"management-{region}"] = ManagementForwarderStack(
                app,
                f"SnapbackManagementForwarder-{region}",
                config=config,
                env=cdk.Environment(account=config.management_account, region=region),
            )
            stacks[f"management-{region}"].add_stack_dependency(
                management, "its forwarder role carries the home stack's boundary"
            )
    for region in config.regions:
        if region != config.home_region:  # the blocklist the WAF remediation writes, in every Region
            stacks[f"waf-{region}"] = WafBlocklistStack(
                app,
                f"SnapbackWaf-{region}",
                config=config,
                env=cdk.Environment(account=config.security_account, region=region),
            )
    # The member template as its own stack too, so cfn-lint and reviewers see it in cdk.out.
    stacks["member"] = MemberStack(app, "SnapbackMember", config=config)
    return stacks
