"""Scenario: a stolen CI role grants itself admin three ways; a scoped grant is left alone.

Shows an attached `*:*` customer policy detached, an inline admin policy deleted (its document
kept for undo), a new admin default version rolled back to the previous one, a harmless inline
policy SKIPPED, and Snapback's own IAM call never routed back to it.
"""

from __future__ import annotations

import json
from typing import Any

from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit

ORDER = 60
ATTACKER = "ci-deployer"


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


FULL_ACCESS = _doc({"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"})
IAM_EVERYTHING = _doc({"Effect": "Allow", "Action": ["s3:GetObject", "iam:*"], "Resource": "*"})
APP_READS = _doc({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"})
REPORTS_READ = _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-reports/*"})


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """A compromised CI role in member-b escalates to admin; Snapback takes each grant back."""
    account = org.members["member-b"]
    member = org.session(account)
    iam = member.client("iam")
    trust = json.dumps(
        _doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
    )
    iam.create_role(RoleName="app-backend", AssumeRolePolicyDocument=trust)
    iam.create_user(UserName="svc-reporting")
    shared = iam.create_policy(PolicyName="shared-app-policy", PolicyDocument=json.dumps(APP_READS))["Policy"]["Arn"]
    timeline.add("setup", f"member-b ({account}): role app-backend, user svc-reporting, policy shared-app-policy v1 (reads)")

    def call(event_name: str, request: dict[str, Any], actor: str = ATTACKER, response: Any = None) -> None:
        emit(member, cloudtrail_record(account, "iam.amazonaws.com", event_name, request, actor=actor, response=response))

    full = iam.create_policy(PolicyName="ops-full-access", PolicyDocument=json.dumps(FULL_ACCESS))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="app-backend", PolicyArn=full)
    timeline.add("attack", "member-b: ci-deployer attaches ops-full-access (* on *) to role app-backend")
    call("AttachRolePolicy", {"roleName": "app-backend", "policyArn": full})
    timeline.add("event", "CloudTrail AttachRolePolicy (us-east-1) -> member default bus")

    iam.put_user_policy(UserName="svc-reporting", PolicyName="backdoor", PolicyDocument=json.dumps(FULL_ACCESS))
    timeline.add("attack", "member-b: ci-deployer puts inline policy backdoor (* on *) on user svc-reporting")
    call("PutUserPolicy", {"userName": "svc-reporting", "policyName": "backdoor", "policyDocument": json.dumps(FULL_ACCESS)})
    timeline.add("event", "CloudTrail PutUserPolicy (document as a JSON string) -> member default bus")

    version = iam.create_policy_version(PolicyArn=shared, PolicyDocument=json.dumps(IAM_EVERYTHING), SetAsDefault=True)
    version_id = version["PolicyVersion"]["VersionId"]
    timeline.add("attack", f"member-b: ci-deployer makes shared-app-policy {version_id} (iam:*) the default")
    call(
        "CreatePolicyVersion",
        {"policyArn": shared, "policyDocument": json.dumps(IAM_EVERYTHING), "setAsDefault": True},
        response={"policyVersion": {"versionId": version_id, "isDefaultVersion": True}},
    )
    timeline.add("event", "CloudTrail CreatePolicyVersion (setAsDefault) -> member default bus")

    iam.put_user_policy(UserName="svc-reporting", PolicyName="reports-read", PolicyDocument=json.dumps(REPORTS_READ))
    timeline.add("change", "member-b: svc-reporting gets inline reports-read (one bucket, read only)")
    call("PutUserPolicy", {"userName": "svc-reporting", "policyName": "reports-read", "policyDocument": json.dumps(REPORTS_READ)})
    timeline.add("event", "CloudTrail PutUserPolicy (scoped) -> member default bus")

    call("AttachRolePolicy", {"roleName": "app-backend", "policyArn": full}, actor="snapback-remediator")
    timeline.add("event", "CloudTrail AttachRolePolicy by snapback-remediator (a loop) -> member default bus")

    results = deliver(org, account, timeline, expect=4)

    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="app-backend")["AttachedPolicies"]]
    inline = iam.list_user_policies(UserName="svc-reporting")["PolicyNames"]
    default = iam.get_policy(PolicyArn=shared)["Policy"]["DefaultVersionId"]
    timeline.add("verify", f"app-backend attached policies read back as member-b: {attached or 'none'}")
    timeline.add("verify", f"svc-reporting inline policies: {inline}; shared-app-policy default: {default}")
    outcomes = [f"{r.target.facts.get('event_name') if r.target else '-'}: {r.outcome.value}" for r in results]
    expected = sorted(
        [
            f"AttachRolePolicy: {Outcome.REMEDIATED.value}",
            f"PutUserPolicy: {Outcome.REMEDIATED.value}",
            f"CreatePolicyVersion: {Outcome.REMEDIATED.value}",
            f"PutUserPolicy: {Outcome.SKIPPED.value}",
        ]
    )
    return {
        "name": "iam_admin_grant",
        "account": account,
        "outcomes": outcomes,
        "passed": full not in attached and inline == ["reports-read"] and default == "v1" and sorted(outcomes) == expected,
        "results": [r.as_dict() for r in results],
    }
