"""Scenario: stolen instance-role credentials and a leaked user key, as GuardDuty reports them.

Shows the role's older sessions revoked the way the console does (AWSRevokeOlderSessions), only
the named key of a user deactivated (its second key keeps working) with the user's older sessions
denied, and a GuardDuty sample finding routed but never acted on.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from snapback.events import GUARDDUTY_FINDING
from snapback.outcomes import Outcome
from snapback_ops.demo import LocalOrg, Timeline, deliver, emit_event

ORDER = 70
DETECTOR = "5eb8f5c1a2b3c4d5e6f708192a3b4c5d"
EXFILTRATION = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
MALICIOUS_IP = "UnauthorizedAccess:IAMUser/MaliciousIPCaller"


def guardduty_finding(
    account: str, finding_type: str, severity: float, key: dict[str, str], sample: bool = False
) -> dict[str, Any]:
    """A GuardDuty IAM finding as EventBridge carries it in `detail`."""
    finding_id = uuid.uuid4().hex
    seen = datetime.now(UTC) - timedelta(minutes=3)
    when = seen.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "schemaVersion": "2.0",
        "accountId": account,
        "region": "us-east-1",
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:us-east-1:{account}:detector/{DETECTOR}/finding/{finding_id}",
        "type": finding_type,
        "resource": {"resourceType": "AccessKey", "accessKeyDetails": key},
        "service": {
            "serviceName": "guardduty",
            "detectorId": DETECTOR,
            "action": {
                "actionType": "AWS_API_CALL",
                "awsApiCallAction": {
                    "api": "ListBuckets",
                    "serviceName": "s3.amazonaws.com",
                    "callerType": "Remote IP",
                    "remoteIpDetails": {"ipAddressV4": "203.0.113.99", "organization": {"asn": "64500", "asnOrg": "EXAMPLE-VPS"}},
                },
            },
            "resourceRole": "TARGET",
            "additionalInfo": {"sample": True} if sample else {"value": "{}", "type": "default"},
            "eventFirstSeen": (seen - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "eventLastSeen": when,
            "archived": False,
            "count": 4,
        },
        "severity": severity,
        "createdAt": when,
        "updatedAt": when,
        "title": f"{finding_type} for {key.get('userName')}",
        "description": "Credentials were used from an unexpected place.",
    }


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """Instance credentials of member-a's web tier are used from a VPS; a CI user's key leaks."""
    account = org.members["member-a"]
    member = org.session(account)
    iam = member.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="web-tier-instance", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_user(UserName="ci-bot")
    leaked, spare = (iam.create_access_key(UserName="ci-bot")["AccessKey"]["AccessKeyId"] for _ in range(2))
    timeline.add("setup", f"member-a ({account}): role web-tier-instance; user ci-bot with keys {leaked} and {spare}")

    role_key = {
        "accessKeyId": "ASIAQDEMOWEBTIER0001",
        "principalId": "AROAQDEMOWEBTIER0001:i-0d3m0w3bt13r00001",
        "userName": "web-tier-instance",
        "userType": "AssumedRole",
    }
    emit_event(member, "aws.guardduty", GUARDDUTY_FINDING, guardduty_finding(account, EXFILTRATION, 8, role_key))
    timeline.add("attack", "web-tier-instance credentials taken from IMDS are used from 203.0.113.99 (outside AWS)")
    timeline.add("event", f"GuardDuty {EXFILTRATION} -> member default bus")

    user_key = {"accessKeyId": leaked, "principalId": "AIDAQDEMOCIBOT000001", "userName": "ci-bot", "userType": "IAMUser"}
    emit_event(member, "aws.guardduty", GUARDDUTY_FINDING, guardduty_finding(account, MALICIOUS_IP, 5, user_key))
    timeline.add("attack", f"ci-bot key {leaked} (leaked in a public repo) calls AWS from a known-malicious IP")
    timeline.add("event", f"GuardDuty {MALICIOUS_IP} -> member default bus")

    emit_event(member, "aws.guardduty", GUARDDUTY_FINDING, guardduty_finding(account, EXFILTRATION, 8, role_key, sample=True))
    timeline.add("event", "GuardDuty sample finding (CreateSampleFindings) for the same role -> member default bus")

    results = deliver(org, account, timeline, expect=3, only="iam_contain_credentials")

    keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="ci-bot")["AccessKeyMetadata"]}
    role_policies = iam.list_role_policies(RoleName="web-tier-instance")["PolicyNames"]
    user_policies = iam.list_user_policies(UserName="ci-bot")["PolicyNames"]
    timeline.add("verify", f"ci-bot keys read back as member-a: {keys}")
    timeline.add("verify", f"web-tier-instance inline policies: {role_policies}; ci-bot inline policies: {user_policies}")
    outcomes = sorted(r.outcome.value for r in results)
    return {
        "name": "stolen_credentials",
        "account": account,
        "outcomes": outcomes,
        "passed": keys == {leaked: "Inactive", spare: "Active"}
        and role_policies == ["AWSRevokeOlderSessions"]
        and user_policies == ["AWSRevokeOlderSessions"]
        and outcomes == sorted([Outcome.REMEDIATED.value, Outcome.REMEDIATED.value, Outcome.SKIPPED.value]),
        "results": [r.as_dict() for r in results],
    }
