"""moto's IAM enforcement, scoped to Snapback's member-role sessions, with the session policy applied.

moto evaluates identity policies when enforcement is on (`set_initial_no_auth_action_count`), but it
would then also refuse the test harness's own unsigned setup calls, and it ignores AssumeRole session
policies. `member_enforcement()` therefore wraps moto's own authorizer
(`ActionAuthenticatorMixin._authenticate_and_authorize_action`) so that:
- a request signed with credentials of an assumed `snapback-remediator` session is authorized by moto
  against the role's policies exactly as installed (the synthesized policy) AND against the session
  policy passed on AssumeRole (both must allow: the session's permissions are the intersection);
- every other request (the security account, test setup) passes as before;
- every action a member session used is recorded per session (`snapback-<remediation>`), so declared
  but unused permissions can be reported.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.sts.models import sts_backends

# moto names S3 and S3 Control requests by HTTP verb (a GET on a bucket subresource becomes
# s3:ListBucket); the IAM action each operation needs is in the Amazon S3 API reference, "Permissions"
# of each operation (e.g. DeletePublicAccessBlock needs s3:PutBucketPublicAccessBlock). Subresource
# (or S3 Control path) -> action per verb.
S3_SUBRESOURCES = {
    "publicAccessBlock": {
        "GET": "s3:GetBucketPublicAccessBlock",
        "PUT": "s3:PutBucketPublicAccessBlock",
        "DELETE": "s3:PutBucketPublicAccessBlock",
    },
    "policyStatus": {"GET": "s3:GetBucketPolicyStatus"},
    "policy": {"GET": "s3:GetBucketPolicy", "PUT": "s3:PutBucketPolicy", "DELETE": "s3:DeleteBucketPolicy"},
    "location": {"GET": "s3:GetBucketLocation"},
    "acl": {"GET": "s3:GetBucketAcl", "PUT": "s3:PutBucketAcl"},
    "tagging": {"GET": "s3:GetBucketTagging", "PUT": "s3:PutBucketTagging", "DELETE": "s3:PutBucketTagging"},
}
S3_CONTROL = {
    "/configuration/publicAccessBlock": {
        "GET": "s3:GetAccountPublicAccessBlock",
        "PUT": "s3:PutAccountPublicAccessBlock",
        "DELETE": "s3:PutAccountPublicAccessBlock",
    }
}


def s3_action(method: str, path: str, host: str, default: str) -> str:
    parsed = urlparse(path)
    if "s3-control" in host or parsed.path.startswith("/v20180820/"):
        for suffix, verbs in S3_CONTROL.items():
            if parsed.path.endswith(suffix):
                return verbs.get(method, default)
        return default
    query = {part.split("=", 1)[0] for part in parsed.query.split("&") if part}
    for subresource, verbs in S3_SUBRESOURCES.items():
        if subresource in query:
            return verbs.get(method, default)
    if parsed.path in ("", "/") and method == "GET":
        return "s3:ListAllMyBuckets"
    return default


_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


class Denied(Exception):
    """Raised inside moto (surfaces to the client as AccessDenied)."""


@dataclass
class Enforcement:
    role_name: str
    used: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    denied: list[tuple[str, str, str]] = field(default_factory=list)  # (session, action, resource)


def _member_session(access_key: str, role_name: str) -> Any:
    for by_partition in sts_backends.values():
        for backend in by_partition.values():
            for assumed in getattr(backend, "assumed_roles", []):
                if assumed.access_key_id == access_key:
                    return assumed if assumed.role_arn.endswith(f":role/{role_name}") else None
    return None


@contextmanager
def member_enforcement(role_name: str = "snapback-remediator") -> Iterator[Enforcement]:
    state = Enforcement(role_name)
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        match = _CREDENTIAL.search(self.headers.get("Authorization", "") or "")
        session = _member_session(match.group(1), role_name) if match else None
        if session is None:
            return  # not a member-role session: outside this gate
        parsed = urlparse(self.uri)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        host = str(self.headers.get("Host", ""))
        action = request._action
        if action.startswith("s3:"):
            action = s3_action(self.method, path, host, action)
        request._action = action
        state.used[session.session_name].add(action)
        try:
            request.check_action_permitted(resource)  # the role's policies, evaluated by moto
        except Exception:
            state.denied.append((session.session_name, action, resource))
            raise
        if session.policy:
            verdict = IAMPolicy(session.policy).is_action_permitted(action, resource)
            if verdict != PermissionResult.PERMITTED:
                state.denied.append((session.session_name, action, resource))
                request._raise_access_denied()

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
    try:
        yield state
    finally:
        ActionAuthenticatorMixin._authenticate_and_authorize_action = original  # type: ignore[method-assign]
