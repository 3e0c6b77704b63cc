"""AWS clients: one botocore config, created lazily, cached per (account, service, Region).

Nothing is created at import. `AWS_ENDPOINT_URL` (moto, or real AWS when unset) is honoured by
botocore itself and passed through explicitly so that assumed-role sessions use it too.
Member-account work goes through `MemberSession`, which assumes the pinned remediator role with
`SourceIdentity` so that every change in a member account is attributable in its CloudTrail.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from snapback import __version__
from snapback.errors import PermanentError, RetryableError

BOTO_CONFIG = BotoConfig(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=3,
    read_timeout=10,
    user_agent_extra=f"snapback/{__version__}",
)

THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestThrottled",
        "LimitExceededException",
        "PriorRequestNotComplete",
        "TransactionInProgressException",
        "EC2ThrottledException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_SOURCE_IDENTITY = re.compile(r"[^\w+=,.@-]")
_ACCOUNT_HOST_PREFIX = re.compile(r"^\d{12}\.")


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def classify(err: Exception) -> Exception:
    """Map an AWS error to Snapback's tree: retryable (throttling, 5xx, network) or permanent."""
    if isinstance(err, ClientError):
        code = error_code(err)
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in THROTTLING or status >= 500:
            return RetryableError(f"{code or status}: {err}")
        return PermanentError(f"{code}: {err.response.get('Error', {}).get('Message', '')}".strip())
    if isinstance(err, BotoConnectionError):
        return RetryableError(f"network: {err}")
    if isinstance(err, BotoCoreError):
        return PermanentError(f"{type(err).__name__}: {err}")
    return err


def strip_account_host_prefix(request: Any, **_: Any) -> None:
    """before-send hook: s3control puts the account id in the host (`<account>.<endpoint>`); a local
    endpoint (moto server) serves it on the endpoint itself. Never registered against real AWS."""
    parts = urlsplit(request.url)
    request.url = urlunsplit(parts._replace(netloc=_ACCOUNT_HOST_PREFIX.sub("", parts.netloc)))


def _local_endpoint_fixups(client: Any, service: str, endpoint_url: str | None) -> Any:
    if endpoint_url and service == "s3control":
        client.meta.events.register("before-send.s3-control.*", strip_account_host_prefix)
    return client


def source_identity(remediation: str) -> str:
    """`snapback@<remediation>`: SourceIdentity allows only [\\w+=,.@-], 2-64 characters."""
    return _SOURCE_IDENTITY.sub("-", f"snapback@{remediation}")[:64]


def _session_policy(remediation: str) -> str:
    """The registry's session policy for `remediation`; fail closed for a name that declares nothing."""
    from snapback.member_role import session_policy_json  # the registry loads remediations: not at import

    try:
        policy = session_policy_json(remediation)
    except KeyError as err:
        raise PermanentError(f"no remediation named {remediation!r}: no member session without its permissions") from err
    if policy is None:
        raise PermanentError(f"{remediation} declares no member permissions: it never enters a member account")
    return policy


class BotocoreSession:
    """Clients straight from a botocore session, shaped like `boto3.Session.client`.

    Hand-written on purpose (cold start): importing boto3 also imports s3transfer, and with it
    multiprocessing, concurrent.futures and S3 transfer managers, about a third of `import boto3`'s
    time, for S3 transfer methods and resources no Snapback code calls. boto3's clients ARE botocore
    clients (boto3 only adds those S3 transfer methods), so the calls, retries, config, endpoints and
    AWS_DATA_PATH models are the same; bench/cold_start.py measures the difference."""

    def __init__(self, session: Any = None) -> None:
        if session is None:
            import botocore.session

            session = botocore.session.get_session()
        self._session = session

    def client(self, service_name: str, region_name: str | None = None, **kwargs: Any) -> Any:
        return self._session.create_client(service_name, region_name=region_name, **kwargs)


@dataclass
class _Credentials:
    values: dict[str, str]
    expires: float


@dataclass
class Clients:
    """The security account's own clients, and sessions in member accounts."""

    region: str
    member_role_name: str = "snapback-remediator"
    partition: str = "aws"
    session: Any = None  # anything with boto3.Session's `client`; default: a BotocoreSession (the environment's credentials)
    _clients: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    _creds: dict[tuple[str, str], _Credentials] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint_url(self) -> str | None:
        return os.environ.get("AWS_ENDPOINT_URL") or None

    def _boto_session(self) -> Any:
        if self.session is None:
            self.session = BotocoreSession()
        return self.session

    def client(self, service: str, region: str | None = None) -> Any:
        """A client with the runtime's own credentials (the security account in Lambda)."""
        key = ("self", service, region or self.region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = _local_endpoint_fixups(
                    self._boto_session().client(
                        service, region_name=region or self.region, config=BOTO_CONFIG, endpoint_url=self.endpoint_url
                    ),
                    service,
                    self.endpoint_url,
                )
            return self._clients[key]

    def client_as(self, service: str, region: str, **credentials: str) -> Any:
        """An uncached client with other credentials, from the same session: a new boto3 session
        would load botocore's endpoint and partition data again (about 90 ms of a cold start)."""
        client = self._boto_session().client(
            service, region_name=region, config=BOTO_CONFIG, endpoint_url=self.endpoint_url, **credentials
        )
        return _local_endpoint_fixups(client, service, self.endpoint_url)

    def member(self, account: str, region: str, remediation: str) -> MemberSession:
        return MemberSession(self, account, region, remediation)

    def member_credentials(self, account: str, remediation: str) -> dict[str, str]:
        key = (account, remediation)
        cached = self._creds.get(key)
        if cached and cached.expires - time.time() > 300:
            return cached.values
        role_arn = f"arn:{self.partition}:iam::{account}:role/{self.member_role_name}"
        identity = source_identity(remediation)
        # The member role is the union of every remediation's permissions; this session gets only this
        # remediation's (a session policy narrows, never widens: the session's permissions are the
        # intersection, https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).
        policy = _session_policy(remediation)
        try:
            response = self.client("sts").assume_role(
                RoleArn=role_arn,
                RoleSessionName=identity.replace("@", "-"),
                SourceIdentity=identity,
                DurationSeconds=900,
                Policy=policy,
            )
        except (ClientError, BotoCoreError) as err:
            raise classify(err) from err
        creds = response["Credentials"]
        values = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
        expiration = creds.get("Expiration")
        expires = expiration.timestamp() if hasattr(expiration, "timestamp") else time.time() + 900
        self._creds[key] = _Credentials(values, expires)
        return values

    def member_client(self, account: str, region: str, remediation: str, service: str) -> Any:
        creds = self.member_credentials(account, remediation)
        key = (creds["aws_access_key_id"], service, region)  # new credentials, new client
        with self._lock:
            if key not in self._clients:
                self._clients[key] = _local_endpoint_fixups(
                    self._boto_session().client(
                        service, region_name=region, config=BOTO_CONFIG, endpoint_url=self.endpoint_url, **creds
                    ),
                    service,
                    self.endpoint_url,
                )
            return self._clients[key]


@dataclass(frozen=True)
class MemberSession:
    """Clients inside one member account and Region, as the remediator role."""

    clients: Clients
    account: str
    region: str
    remediation: str

    @property
    def source_identity(self) -> str:
        return source_identity(self.remediation)

    def client(self, service: str, region: str | None = None) -> Any:
        return self.clients.member_client(self.account, region or self.region, self.remediation, service)
