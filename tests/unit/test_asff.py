"""ASFF validity for every remediation and every reported outcome, against the Security Hub API model."""

from __future__ import annotations

import boto3
import pytest
from botocore.validate import ParamValidator

from snapback import registry
from snapback.outcomes import REPORTED, Result, Severity, Target
from snapback.securityhub import build_finding

NAMESPACES = ("Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors", "Sensitive Data Identifications")
SECURITY, MEMBER = "222222222222", "333333333333"


def result_for(remediation, outcome) -> Result:
    target = Target(
        account=MEMBER,
        region="eu-west-1",
        resource_type="AwsS3Bucket",
        resource_id="r" * 300,
        resource_arn="arn:aws:s3:::" + "r" * 300,
        idempotency_key="k",
        facts={"summary": "x" * 2000},
    )
    return Result(
        outcome,
        "why " * 300,
        event_id="e-1",
        remediation=remediation.name,
        mode="enforce",
        target=target,
        actions=["a" * 500] * 5,
        undo={"previous": None},
        audit_id="20261122T000000Z-abcdef0123",
        severity=Severity.HIGH,
    )


@pytest.fixture(scope="module", params=["botocore", "layer"])
def shape(request):
    """Security Hub's model as botocore ships it, and as the layer ships it (trimmed, `ResourceDetails`
    pruned to `Other`: stacks/service_models.py): a finding member the layer pruned would be refused
    in Lambda by botocore's validation before any call."""
    if request.param == "botocore":
        client = boto3.client("securityhub", region_name="us-east-1")
        return client.meta.service_model.operation_model("BatchImportFindings").input_shape
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    from stacks.service_models import PRUNE, prune, trim

    shipped = trim(prune(Loader().load_service_model("securityhub", "service-2"), PRUNE["securityhub"]))
    assert set(shipped["shapes"]["ResourceDetails"]["members"]) == {"Other"}
    return ServiceModel(shipped, "securityhub").operation_model("BatchImportFindings").input_shape


@pytest.mark.parametrize("remediation", registry.all_remediations(), ids=lambda r: r.name)
def test_every_outcome_of_every_remediation_is_a_valid_asff_finding(remediation, shape):
    for outcome in sorted(REPORTED, key=lambda o: o.value):
        finding = build_finding(result_for(remediation, outcome), remediation, SECURITY, "us-east-1")
        report = ParamValidator().validate({"Findings": [finding]}, shape)
        assert not report.has_errors(), report.generate_report()
        (kind,) = finding["Types"]
        namespace, *rest = kind.split("/")
        assert namespace in NAMESPACES and 1 <= len(rest) <= 2, kind
        assert len(finding["Title"]) <= 256 and len(finding["Description"]) <= 1024
        assert finding["ProductArn"] == f"arn:aws:securityhub:us-east-1:{SECURITY}:product/{SECURITY}/default"
        assert finding["Resources"][0]["Details"]["Other"]["AccountId"] == MEMBER
        assert finding["ProductFields"]["snapback/audit_id"] == "20261122T000000Z-abcdef0123"
        if outcome.value == "REMEDIATED":
            assert finding["Workflow"]["Status"] == "RESOLVED"
            assert finding["Remediation"]["Recommendation"]["Text"] == "To undo: snapback undo 20261122T000000Z-abcdef0123"
        if outcome.value == "NOTIFIED":
            assert finding["Workflow"]["Status"] == "NOTIFIED"


def test_the_same_resource_keeps_one_finding_id_across_outcomes():
    remediation = registry.get("s3_block_public_access")
    ids = {build_finding(result_for(remediation, o), remediation, SECURITY, "us-east-1")["Id"] for o in REPORTED}
    assert len(ids) == 1
