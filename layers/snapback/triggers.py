"""Trigger patterns: the EventBridge patterns a remediation declares, used verbatim by CDK and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snapback.events import CLOUDTRAIL_API, CONFIG_COMPLIANCE, CONSOLE_SIGNIN, GUARDDUTY_FINDING, SECURITYHUB_IMPORTED
from snapback.findings import TRUSTED_PRODUCT_PATTERN

CLOUDTRAIL_DETAIL_TYPES = (CLOUDTRAIL_API, *CONSOLE_SIGNIN)
# The role service-managed StackSets use in member accounts (stacksets-exec-<hash>).
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
    """Successful CloudTrail calls of `event_names`, excluding Snapback's own role (loop guard) and the
    service-managed StackSets execution role that deploys Snapback's member stack."""
    return {
        "source": [source],
        "detail-type": [CLOUDTRAIL_API],
        "detail": {
            "eventSource": [event_source],
            "eventName": sorted(event_names),
            "errorCode": [{"exists": False}],
            "userIdentity": {
                "arn": [
                    {
                        "anything-but": {
                            "wildcard": [
                                f"arn:*:sts::*:assumed-role/{member_role}/*",
                                f"arn:*:sts::*:assumed-role/{STACKSETS_ROLE}*",
                            ]
                        }
                    }
                ]
            },
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
