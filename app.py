#!/usr/bin/env python3
"""The Snapback CDK app: `npx cdk synth` (offline), then deploy ONE STACK AT A TIME (docs/DEPLOY.md).

Never `cdk deploy --all`: it would also deploy `SnapbackMember` (the StackSet's template, kept in
cdk.out for review) into whatever account the CLI's credentials are in, and the stacks live in two
accounts that need separate credentials and an order (security first, then management).

Reads snapback.yaml (the path is the `snapback:config` context value), validates it against the
registry and stops with every problem listed (field and fix) when it is invalid.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "layers"))

import aws_cdk as cdk  # noqa: E402

from snapback import registry  # noqa: E402
from snapback.config import load_config  # noqa: E402
from snapback.errors import ConfigError  # noqa: E402
from stacks.app import build  # noqa: E402


def main() -> None:
    app = cdk.App()
    path = ROOT / str(app.node.try_get_context("snapback:config") or "snapback.yaml")
    try:
        config = load_config(path, registry.names())
    except ConfigError as err:
        sys.exit(f"snapback: {path.name} is invalid:\n{err}")
    build(app, config)
    app.synth()


if __name__ == "__main__":
    main()
