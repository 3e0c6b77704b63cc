"""The Lambda layer ships only what Lambda runs: the runtime library never imports the operator side."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "layers" / "snapback"
OPERATOR_ONLY = ("cli", "demo", "scenarios", "backtest", "redrive", "__main__")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_runtime_library_never_imports_the_operator_package() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "snapback_ops")
        for path in RUNTIME.rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_operator_modules_are_not_in_the_layer() -> None:
    present = [name for name in OPERATOR_ONLY if (RUNTIME / f"{name}.py").exists() or (RUNTIME / name).is_dir()]
    assert not present, f"operator-side modules inside the Lambda layer: {present}; they belong in ops/snapback_ops"
