"""S3 Block Public Access: the four settings, read, checked, turned on and restored.

One mechanism for both levels that Snapback enforces: a bucket's block (s3 *PublicAccessBlock with
`Bucket`) and the account's block (s3control *PublicAccessBlock with `AccountId`), which overrides
every bucket's own settings. `PublicAccessBlockRemediation` implements the remediation hooks once;
a subclass says which level it works on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from snapback.clients import MemberSession, error_code
from snapback.outcomes import Target
from snapback.remediation import Remediation

FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ALL_ON = dict.fromkeys(FLAGS, True)


def _on(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def flags_turned_off(config: Any) -> list[str] | None:
    """The settings a PublicAccessBlockConfiguration request leaves off; None if it is unreadable.

    A put replaces the whole block, so a setting the request leaves out is off too.
    """
    if not isinstance(config, Mapping):
        return None
    return [flag for flag in FLAGS if not _on(config.get(flag))]


def read_block(client: Any, **where: str) -> dict[str, bool] | None:
    """The block as four booleans, or None where there is none (`Bucket=` and `ExpectedBucketOwner=` on
    s3, `AccountId=` on s3control)."""
    try:
        config = client.get_public_access_block(**where)["PublicAccessBlockConfiguration"]
    except ClientError as err:
        if error_code(err) != "NoSuchPublicAccessBlockConfiguration":
            raise
        return None
    return {flag: bool(config.get(flag)) for flag in FLAGS}


def complete(block: Mapping[str, Any] | None) -> bool:
    return bool(block) and all(block.get(flag) for flag in FLAGS)


class PublicAccessBlockRemediation(Remediation):
    """inspect / is_compliant / plan / apply / undo for one level of the block (see the module doc)."""

    # The state key, the client, and how a call names the block (and people name it in plans).
    state_key: ClassVar[str]
    service: ClassVar[str]

    def where(self, target: Target) -> dict[str, str]:
        """How every call names the block; for a bucket it includes `ExpectedBucketOwner` (the
        target's account), so that S3 itself refuses a bucket of another account."""
        raise NotImplementedError

    def label(self, target: Target) -> str:
        raise NotImplementedError

    def inspect(self, session: MemberSession, target: Target) -> dict[str, Any]:
        return {self.state_key: read_block(session.client(self.service), **self.where(target))}

    def is_compliant(self, state: Mapping[str, Any]) -> bool:
        return complete(state.get(self.state_key))

    def plan(self, target: Target, state: Mapping[str, Any]) -> list[str]:
        block = state.get(self.state_key) or {}
        off = [flag for flag in FLAGS if not block.get(flag)]
        return [f"{self.service}:PutPublicAccessBlock on {self.label(target)}: turn on {', '.join(off)}"]

    def apply(self, session: MemberSession, target: Target, state: Mapping[str, Any]) -> dict[str, Any]:
        session.client(self.service).put_public_access_block(**self.where(target), PublicAccessBlockConfiguration=dict(ALL_ON))
        return self.undo_data_for(target, state)

    def undo_data_for(self, target: Target, before: Mapping[str, Any]) -> dict[str, Any]:
        return {"previous_block": before.get(self.state_key)}

    def undo(self, session: MemberSession, target: Target, undo_data: Mapping[str, Any]) -> list[str]:
        client = session.client(self.service)
        previous = undo_data.get("previous_block")
        if previous is None:
            client.delete_public_access_block(**self.where(target))
            return [f"{self.service}:DeletePublicAccessBlock on {self.label(target)} (it had none)"]
        client.put_public_access_block(**self.where(target), PublicAccessBlockConfiguration=dict(previous))
        return [f"{self.service}:PutPublicAccessBlock on {self.label(target)}: restored {previous}"]
