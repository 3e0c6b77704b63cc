"""Take back an AMI's launch permission given to everyone or to an account (or organization) outside ours.

Trigger: CloudTrail ModifyImageAttribute (successful calls only, never Snapback's own) whose
    `launchPermission.add` names the group `all` (public), a user id (account) that is not a member
    of the organization, or an organization / OU ARN whose management account is not ours. A share
    inside the organization is SKIPPED. (IAM Access Analyzer does not analyze AMIs.)
Action: re-read the image's launchPermission (DescribeImageAttribute); remove
    (ModifyImageAttribute, LaunchPermission Remove) exactly the grants the call added that are still
    present and reach outside the organization; then read again to verify.
Undo: add the removed grants back (ModifyImageAttribute, LaunchPermission Add), only those missing.
Permissions: ec2:DescribeImageAttribute, ec2:ModifyImageAttribute; the sweep: ec2:DescribeImages.
Sweep (every configured Region): every image the account owns (DescribeImages, owner self) is read
    (DescribeImageAttribute); one launchable by everyone or by an outside account is a violation
    (every such grant is removed).
Side effects: the outside account (or everyone) can no longer launch the image; instances it
    already launched and copies it already made are its own and stay. If the account's "block
    public access for AMIs" setting is on, AWS refuses public shares anyway. A sanctioned partner
    share belongs in an exemption (snapback.yaml), never in a tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from snapback.clients import MemberSession
from snapback.errors import MalformedEvent, NotApplicable
from snapback.events import CloudTrailCall
from snapback.outcomes import Severity, Target
from snapback.registry import register
from snapback.share_revoke import ShareRevoke, arn_account_region, arn_tail
from snapback.sharing import items, strings
from snapback.triggers import Trigger, cloudtrail_pattern

ATTRIBUTE = "launchPermission"
# A launch permission names one of these; the grant string is its value.
KEYS = (
    ("group", "Group"),
    ("userId", "UserId"),
    ("organizationArn", "OrganizationArn"),
    ("organizationalUnitArn", "OrganizationalUnitArn"),
)


def added_grants(request: Any) -> list[str]:
    """The grants a ModifyImageAttribute request adds (CloudTrail's launchPermission.add items, or the
    flat operationType add form with userIds / userGroups / organizationArns / organizationalUnitArns)."""
    grants: list[str] = []
    permission = request.get(ATTRIBUTE)
    if isinstance(permission, dict):
        for item in items(permission.get("add")):
            for key, _ in KEYS:
                grants += strings(item.get(key))
    if str(request.get("operationType", "")).lower() == "add":
        for key in ("userIds", "userGroups", "organizationArns", "organizationalUnitArns"):
            value = request.get(key)
            grants += strings(value) + [s for i in items(value) for k, _ in KEYS for s in strings(i.get(k))]
    return sorted(set(grants))


def _permission(grant: str) -> dict[str, str]:
    if grant == "all":
        return {"Group": "all"}
    if ":organization/" in grant:
        return {"OrganizationArn": grant}
    if ":ou/" in grant:
        return {"OrganizationalUnitArn": grant}
    return {"UserId": grant}


@register
class AmiPublicShareRevoke(ShareRevoke):
    name = "ami_public_share_revoke"
    summary = "AMI shared publicly or outside the organization"
    severity = Severity.HIGH
    finding_type = "Effects/Data Exfiltration/AMI shared outside the organization"
    noun = "AMI"
    event_names = ("ModifyImageAttribute",)
    event_source = "ec2.amazonaws.com"
    triggers = (
        Trigger(
            id="cloudtrail",
            description="AMI launch permission changed",
            pattern=cloudtrail_pattern("aws.ec2", "ec2.amazonaws.com", ["ModifyImageAttribute"]),
        ),
    )
    permissions = ("ec2:DescribeImageAttribute", "ec2:ModifyImageAttribute")
    call_budget = 13
    gone_codes = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})
    sweep_scope = "region"
    sweep_permissions = ("ec2:DescribeImages",)

    def requested(self, call: CloudTrailCall) -> tuple[str, list[str]]:
        image = call.request.get("imageId")
        if not isinstance(image, str) or not image.startswith("ami-"):
            raise MalformedEvent("ModifyImageAttribute names no image (requestParameters.imageId)")
        added = added_grants(call.request)
        if not added:
            raise NotApplicable(f"the call adds no launch permission to {image}")
        return image, added

    def locate(self, account: str, region: str, resource: str) -> Target:
        image = arn_tail(resource, "image/")
        account, region = arn_account_region(resource, account, region)
        if not image.startswith("ami-"):
            raise MalformedEvent(f"not an AMI id: {image!r}")
        return Target(
            account=account,
            region=region,
            resource_type="AwsEc2Image",
            resource_id=image,
            resource_arn=f"arn:aws:ec2:{region}:{account}:image/{image}",
            idempotency_key="",
        )

    def read_grants(self, session: MemberSession, target: Target) -> list[str]:
        answer = session.client("ec2").describe_image_attribute(ImageId=target.resource_id, Attribute=ATTRIBUTE)
        return sorted({next((p[k] for _, k in KEYS if p.get(k)), "") for p in answer.get("LaunchPermissions", [])} - {""})

    def change_grants(self, session: MemberSession, target: Target, grants: list[str], *, add: bool) -> None:
        session.client("ec2").modify_image_attribute(
            ImageId=target.resource_id, LaunchPermission={"Add" if add else "Remove": [_permission(g) for g in grants]}
        )

    def owned(self, session: MemberSession, account: str, region: str) -> Iterable[str]:
        for page in session.client("ec2").get_paginator("describe_images").paginate(Owners=["self"]):
            for image in page.get("Images", []):
                if image.get("OwnerId") == account:
                    yield image["ImageId"]
