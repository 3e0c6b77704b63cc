"""Scenario: someone uses member-b's root user: a sign-in without MFA, a failed one, a root access key.

Shows both sign-in detail-type spellings routed, a root API call routed, and the noise left out:
the root user's CheckMfa step and an ordinary IAM user's sign-in never reach Snapback. Each root
event is one CRITICAL alert; nothing in the account is changed.
"""

from __future__ import annotations

from typing import Any

from snapback.events import CONSOLE_SIGNIN
from snapback.outcomes import Outcome, Severity
from snapback_ops.demo import LocalOrg, Timeline, cloudtrail_record, deliver, emit, emit_event

ORDER = 20
ATTACKER_IP = "203.0.113.66"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def root_record(account: str, event_source: str, event_name: str, **fields: Any) -> dict[str, Any]:
    """A CloudTrail record of the root user, shaped like the real samples (shared/events/a_console_signin)."""
    record = cloudtrail_record(
        account, event_source, event_name, fields.pop("request", None), response=fields.pop("response", None)
    )
    record["userIdentity"] = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": "",
    }
    record.update(sourceIPAddress=ATTACKER_IP, userAgent=BROWSER, **fields)
    if event_source == "signin.amazonaws.com":
        record.update(eventType="AwsConsoleSignIn", readOnly=False)
    return record


def run(org: LocalOrg, timeline: Timeline) -> dict[str, Any]:
    """Root activity in member-b: three critical alerts, two harmless sign-in events left out."""
    account = org.members["member-b"]
    member = org.session(account)

    emit_event(
        member,
        "aws.signin",
        CONSOLE_SIGNIN[1],
        root_record(
            account,
            "signin.amazonaws.com",
            "ConsoleLogin",
            response={"ConsoleLogin": "Failure"},
            additionalEventData={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            errorMessage="Failed authentication",
        ),
    )
    timeline.add("attack", f"member-b ({account}): failed root sign-in from {ATTACKER_IP} ('{CONSOLE_SIGNIN[1]}' spelling)")

    emit(
        member,
        root_record(
            account,
            "signin.amazonaws.com",
            "ConsoleLogin",
            response={"ConsoleLogin": "Success"},
            additionalEventData={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
        ),
    )
    timeline.add("attack", f"member-b: root signs in without MFA from {ATTACKER_IP}")

    emit(
        member,
        root_record(
            account,
            "signin.amazonaws.com",
            "CheckMfa",
            response={"CheckMfa": "Success"},
            additionalEventData={"MfaType": "Virtual MFA"},
        ),
    )
    timeline.add("event", "root CheckMfa (a step of a sign-in, not alerted twice) -> member default bus")

    emit(
        member,
        root_record(
            account,
            "iam.amazonaws.com",
            "CreateAccessKey",
            response={"accessKey": {"accessKeyId": "AKIADEMOROOTKEY00001", "status": "Active"}},
            userIdentity={
                "type": "Root",
                "principalId": account,
                "arn": f"arn:aws:iam::{account}:root",
                "accountId": account,
                "invokedBy": "signin.amazonaws.com",
                "sessionContext": {"attributes": {"mfaAuthenticated": "false"}},
            },
        ),
    )
    timeline.add("attack", "member-b: root creates a long-term root access key from the console")

    employee = cloudtrail_record(account, "signin.amazonaws.com", "ConsoleLogin", None, response={"ConsoleLogin": "Success"})
    employee.update(eventType="AwsConsoleSignIn", additionalEventData={"MFAUsed": "Yes"})
    emit(member, employee)
    timeline.add("event", "an engineer's ordinary (role) console sign-in -> member default bus")

    results = deliver(org, account, timeline, expect=3)
    alerts = [r for r in results if r.remediation == "root_activity_alert"]
    for r in alerts:
        facts = r.target.facts if r.target else {}
        timeline.add(
            "verify",
            f"alert facts: MFAUsed={facts.get('MFAUsed')} ConsoleLogin={facts.get('ConsoleLogin')} risk={facts.get('risk')}",
        )
    events = sorted(r.target.facts.get("event_name", "-") if r.target else "-" for r in alerts)
    return {
        "name": "root_sign_in",
        "account": account,
        "outcomes": {
            f"{r.target.facts.get('event_name')}#{i}" if r.target else "-": r.outcome.value for i, r in enumerate(results)
        },
        "passed": len(results) == 3
        and events == ["ConsoleLogin", "ConsoleLogin", "CreateAccessKey"]
        and all(r.outcome is Outcome.NOTIFIED and r.severity is Severity.CRITICAL and not r.actions for r in alerts),
        "results": [r.as_dict() for r in results],
    }
