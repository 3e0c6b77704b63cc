"""Shared by the bench scripts: paths, statistics, and where each script leaves its figures."""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
for path in (ROOT, ROOT / "layers", ROOT / "ops"):  # this checkout's code, whatever the venv points at
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def save(name: str, data: dict[str, Any]) -> Path:
    """Write one bench's figures, with the machine's 1-minute load average when they were taken."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {**data, "load_average": round(os.getloadavg()[0], 2)}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def lambda_models(tmp: Path) -> str:
    """The layer's trimmed service models (stacks/service_models.py), written as synth writes them:
    the value every function's AWS_DATA_PATH has in Lambda, so a bench process loads what Lambda does."""
    from stacks import service_models

    out = tmp / service_models.FOLDER
    service_models.write_models(out, service_models.registry_services())
    return str(out)


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
