"""Scenario: an intruder plants persistence - a backdoor role trust and a key for someone else - and
Snapback answers both; then the owners ask for the old state back and undo restores it exactly.

Shows a role's trust widened to an account outside the organization taken back to the trust the
organization had (the in-org principal kept), an access key made for another IAM user deactivated
(the user's own key keeps working), the user creating their own key SKIPPED, and undo of both
restoring exactly what the intruder left (what an owner who made the change on purpose gets back).
"""

from __future__ import annotations

import json
from typing import Any

from snapback.operations import undo
from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit, runtime_for

ORDER = 75
OUTSIDE = "999999999999"  # not an account of the organization


def _trust(*principals: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}],
    }


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """A compromised admin session in member-a plants two ways back in; Snapback takes both away."""
    account, sibling = org.members["member-a"], org.members["member-b"]
    member = org.session(account)
    iam = member.client("iam")
    deployer = f"arn:aws:iam::{sibling}:role/deployer"
    iam.create_role(RoleName="release-deployer", AssumeRolePolicyDocument=json.dumps(_trust(deployer)))
    iam.create_user(UserName="svc-billing-export")
    own_key = iam.create_access_key(UserName="svc-billing-export")["AccessKey"]["AccessKeyId"]
    timeline.add(
        "setup",
        f"member-a ({account}): role release-deployer trusted by member-b's deployer; "
        f"user svc-billing-export with its key {own_key}",
    )

    def call(event: str, request: dict[str, Any], response: Any = None, identity: dict[str, Any] | None = None) -> None:
        record = cloudtrail_record(account, "iam.amazonaws.com", event, request, actor="ops-admin", response=response)
        if identity:
            record["userIdentity"] = identity
        emit(member, record)

    backdoor = _trust(deployer, f"arn:aws:iam::{OUTSIDE}:root")
    iam.update_assume_role_policy(RoleName="release-deployer", PolicyDocument=json.dumps(backdoor))
    timeline.add("attack", f"member-a: ops-admin adds account {OUTSIDE} (outside the organization) to release-deployer's trust")
    call("UpdateAssumeRolePolicy", {"roleName": "release-deployer", "policyDocument": json.dumps(backdoor)})
    timeline.add("event", "CloudTrail UpdateAssumeRolePolicy -> member default bus")

    planted = iam.create_access_key(UserName="svc-billing-export")["AccessKey"]
    timeline.add("attack", f"member-a: ops-admin creates access key {planted['AccessKeyId']} for user svc-billing-export")
    response = {"accessKey": {"userName": "svc-billing-export", "accessKeyId": planted["AccessKeyId"], "status": "Active"}}
    call("CreateAccessKey", {"userName": "svc-billing-export"}, response)
    timeline.add("event", "CloudTrail CreateAccessKey (for another user) -> member default bus")

    iam.create_user(UserName="dana")
    dana_key = iam.create_access_key(UserName="dana")["AccessKey"]["AccessKeyId"]
    dana = {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEDANA00001",
        "arn": f"arn:aws:iam::{account}:user/dana",
        "accountId": account,
        "userName": "dana",
    }
    call("CreateAccessKey", {"userName": "dana"}, {"accessKey": {"userName": "dana", "accessKeyId": dana_key}}, dana)
    timeline.add("change", f"member-a: user dana rotates her own key ({dana_key}) -> member default bus")

    results = deliver(org, account, timeline, expect=3)

    trust_after = iam.get_role(RoleName="release-deployer")["Role"]["AssumeRolePolicyDocument"]
    keys_after = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="svc-billing-export")["AccessKeyMetadata"]}
    timeline.add(
        "verify", f"release-deployer trust read back as member-a: {json.dumps(trust_after['Statement'][0]['Principal'])}"
    )
    timeline.add("verify", f"svc-billing-export keys: {keys_after}")
    answered = (
        OUTSIDE not in json.dumps(trust_after)
        and sibling in json.dumps(trust_after)
        and keys_after == {own_key: "Active", planted["AccessKeyId"]: "Inactive"}
    )

    undone = []
    for result in results:
        if result.outcome is Outcome.REMEDIATED and result.audit_id:
            runtime = runtime_for(org, str(result.remediation))
            done = undo(runtime, result.audit_id)
            undone.append(done["outcome"])
            for action in done["actions"]:
                timeline.add("undo", action)
    trust_undone = iam.get_role(RoleName="release-deployer")["Role"]["AssumeRolePolicyDocument"]
    keys_undone = {
        k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="svc-billing-export")["AccessKeyMetadata"]
    }
    timeline.add("verify", f"after undo: trust {json.dumps(trust_undone['Statement'][0]['Principal'])}; keys {keys_undone}")
    restored = trust_undone == backdoor and keys_undone == {own_key: "Active", planted["AccessKeyId"]: "Active"}

    outcomes = sorted(f"{r.remediation}: {r.outcome.value}" for r in results)
    expected = sorted(
        [
            f"iam_backdoor_trust_revert: {Outcome.REMEDIATED.value}",
            f"iam_foreign_credentials: {Outcome.REMEDIATED.value}",
            f"iam_foreign_credentials: {Outcome.SKIPPED.value}",
        ]
    )
    return {
        "name": "persistence",
        "account": account,
        "outcomes": outcomes,
        "passed": answered and restored and outcomes == expected and undone == ["UNDONE", "UNDONE"],
        "results": [r.as_dict() for r in results],
    }
