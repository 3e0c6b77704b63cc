"""`snapback doctor`: check a real deployment end to end and print what is missing, with the fix.

Run it with credentials of the management account (or of a principal that may assume `--role` in
every account of the organization, OrganizationAccountAccessRole by default). It only reads.

What it checks, from the same sources the stacks are generated from (config + registry):
- the central bus exists in the security account's home Region and its policy admits the organization;
- every central rule (one per trigger, the sweep schedule, the custom actions, the member alarms) is
  ENABLED with a target and a dead-letter queue;
- every account of the target OUs, and the management account, has the `snapback-forward` rule,
  ENABLED, targeting the central bus with a role and a DLQ, in every configured Region;
- the remediator role exists in each of those accounts, trusts exactly Snapback's function roles and
  requires a `snapback@` SourceIdentity for AssumeRole and SetSourceIdentity;
- Security Hub's and GuardDuty's delegated administrator is the security account in every Region.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapback import member_role, registry
from snapback.config import Config

BUS = "snapback"
FORWARD_RULE = "snapback-forward"
DEFAULT_BUS_RULES = ("snapback-sweep", "snapback-custom-actions")
CENTRAL_EXTRA_RULES = ("snapback-member-alarms",)


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str = ""
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"OK       {self.what}"
        return f"MISSING  {self.what}: {self.detail}\n         fix: {self.fix}"


SessionFor = Callable[[str], Any]  # account id -> boto3 Session in that account


def _error(err: Exception) -> str:
    if isinstance(err, ClientError):
        return f"{err.response.get('Error', {}).get('Code', '')}: {err.response.get('Error', {}).get('Message', '')}"
    return str(err)


def bus_arn(config: Config, partition: str = "aws") -> str:
    return f"arn:{partition}:events:{config.home_region}:{config.security_account}:event-bus/{BUS}"


def check_bus(config: Config, security: Any) -> list[Check]:
    events = security.client("events", region_name=config.home_region)
    what = f"central bus {BUS} in {config.security_account}/{config.home_region} admits {config.organization_id}"
    fix = "deploy the security account stack: `npx cdk deploy SnapbackSecurityAccount` (docs/DEPLOY.md)"
    try:
        policy = json.loads(events.describe_event_bus(Name=BUS).get("Policy") or "{}")
    except (ClientError, BotoCoreError) as err:
        return [Check(what, False, _error(err), fix)]
    statements = policy.get("Statement", [])
    org_ok = any(
        "events:PutEvents" in json.dumps(s.get("Action"))
        and s.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalOrgID") == config.organization_id
        for s in statements
    )
    return [Check(what, org_ok, "no statement grants events:PutEvents on aws:PrincipalOrgID", fix)]


def _rule_check(events: Any, name: str, bus: str | None, where: str, fix: str, target_arn: str | None = None) -> Check:
    what = f"rule {name} on {bus or 'default'} in {where} enabled with target and DLQ"
    kwargs = {"Name": name, **({"EventBusName": bus} if bus else {})}
    try:
        rule = events.describe_rule(**kwargs)
        targets = events.list_targets_by_rule(Rule=name, **({"EventBusName": bus} if bus else {}))["Targets"]
    except (ClientError, BotoCoreError) as err:
        return Check(what, False, _error(err), fix)
    if rule.get("State") != "ENABLED":
        return Check(
            what,
            False,
            f"state {rule.get('State')}",
            f"aws events enable-rule --name {name}" + (f" --event-bus-name {bus}" if bus else ""),
        )
    if not targets:
        return Check(what, False, "no target", fix)
    for target in targets:
        if target_arn and target.get("Arn") != target_arn:
            return Check(what, False, f"target {target.get('Arn')} is not {target_arn}", fix)
        if not target.get("DeadLetterConfig", {}).get("Arn"):
            return Check(what, False, f"target {target.get('Id')} has no dead-letter queue", fix)
        if target_arn and not target.get("RoleArn"):
            return Check(what, False, "the cross-account target has no RoleArn", fix)
    return Check(what, True)


def check_central_rules(config: Config, security: Any) -> list[Check]:
    events = security.client("events", region_name=config.home_region)
    where = f"{config.security_account}/{config.home_region}"
    fix = "redeploy the security account stack: `npx cdk deploy SnapbackSecurityAccount`"
    names = [registry.rule_name(r.name, t.id) for r in registry.all_remediations() for t in r.triggers]
    found = [_rule_check(events, n, BUS, where, fix) for n in (*names, *CENTRAL_EXTRA_RULES)]
    return found + [_rule_check(events, n, None, where, fix) for n in DEFAULT_BUS_RULES]


def target_accounts(config: Config, management: Any) -> list[str]:
    """Accounts under the target OUs (recursively), then the management account (its own stacks)."""
    org = management.client("organizations", region_name=config.home_region)
    accounts: list[str] = []
    pending = list(config.target_ous)
    while pending:
        parent = pending.pop()
        for page in org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
            accounts += [a["Id"] for a in page["Accounts"] if a.get("Status", "ACTIVE") == "ACTIVE"]
        for page in org.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent):
            pending += [ou["Id"] for ou in page["OrganizationalUnits"]]
    ordered = sorted(set(accounts) - {config.management_account})
    return [*ordered, config.management_account]


def check_account(config: Config, account: str, session: Any) -> list[Check]:
    found: list[Check] = []
    is_management = account == config.management_account
    for region in config.regions:
        if is_management:
            stack = "SnapbackManagementAccount" if region == config.home_region else f"SnapbackManagementForwarder-{region}"
            fix = f"deploy `npx cdk deploy {stack}` with management-account credentials"
        else:
            fix = (
                f"add the stack instance: `aws cloudformation create-stack-instances --stack-set-name snapback-member "
                f"--call-as DELEGATED_ADMIN --accounts {account} --regions {region}` (or fix the OU targets)"
            )
        found.append(
            _rule_check(
                session.client("events", region_name=region), FORWARD_RULE, None, f"{account}/{region}", fix, bus_arn(config)
            )
        )
        if not is_management:  # the management account is the org's, not the delegated admin's, member
            found.append(check_securityhub(config, account, region, session))
    found.append(check_remediator_role(config, account, session))
    if is_management:
        found.append(check_management_boundary(config, session))
    return found


def check_management_boundary(config: Config, session: Any) -> Check:
    """The permission boundary `management_permission_boundary` attaches exists (SCPs never apply to
    the management account: the boundary is what caps its principals). The remediation refuses to
    attach a boundary that does not exist (FAILED, paged), so without it no principal is ever capped."""
    from snapback.remediations.management_permission_boundary import ManagementPermissionBoundary, default_boundary_arn

    name = ManagementPermissionBoundary.name
    configured = config.options_for(name).get("boundary_policy_arn")
    arn = str(configured or default_boundary_arn(config.management_account))
    what = f"permission boundary {arn} exists in the management account"
    fix = (
        "deploy `npx cdk deploy SnapbackManagementAccount` (it creates snapback-management-boundary)"
        if not configured
        else f"create the policy named by remediations.{name}.options.boundary_policy_arn in snapback.yaml"
    )
    try:
        session.client("iam").get_policy(PolicyArn=arn)
    except (ClientError, BotoCoreError) as err:
        return Check(what, False, _error(err), fix)
    return Check(what, True)


def check_remediator_role(config: Config, account: str, session: Any) -> Check:
    what = f"role {config.member_role_name} in {account} trusts Snapback's function roles with a SourceIdentity"
    fix = "update the member StackSet (`npx cdk deploy SnapbackSecurityAccount`) so the role is recreated from the registry"
    try:
        role = session.client("iam").get_role(RoleName=config.member_role_name)["Role"]
    except (ClientError, BotoCoreError) as err:
        return Check(what, False, _error(err), fix)
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    wanted = set(member_role.member_caller_arns(config.security_account))
    problems = []
    for action in ("sts:AssumeRole", "sts:SetSourceIdentity"):
        statements = [
            s for s in trust.get("Statement", []) if action in json.dumps(s.get("Action")) and s.get("Effect") == "Allow"
        ]
        if not statements:
            problems.append(f"nothing allows {action}")
        for s in statements:
            principals = s.get("Principal", {}).get("AWS", [])
            principals = set(principals if isinstance(principals, list) else [principals])
            if principals != wanted:
                problems.append(f"{action} trusts {sorted(principals ^ wanted)} differently")
            if s.get("Condition", {}).get("StringLike", {}).get("sts:SourceIdentity") != "snapback@*":
                problems.append(f"{action} does not require a snapback@ SourceIdentity")
    return Check(what, not problems, "; ".join(problems), fix)


def check_securityhub(config: Config, account: str, region: str, session: Any) -> Check:
    what = f"Security Hub in {account}/{region} administered by {config.security_account}"
    fix = (
        f"from the management account: `aws securityhub enable-organization-admin-account --admin-account-id "
        f"{config.security_account} --region {region}`, then enable auto-enable in the security account"
    )
    try:
        admin = session.client("securityhub", region_name=region).get_administrator_account().get("Administrator", {})
    except (ClientError, BotoCoreError) as err:
        return Check(what, False, _error(err), fix)
    return Check(
        what, admin.get("AccountId") == config.security_account, f"administrator is {admin.get('AccountId') or 'none'}", fix
    )


def check_guardduty(config: Config, management: Any) -> list[Check]:
    found = []
    for region in config.regions:
        what = f"GuardDuty delegated administrator in {region} is {config.security_account}"
        fix = f"`aws guardduty enable-organization-admin-account --admin-account-id {config.security_account} --region {region}`"
        try:
            admins = management.client("guardduty", region_name=region).list_organization_admin_accounts()["AdminAccounts"]
        except (ClientError, BotoCoreError) as err:
            found.append(Check(what, False, _error(err), fix))
            continue
        ok = any(a.get("AdminAccountId") == config.security_account and a.get("AdminStatus") == "ENABLED" for a in admins)
        found.append(Check(what, ok, f"admins: {[a.get('AdminAccountId') for a in admins] or 'none'}", fix))
    return found


def run_checks(config: Config, management: Any, session_for: SessionFor) -> list[Check]:
    security = session_for(config.security_account)
    checks = [*check_bus(config, security), *check_central_rules(config, security), *check_guardduty(config, management)]
    try:
        accounts = target_accounts(config, management)
    except (ClientError, BotoCoreError) as err:
        return [*checks, Check("list the target OUs' accounts", False, _error(err), "run with management-account credentials")]
    for account in accounts:
        checks += check_account(config, account, management if account == config.management_account else session_for(account))
    return checks


def report(checks: Iterable[Check]) -> tuple[str, int]:
    checks = list(checks)
    missing = [c for c in checks if not c.ok]
    lines = [c.line() for c in checks if not c.ok] or ["everything Snapback needs is in place"]
    lines.append(f"{len(checks) - len(missing)} of {len(checks)} checks OK, {len(missing)} missing")
    return "\n".join(lines), 1 if missing else 0


def main(config: Config, role: str = "OrganizationAccountAccessRole") -> int:
    import boto3

    management = boto3.session.Session()

    def session_for(account: str) -> Any:
        creds = management.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="snapback-doctor"
        )["Credentials"]
        return boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    text, code = report(run_checks(config, management, session_for))
    print(text)
    return code
