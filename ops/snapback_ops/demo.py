"""The embedded default: Snapback end to end with no AWS account.

It starts a moto server, builds a small organization (management, security, two members), puts
Snapback's security-account resources and the member remediator roles in place (the same
documents the CDK app deploys), seeds misconfigured resources, replays an attack timeline of
real-format CloudTrail events through EventBridge with the registry's own patterns (rule -> SQS),
runs the handler on what the rules deliver, and prints a timeline and a JSON report.

Two moto gaps shape the routing here, and nothing else: moto rewrites the `account` field of
events forwarded bus-to-bus across accounts, so the registry's rules are evaluated on each
member's default bus (AWS evaluates them on the central bus after forwarding, `account`
preserved); and moto's SQS delivery omits `account` from the envelope, so the demo's targets
carry an input transformer that reproduces the full envelope (`ENVELOPE_TRANSFORMER`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from snapback import member_role, registry
from snapback.audit import AUDIT_INDEX_SORT_KEY, AUDIT_INDEXES
from snapback.clients import Clients
from snapback.config import Config
from snapback.outcomes import Result
from snapback.runtime import OrganizationsDirectory, Runtime

REGION = "us-east-1"
TABLE = "snapback"
TOPIC = "snapback-alerts"
ORG_READER_ROLE = "snapback-org-reader"
PROCESS_DEADLINE_S = 20.0
_FIELDS = ("id", "account", "time", "region", "source", "detail-type", "resources", "detail")
ENVELOPE_TRANSFORMER = {
    "InputPathsMap": {f.replace("-", "_"): f"$.{f}" for f in _FIELDS},
    "InputTemplate": '{"version": "0", "id": "<id>", "account": "<account>", "time": "<time>", "region": "<region>", '
    '"source": "<source>", "detail-type": "<detail_type>", "resources": <resources>, "detail": <detail>}',
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quiet_moto() -> None:
    """moto loads ~600 public AMIs into every EC2 backend (each account x Region it serves): 0.2 s a
    backend, most of an EC2 test's setup. Nothing here launches a public AMI by name (`base_image`)."""
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def base_image(ec2: Any) -> str:
    """An image id to launch instances from: moto's first public AMI when it loaded them, else a
    made-up id (moto does not check image ids unless MOTO_ENABLE_AMI_VALIDATION is set)."""
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    return images[0]["ImageId"] if images else "ami-0123456789abcdef0"


@contextlib.contextmanager
def local_aws() -> Iterator[str]:
    """A moto server on a free loopback port, with the environment pointing at it; always stopped."""
    import logging

    saved = {
        k: os.environ.get(k)
        for k in (
            "MOTO_EC2_LOAD_DEFAULT_AMIS",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
        )
    }
    quiet_moto()

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_LOADER: Any = None


def local_session(**kwargs: Any) -> boto3.Session:
    """A boto3 session sharing one botocore loader: service models are parsed once per process, not
    once per session (the demo and the tests open a session per account and per remediation)."""
    global _LOADER
    import botocore.loaders
    import botocore.session

    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, **kwargs)


_STS: dict[str | None, Any] = {}


def _sts() -> Any:
    """The default credentials' STS client, made once per endpoint (a client costs ~30 ms to make)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint not in _STS:
        _STS[endpoint] = boto3.client("sts", region_name=REGION, endpoint_url=endpoint)
    return _STS[endpoint]


def session_in(account: str, role: str = "OrganizationAccountAccessRole", source_identity: str | None = None) -> boto3.Session:
    """Credentials in another account of the local org (moto scopes state by account)."""
    kwargs: dict[str, Any] = {"RoleArn": f"arn:aws:iam::{account}:role/{role}", "RoleSessionName": "snapback-demo"}
    if source_identity:
        kwargs["SourceIdentity"] = source_identity
    creds = _sts().assume_role(**kwargs)["Credentials"]
    return local_session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


@dataclass
class LocalOrg:
    """The simulated organization and its Snapback installation."""

    org_id: str
    management: str
    security: str
    members: dict[str, str]  # name -> account id
    ou: str
    config: Config = field(init=False)
    _sessions: dict[str, boto3.Session] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.config = Config(
            organization_id=self.org_id,
            management_account=self.management,
            security_account=self.security,
            home_region=REGION,
            regions=(REGION,),
            target_ous=(self.ou,),
            account_names={self.management: "management", self.security: "security"}
            | {account: name for name, account in self.members.items()},
        )

    def session(self, account: str) -> boto3.Session:
        """An administrator's session in `account` (one per account: the credentials do not expire here)."""
        if account not in self._sessions:
            self._sessions[account] = session_in(account)
        return self._sessions[account]


