"""cdk-nag (AwsSolutions) on every synth, and the one way Snapback acknowledges a finding.

cdk-nag 3.x is a CDK validation plugin: it runs at the end of synth and a finding that is not
acknowledged fails the synth. Acknowledgments go through `Validations.of(construct).acknowledge`
with the plugin-qualified id `AwsSolutions::<rule>[<finding>]`: CDK then keeps the finding in
`validation-report.json` as acknowledged, with its reason, so the audit trail survives the synth.

Acknowledge on the narrowest construct and, for IAM4/IAM5, on the exact finding (`[Resource::...]`,
`[Action::...]`) - never a whole rule on a whole stack.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"


def add_checks(stage: cdk.Stage) -> None:
    """Run the AwsSolutions pack on every stack of `stage` (an App or a Stage)."""
    cdk.Validations.of(stage).add_plugins(AwsSolutionsChecks(stage))


def acknowledge(scope: IConstruct, rule: str, reason: str, finding: str | None = None) -> None:
    """Acknowledge one finding of one AwsSolutions rule on `scope` and its children.

    `rule` is the short id (`IAM5`); `finding` is the detail cdk-nag reports for multi-finding rules
    (`Resource::*`). The reason is mandatory and must say why the finding is acceptable here.
    """
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {PACK}-{rule} needs a real reason, got {reason!r}")
    rule_id = f"{PACK}-{rule}" + (f"[{finding}]" if finding else "")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{rule_id}", reason=reason))
