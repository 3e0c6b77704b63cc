"""Trimmed botocore service models for the Lambda layer: the cold start's largest single cost.

Creating a botocore client parses that service's whole `service-2.json` (EC2's is 2.6 MB of JSON,
most of it documentation strings no client ever reads). At synth, the models of the services the
registry and the runtime use are written again without `documentation` and `documentationUrl`
fields, as plain JSON, into the layer under `snapback-models/`; the functions set `AWS_DATA_PATH`
to it, which botocore's loader searches before its own data. Everything else (endpoint rule sets,
paginators, waiters, other services) still comes from the runtime's botocore, so a service missing
here only costs time, never correctness. The models are those of the botocore installed at synth,
which requirements.txt pins to the Lambda runtime's version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Services the runtime itself calls, whatever the remediations: STS (assume role), DynamoDB (ledger,
# audit, breaker), SNS and SQS (notify, dead letters), Security Hub (findings), Organizations
# (membership), Lambda (the sweep's fan-out), Secrets Manager (the Slack notifier's webhook).
RUNTIME_SERVICES = frozenset({"sts", "dynamodb", "sns", "sqs", "securityhub", "organizations", "lambda", "secretsmanager"})
# IAM action prefixes whose botocore client names differ, or that need more than one client.
PREFIX_SERVICES = {"s3": ("s3", "s3control"), "states": ("stepfunctions",)}
DOC_KEYS = frozenset({"documentation", "documentationUrl"})
# Kept whole: botocore indexes `documentation` in these (`ServiceModel.client_context_parameters`
# reads `param["documentation"]` while resolving every S3 and S3 Control endpoint: trimmed, each call
# raised KeyError). tests/unit/test_service_models.py walks every model botocore builds from them.
KEEP_WHOLE = frozenset({"clientContextParams"})
FOLDER = "snapback-models"
# Members pruned from a structure Snapback only ever sends one member of, with every shape that
# becomes unreachable: Security Hub's `ResourceDetails` holds ~200 resource-detail structures (most of
# the model: it took 176 ms of a cold start to parse trimmed, more than any other model) and a
# Snapback finding sends `Details.Other` alone (snapback.securityhub.build_finding). Outputs that name
# the pruned members still parse (botocore skips response keys its model lacks); a finding sending a
# pruned member would be refused by botocore's validation, which tests/unit/test_service_models.py
# checks for every remediation's finding.
PRUNE: dict[str, dict[str, tuple[str, ...]]] = {"securityhub": {"ResourceDetails": ("Other",)}}


def services_for(actions: Iterable[str], available: Iterable[str]) -> set[str]:
    """The botocore services behind IAM actions (`prefix:Action`), plus the runtime's own."""
    known = set(available)
    wanted = set(RUNTIME_SERVICES)
    for action in actions:
        prefix = action.split(":", 1)[0].lower()
        wanted.update(PREFIX_SERVICES.get(prefix, (prefix,)))
    return wanted & known


def trim(node: Any) -> Any:
    """The model without documentation: every other key (shapes, members, traits) is kept as it is."""
    if isinstance(node, dict):
        return {k: v if k in KEEP_WHOLE else trim(v) for k, v in node.items() if k not in DOC_KEYS}
    if isinstance(node, list):
        return [trim(v) for v in node]
    return node


def prune(model: dict[str, Any], keep: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """`model` with only the `keep`-named members of those structures, and without the shapes no
    operation reaches any more."""
    shapes = {name: dict(shape) for name, shape in model["shapes"].items()}
    for name, members in keep.items():
        shapes[name]["members"] = {m: v for m, v in shapes[name]["members"].items() if m in members}
    reached: set[str] = set()
    todo = [
        ref["shape"]
        for op in model["operations"].values()
        for ref in (op.get("input"), op.get("output"), *op.get("errors", []))
        if ref
    ]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        shape = shapes[name]
        refs = [*shape.get("members", {}).values(), *(shape[k] for k in ("member", "key", "value") if k in shape)]
        todo.extend(ref["shape"] for ref in refs)
    return {**model, "shapes": {name: shape for name, shape in shapes.items() if name in reached}}


def write_models(out_dir: Path, services: Iterable[str]) -> list[Path]:
    """Write `<out_dir>/<service>/<api version>/service-2.json` (trimmed) for each service."""
    from botocore.loaders import Loader

    loader = Loader()
    written = []
    for service in sorted(set(services)):
        version = loader.determine_latest_version(service, "service-2")
        model = loader.load_service_model(service, "service-2", version)
        if service in PRUNE:
            model = prune(model, PRUNE[service])
        target = out_dir / service / version / "service-2.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(trim(model), separators=(",", ":")))
        written.append(target)
    written.append(write_endpoints(out_dir, services))
    return written


def endpoint_prefixes(services: Iterable[str]) -> set[str]:
    """The `endpoints.json` keys of botocore services (a client's endpointPrefix, e.g. `email` for SES)."""
    from botocore.loaders import Loader

    loader = Loader()
    return {loader.load_service_model(s, "service-2")["metadata"]["endpointPrefix"] for s in services}


def write_endpoints(out_dir: Path, services: Iterable[str]) -> Path:
    """botocore's `endpoints.json` with only these services' entries, every partition's own data kept
    (regions, defaults, DNS suffixes). botocore reads the whole file at the first client of a process
    (735 KB: 45-95 ms of a cold start, measured here); endpoints themselves come from each service's
    rule set, and a service absent here falls back to the partition's defaults, as botocore does for
    any service the file lacks. tests/unit/test_service_models.py compares every resolved endpoint."""
    from botocore.loaders import Loader

    keep = endpoint_prefixes(services)
    data = Loader().load_data("endpoints")
    trimmed = {
        **data,
        "partitions": [{**p, "services": {k: v for k, v in p["services"].items() if k in keep}} for p in data["partitions"]],
    }
    target = out_dir / "endpoints.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(trimmed, separators=(",", ":")))
    return target


def registry_services() -> set[str]:
    """The services the registered remediations' declared permissions and the runtime use."""
    from botocore.loaders import Loader

    from snapback import registry

    actions = [a for r in registry.all_remediations() for a in (*r.permissions, *r.sweep_permissions)]
    return services_for(actions, Loader().list_available_services("service-2"))