def share_default_session() -> None:
    """boto3's default session (boto3.client) on the shared loader. moto's mock sets it to None at every
    start, so each test's first boto3.client would parse endpoints.json and the service models again."""
    if boto3.DEFAULT_SESSION is None:
        boto3.DEFAULT_SESSION = local_session()


def build_org(member_names: tuple[str, ...] = ("member-a", "member-b"), *, routing: bool = True) -> LocalOrg:
    share_default_session()
    org_client = boto3.client("organizations", region_name=REGION)
    organization = org_client.create_organization(FeatureSet="ALL")["Organization"]
    root = org_client.list_roots()["Roots"][0]["Id"]
    ou = org_client.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]

    def new_account(name: str) -> str:
        status = org_client.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        return str(status["AccountId"])

    security = new_account("security")
    members = {name: new_account(name) for name in member_names}
    for account in members.values():
        org_client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
    org = LocalOrg(organization["Id"], organization["MasterAccountId"], security, members, ou)
    _install(org)
    if routing:
        install_routing(org)
    return org


def create_table(dynamodb: Any, name: str = TABLE) -> None:
    """Snapback's table as the security stack declares it: key `pk` and the audit indexes."""
    keys = sorted({"pk", AUDIT_INDEX_SORT_KEY, *AUDIT_INDEXES.values()})
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": key, "KeyType": "HASH"},
                    {"AttributeName": AUDIT_INDEX_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, key in AUDIT_INDEXES.items()
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _install(org: LocalOrg) -> None:
    """What `cdk deploy` puts in place, from the same registry-derived documents."""
    mgmt_iam = boto3.client("iam", region_name=REGION)
    mgmt_iam.create_role(
        RoleName=ORG_READER_ROLE,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{org.security}:root"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    sec = org.session(org.security)
    create_table(sec.client("dynamodb"))
    sns, sqs = sec.client("sns"), sec.client("sqs")
    topic = sns.create_topic(Name=TOPIC)["TopicArn"]
    inbox = sqs.create_queue(QueueName="oncall-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    sec.client("securityhub").enable_security_hub()
    sec_iam = sec.client("iam")
    functions = [member_role.remediator_role_name(r.name) for r in registry.all_remediations()]
    for role_name in dict.fromkeys([*functions, member_role.SWEEP_ROLE]):
        sec_iam.create_role(
            RoleName=role_name,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
        )
    trust = member_role.trust_policy(member_role.remediator_role_arns(org.security))
    for account in org.members.values():
        member = org.session(account)
        iam = member.client("iam")
        iam.create_role(RoleName=org.config.member_role_name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName=org.config.member_role_name,
            PolicyName="snapback-remediations",
            PolicyDocument=json.dumps(member_role.permissions_policy()),
        )


def install_routing(org: LocalOrg) -> None:
    """Each member's bus routes what every trigger matches to a queue per remediation (what the
    forwarders and central rules do in AWS): only the demo and the routing tests need it, so the
    test organization is built without it (it is most of build_org's AWS calls)."""
    for account in org.members.values():
        member = org.session(account)
        events, sqs = member.client("events"), member.client("sqs")
        for r in registry.all_remediations():
            queue = sqs.create_queue(QueueName=f"snapback-{r.name}")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for trigger in r.triggers:
                rule = f"snapback-{r.name}-{trigger.id}"
                events.put_rule(Name=rule, EventPattern=json.dumps(trigger.pattern), State="ENABLED")
                events.put_targets(
                    Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn, "InputTransformer": ENVELOPE_TRANSFORMER}]
                )


def runtime_for(org: LocalOrg, remediation: str, observers: list[Callable[[Result], None]] | None = None) -> Runtime:
    """The runtime as the remediation's function role in the security account runs it."""
    session = session_in(org.security, member_role.remediator_role_name(remediation))
    clients = Clients(region=REGION, member_role_name=org.config.member_role_name, session=session)
    topic = f"arn:aws:sns:{REGION}:{org.security}:{TOPIC}"
    reader = f"arn:aws:iam::{org.management}:role/{ORG_READER_ROLE}"
    runtime = Runtime(
        config=org.config,
        clients=clients,
        table=TABLE,
        topic_arn=topic,
        org=OrganizationsDirectory(clients, reader),
        observers=observers or [],
    )
    runtime.notifier.account_names = dict(org.config.account_names)  # on-call sees "member-a (1234...)"
    return runtime


# -- real-format CloudTrail events -------------------------------------------------------------


def cloudtrail_record(
    account: str,
    event_source: str,
    event_name: str,
    request: dict[str, Any],
    actor: str = "developer",
    response: Any = None,
    error_code: str | None = None,
) -> dict[str, Any]:
    """A CloudTrail management event as CloudTrail writes it (eventVersion 1.09)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE{account[-4:]}:{actor}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{actor}/{actor}-session",
            "accountId": account,
            "accessKeyId": "ASIAEXAMPLEDEMOKEY01",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROAEXAMPLE{account[-4:]}",
                    "arn": f"arn:aws:iam::{account}:role/{actor}",
                    "accountId": account,
                    "userName": actor,
                },
                "attributes": {"creationDate": now, "mfaAuthenticated": "false"},
            },
        },
        "eventTime": now,
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
        "requestParameters": request,
        "responseElements": response,
        "requestID": uuid.uuid4().hex.upper()[:16],
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = "Access Denied"
    return record


def emit(session: boto3.Session, record: dict[str, Any]) -> None:
    """Put a CloudTrail record on the member's default bus, as CloudTrail delivery does."""
    service = record["eventSource"].split(".")[0]
    detail_type = "AWS Console Sign In via CloudTrail" if service == "signin" else "AWS API Call via CloudTrail"
    emit_event(session, f"aws.{service}", detail_type, record)


def emit_event(session: boto3.Session, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    """Put any AWS service event (GuardDuty finding, Config compliance change...) on the default bus."""
    response = session.client("events").put_events(
        Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents failed: {response['Entries']}")


# -- the scenario ----------------------------------------------------------------------------------


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    entries: list[dict[str, Any]] = field(default_factory=list)
    out: Any = sys.stdout

    def add(self, kind: str, text: str, **data: Any) -> None:
        elapsed = time.monotonic() - self.started
        self.entries.append({"t": round(elapsed, 3), "kind": kind, "text": text, **data})
        print(f"  +{elapsed:6.2f}s  {kind:<9} {text}", file=self.out, flush=True)


def deliver(org: LocalOrg, account: str, timeline: Timeline, expect: int, only: str | None = None) -> list[Result]:
    """Drain the rule queues of a member account and run the handler on each delivery.

    `expect` deliveries are waited for (to the `only` remediation's queue when given, whose results
    alone are returned; other rules that matched the same events still run and show on the timeline).
    """
    member = org.session(account)
    sqs = member.client("sqs")
    results: list[Result] = []
    deadline = time.monotonic() + PROCESS_DEADLINE_S
    seen = 0
    while time.monotonic() < deadline:
        for r in registry.all_remediations():
            url = sqs.get_queue_url(QueueName=f"snapback-{r.name}")["QueueUrl"]
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
                seen += only is None or r.name == only
                event = json.loads(message["Body"])
                timeline.add(
                    "rule",
                    f"snapback-{r.name} matched {event['detail'].get('eventName', event['detail-type'])} "
                    f"-> queue snapback-{r.name} -> function {member_role.remediator_role_name(r.name)}",
                )
                runtime = runtime_for(org, r.name)
                for result in runtime.process(event, remediations=[r.name]):
                    _show(timeline, result)
                    if only is None or r.name == only:
                        results.append(result)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if seen >= expect:
            break
        time.sleep(0.05)
    return results


def _show(timeline: Timeline, result: Result) -> None:
    planned = result.outcome.value in ("NOTIFIED", "DRY_RUN")
    for action in result.actions:
        timeline.add("would" if planned else "action", action)
    timeline.add("outcome", f"{result.outcome.value}: {result.reason} (audit {result.audit_id})")
    if result.notification_id:
        timeline.add("notify", f"SNS {TOPIC} message {result.notification_id}")
    if result.finding_id:
        timeline.add("finding", f"Security Hub {result.finding_id}")


def oncall_messages(org: LocalOrg) -> list[dict[str, Any]]:
    sqs = org.session(org.security).client("sqs")
    url = sqs.get_queue_url(QueueName="oncall-inbox")["QueueUrl"]
    out = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return out
        for m in batch:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


class SlackSink:
    """A local HTTP endpoint standing in for the Slack incoming webhook; keeps every payload."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        posts: list[dict[str, Any]] = []
        self.posts = posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/demo"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlackSink:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def post_to_slack(org: LocalOrg, sink: SlackSink, timeline: Timeline) -> list[dict[str, Any]]:
    """What the notifier function does: drain the topic's queue, render, pace, post; show each post."""
    from snapback.slack import SlackPoster, plan_posts, readable

    messages = oncall_messages(org)
    # The real notifier keeps Slack under one post per second; the demo paces faster to stay short.
    poster = SlackPoster(sink.url, min_interval_s=0.05)
    before = len(sink.posts)
    for payload in plan_posts(messages):
        poster.post(payload)
    for payload in sink.posts[before:]:
        lines = readable(payload)
        timeline.add("slack", lines[0] if lines else payload.get("text", ""))
        for line in lines[1:]:
            print(f"{'':22}| {line}", file=timeline.out)
    return messages


def discover_scenarios() -> list[Any]:
    """Every module of snapback_ops.scenarios, in ORDER: one attack scenario each, with a `run`."""
    import importlib
    import pkgutil

    from snapback_ops import scenarios

    # SNAPBACK_DEMO_SCENARIOS=a,b runs only those (a quicker playground); default: every scenario.
    only = {n.strip() for n in os.environ.get("SNAPBACK_DEMO_SCENARIOS", "").split(",") if n.strip()}
    modules = [
        importlib.import_module(f"{scenarios.__name__}.{m.name}")
        for m in pkgutil.iter_modules(scenarios.__path__)
        if not only or m.name in only
    ]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def has_no_block(s3: Any, bucket: str) -> bool:
    try:
        s3.get_public_access_block(Bucket=bucket)
    except s3.exceptions.ClientError as err:
        return "NoSuchPublicAccessBlockConfiguration" in str(err)
    return False


def run_demo(report_path: str = "demo-report.json", out: Any = sys.stdout) -> int:
    print("Snapback demo: a simulated AWS Organization in moto (no AWS account needed)\n", file=out)
    with local_aws() as endpoint:
        passed, _ = _play(endpoint, report_path, out)
    return 0 if passed else 1


DEMO_BREAKER = 60


def _play(endpoint: str, report_path: str, out: Any) -> tuple[bool, LocalOrg]:
    """Build the organization, run every scenario, print the findings, write the report."""
    timeline = Timeline(out=out)
    org = build_org()
    timeline.add(
        "setup",
        f"moto at {endpoint}; organization {org.org_id}: management {org.management}, "
        f"security {org.security}, members {', '.join(f'{k} {v}' for k, v in org.members.items())}",
    )
    # Every scenario attacks the same two accounts within a minute or two: the production breaker
    # (10 enforce actions per account per hour) would rightly switch them to notify mode halfway.
    default = org.config.breaker
    org.config = dataclasses.replace(org.config, breaker=dataclasses.replace(default, max_per_account=DEMO_BREAKER))
    timeline.add(
        "setup",
        f"breaker: {DEMO_BREAKER} enforce actions per account per {default.window_minutes} min for this demo "
        f"(default {default.max_per_account}: every attack lands in the same 2 accounts at once)",
    )
    timeline.add(
        "setup",
        f"{len(registry.all_remediations())} remediation(s) registered; rules from their patterns on each member bus; "
        f"role {org.config.member_role_name} with {len(registry.member_permissions())} declared actions",
    )
    scenarios, messages = [], []
    with SlackSink() as sink:
        timeline.add("setup", f"Slack incoming webhook stand-in listening at {sink.url}")
        for scenario in discover_scenarios():
            scenarios.append(scenario.run(org, timeline))
            messages += post_to_slack(org, sink, timeline)
        posts = sink.posts
    print("\nSecurity Hub findings in the security account:", file=out)
    findings = org.session(org.security).client("securityhub").get_findings(MaxResults=100)["Findings"]
    for finding in findings:
        print(
            f"  [{finding['Severity']['Label']:<8}] {finding['Workflow']['Status']:<9} {finding['Title']}",
            file=out,
        )
    passed = all(s["passed"] for s in scenarios) and len(messages) >= 1 and len(findings) >= 1 and len(posts) >= 1
    report = {
        "passed": passed,
        "organization": {"id": org.org_id, "management": org.management, "security": org.security, "members": org.members},
        "scenarios": scenarios,
        "notifications": messages,
        "slack_posts": posts,
        "findings": [{"Id": f["Id"], "Title": f["Title"], "Workflow": f["Workflow"]} for f in findings],
        "timeline": timeline.entries,
    }
    with open(report_path, "w") as fh:
        json.dump(report, fh, indent=2, default=str)
    print(
        f"\n{'PASS' if passed else 'FAIL'}: {sum(s['passed'] for s in scenarios)}/{len(scenarios)} scenarios; "
        f"report written to {report_path}",
        file=out,
    )
    return passed, org


def playground_exports(org: LocalOrg, endpoint: str) -> dict[str, str]:
    """The environment for the CLI to work against the local organization as the security account's
    operator: endpoint, credentials, Snapback's table, topic, org reader role and validated config."""
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{org.security}:role/OrganizationAccountAccessRole", RoleSessionName="snapback-playground"
    )["Credentials"]
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_DEFAULT_REGION": REGION,
        "SNAPBACK_TABLE": TABLE,
        "SNAPBACK_TOPIC_ARN": f"arn:aws:sns:{REGION}:{org.security}:{TOPIC}",
        "SNAPBACK_ORG_READER_ROLE": f"arn:aws:iam::{org.management}:role/{ORG_READER_ROLE}",
        "SNAPBACK_CONFIG": org.config.to_json(),
    }


def keep_running(report_path: str = "demo-report.json", out: Any = sys.stdout, ready: Callable[[], None] | None = None) -> int:
    """`snapback demo --keep`: the demo, then its organization stays up to try the CLI against, until
    Ctrl-C (or SIGTERM) stops it."""
    import shlex
    import signal

    from snapback.audit import AuditLog

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background of a non-interactive shell (CI) inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler, so Ctrl-C would do nothing.
    previous = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, stop)
    passed = False
    print("Snapback playground: the demo, then its organization stays up until you press Ctrl-C\n", file=out)
    try:
        with local_aws() as endpoint:
            passed, org = _play(endpoint, report_path, out)
            exports = playground_exports(org, endpoint)
            audit = AuditLog(Clients(region=REGION, session=session_in(org.security)), TABLE)
            items = audit.scan(200)
            undoable = next((i["audit_id"] for i in items if i.get("outcome") == "REMEDIATED" and i.get("undo")), None)
            proposed = next((i["audit_id"] for i in items if i.get("outcome") == "NOTIFIED" and i.get("actions")), None)
            print("\nThe organization is still running. In another shell:\n", file=out)
            for key, value in exports.items():
                print(f"export {key}={shlex.quote(value)}", file=out)
            member = next(iter(org.members.values()))
            print(
                "\nthen try:\n"
                "  snapback audit --since 1h\n"
                f"  snapback audit --account {member} --json\n"
                + (f"  snapback undo {undoable}\n" if undoable else "")
                + (f"  snapback approve {proposed}\n" if proposed else "")
                + "  snapback sweep --dry-run\n"
                "  snapback handle tests/data/public_events/c_s3/*.json\n"
                "  snapback breaker\n"
                "  snapback doctor\n"
                "\nCtrl-C stops it.",
                file=out,
                flush=True,
            )
            if ready is not None:
                ready()
            while True:
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nplayground stopped", file=out, flush=True)
        return 0 if passed else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
