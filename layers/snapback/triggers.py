"""Trigger patterns: the EventBridge patterns a remediation declares, used verbatim by CDK and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snapback.events import CLOUDTRAIL_API, CONFIG_COMPLIANCE, CONSOLE_SIGNIN, GUARDDUTY_FINDING, SECURITYHUB_IMPORTED
from snapback.findings import TRUSTED_PRODUCT_PATTERN

CLOUDTRAIL_DETAIL_TYPES = (CLOUDTRAIL_API, *CONSOLE_SIGNIN)
# The role service-managed StackSets use in member accounts (stacksets-exec-<hash>). A name any member
# admin can give a role of their own: `snapback.guards` excepts it only for Snapback's own resources.
STACKSETS_ROLE = "stacksets-exec-"


@dataclass(frozen=True)
class Trigger:
    """One EventBridge rule on the central bus. The pattern is used verbatim by CDK and the demo."""

    id: str
    description: str
    pattern: Mapping[str, Any]


def cloudtrail_pattern(
    source: str, event_source: str, event_names: list[str], member_role: str = "snapback-remediator"
) -> dict[str, Any]:
    """Successful CloudTrail calls of `event_names`, except the sessions Snapback's remediator role opens.

    A pattern can only match names, never "the role of the event's own account", so it is not the
    loop guard: `snapback.guards` is (the exact role ARN of the event's account). The exclusion here
    only saves an invocation per call Snapback makes, and is as narrow as a pattern allows: the
    remediator role name AND Snapback's session naming (`snapback-*`). What it cannot tell apart (a
    role of that name with such a session in an account where Snapback is not deployed, acting
    cross-account) is the residual, named in the issue note. The StackSets execution role is not
    excluded (`stacksets-exec-*` is a name any member admin can give a role): the guard excepts it
    only while it changes Snapback's own resources.
    """
    return {
        "source": [source],
        "detail-type": [CLOUDTRAIL_API],
        "detail": {
            "eventSource": [event_source],
            "eventName": sorted(event_names),
            "errorCode": [{"exists": False}],
            "userIdentity": {"arn": [{"anything-but": {"wildcard": [f"arn:*:sts::*:assumed-role/{member_role}/snapback-*"]}}]},
        },
    }


def config_compliance_pattern(rule_names: list[str], resource_types: list[str]) -> dict[str, Any]:
    """NON_COMPLIANT results of the named managed rules, whatever prefix or suffix the deployer added."""
    return {
        "source": ["aws.config"],
        "detail-type": [CONFIG_COMPLIANCE],
        "detail": {
            "configRuleName": [{"wildcard": f"*{name}*"} for name in sorted(rule_names)],
            "resourceType": sorted(resource_types),
            "newEvaluationResult": {"complianceType": ["NON_COMPLIANT"]},
        },
    }


def guardduty_pattern(type_prefixes: list[str], min_severity: float = 0) -> dict[str, Any]:
    """GuardDuty findings whose type starts with one of `type_prefixes` (and severity at least)."""
    detail: dict[str, Any] = {"type": [{"prefix": p} for p in sorted(type_prefixes)]}
    if min_severity:
        detail["severity"] = [{"numeric": [">=", min_severity]}]
    return {"source": ["aws.guardduty"], "detail-type": [GUARDDUTY_FINDING], "detail": detail}


def securityhub_control_pattern(controls: list[str]) -> dict[str, Any]:
    """New, active, FAILED control findings from AWS's own products only (never Snapback's)."""
    return {
        "source": ["aws.securityhub"],
        "detail-type": [SECURITYHUB_IMPORTED],
        "detail": {
            "findings": {
                "ProductArn": [{"wildcard": TRUSTED_PRODUCT_PATTERN}],
                "Compliance": {"Status": ["FAILED"], "SecurityControlId": sorted(controls)},
                "Workflow": {"Status": ["NEW"]},
                "RecordState": ["ACTIVE"],
            }
        },
    }
