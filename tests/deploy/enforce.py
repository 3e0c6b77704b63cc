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

# API operations whose IAM action has another name (Service Authorization Reference): S3 Control's
# account-level public access block, signed as service `s3`.
ALIASES = {
    "s3:PutPublicAccessBlock@s3control": "s3:PutAccountPublicAccessBlock",
    "s3:GetPublicAccessBlock@s3control": "s3:GetAccountPublicAccessBlock",
}
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
        action = ALIASES.get(f"{request._action}@s3control", request._action) if "s3-control" in host else request._action
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
