"""iam_console_login_without_mfa: an alert only; routing and decisions on built and real sign-in records."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from snapback import registry
from snapback.events import CONSOLE_SIGNIN, normalise
from snapback.outcomes import Outcome
from snapback.patterns import matches
from snapback_ops.demo import cloudtrail_record, runtime_for
from tests.conftest import SHARED_EVENTS
from tests.remediations.helpers import fill, load_cases
from tests.remediations.iam_events import identity

# Counts what the security account holds (findings, messages, IP sets, breaker slots): an
# organization per test, not fresh members of a shared one (tests/conftest.py).
SHARED_ORG = False

NAME = "iam_console_login_without_mfa"
CASES = load_cases(NAME)


def sign_in(account: str, case: dict[str, Any]) -> dict[str, Any]:
    record = cloudtrail_record(account, "signin.amazonaws.com", "ConsoleLogin", None, response=case["response"])
    record["userIdentity"] = identity(account, case["identity"])
    record["additionalEventData"] = fill(case["additional"], account=account)
    record["eventType"] = "AwsConsoleSignIn"
    (envelope,) = normalise(record)
    return envelope.as_dict()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(org, case):
    account = org.members["member-a"]
    event = sign_in(account, case)
    assert event["source"] == "aws.signin" and event["detail-type"] in CONSOLE_SIGNIN
    assert any(matches(t.pattern, event) for t in registry.get(NAME).triggers) == case["routed"]
    (result,) = runtime_for(org, NAME).process(event, remediations=[NAME])
    assert result.outcome.value == case["expect"], result.reason
    if case["expect"] == "NOTIFIED":
        user = case["identity"].split(":", 1)[1]
        assert result.target.resource_arn == f"arn:aws:iam::{account}:user/{user}"
        assert result.target.facts["risk"] == ["no MFA"] and result.notification_id and result.finding_id
        assert result.severity.value == "HIGH"


def test_trusted_cidrs_flag_an_unexpected_source(org):
    account = org.members["member-a"]
    runtime = runtime_for(org, NAME)
    runtime.config = dataclasses.replace(runtime.config, options={NAME: {"trusted_cidrs": ["10.0.0.0/8"]}})
    (result,) = runtime.process(sign_in(account, CASES[0]), remediations=[NAME])
    assert result.outcome is Outcome.NOTIFIED
    assert result.target.facts["risk"] == ["no MFA", "source IP 198.51.100.23 is not in trusted_cidrs"]


ROUTED_SAMPLES = {
    "a_console_signin/iamuser-nomfa-success-panther.json",
    "a_console_signin/iamuser-nomfa-success-stratus.json",
    "a_console_signin/iamuser-success-nomfa-ct-doc.json",
}


def test_real_samples_route_exactly_as_expected():
    """IAM users' password-only successes match; MFA, failures, root, SSO and every other source do not."""
    patterns = [t.pattern for t in registry.get(NAME).triggers]
    routed = set()
    for path in sorted(SHARED_EVENTS.glob("*/*.json")):
        try:
            envelopes = normalise(path.read_text())
        except Exception:  # noqa: BLE001 - rejected inputs route nowhere
            continue
        if any(matches(p, e.as_dict()) for e in envelopes for p in patterns):
            routed.add(path.relative_to(SHARED_EVENTS).as_posix())
    assert routed == ROUTED_SAMPLES


@pytest.mark.parametrize(
    "file, outcome",
    [
        ("a_console_signin/iamuser-nomfa-success-stratus.json", Outcome.NOTIFIED),
        ("a_console_signin/sso-assumedrole-login-panther.json", Outcome.SKIPPED),
        ("a_console_signin/iamuser-nomfa-failure-panther.json", Outcome.SKIPPED),
        ("a_console_signin/iamuser-success-mfa-ct-doc.json", Outcome.SKIPPED),
    ],
)
def test_real_samples_decide_as_expected_even_if_delivered(org, file, outcome):
    """Delivered anyway (a redrive, a broader rule), the decision still holds."""
    account = org.members["member-a"]
    text = (SHARED_EVENTS / file).read_text()
    original = json.loads(text)["recipientAccountId"]
    # the sample as member-a would record it: every ARN of the sample's account too (an ARN naming
    # another account than the record's is a spoof the guards skip)
    record = json.loads(text.replace(original, account))
    record["userIdentity"]["accountId"] = account
    (envelope,) = normalise(record)
    (result,) = runtime_for(org, NAME).process(envelope.as_dict(), remediations=[NAME])
    assert result.outcome is outcome, result.reason
