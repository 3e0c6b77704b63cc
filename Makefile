# The two commands of the README: `make demo` and `make test`. Both set up a fresh machine
# themselves (.venv from requirements.txt, the pinned CDK CLI from package-lock.json).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha1sum | cut -c1-12)
NODE_STAMP := node_modules/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Lint what exists: stacks/, app.py and bench/ arrive with the CDK app and the benchmarks.
LINT_PATHS := $(wildcard layers ops functions stacks tests app.py bench)

.PHONY: demo test lint format synth bench fuzz clean

$(STAMP):
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: $(STAMP)
	$(PY) -m snapback_ops demo

test: $(STAMP) $(NODE_STAMP) lint
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m ruff check $(LINT_PATHS)

format: $(STAMP)
	$(PY) -m ruff format $(LINT_PATHS)
	$(PY) -m ruff check --fix $(LINT_PATHS)

synth: $(STAMP) $(NODE_STAMP)
	npx --no-install cdk synth --no-notices -q
	$(VENV)/bin/cfn-lint --config-file .cfnlintrc.yaml

# Cloud Custodian, the peer the benchmarks compare with, lives in its own environment (never the runtime's).
PEERS := bench/.venv-peers/.installed-c7n-0.9.53
$(PEERS):
	@test -x bench/.venv-peers/bin/python || python3 -m venv bench/.venv-peers
	bench/.venv-peers/bin/pip install -q c7n==0.9.53
	@touch $@

bench: $(STAMP) $(PEERS)
	$(PY) bench/cold_start.py --runs 10
	$(PY) bench/peers.py --runs 10
	$(PY) bench/warm_latency.py --events 100
	$(PY) bench/calls.py
	$(PY) bench/burst.py --events 1000
	$(PY) bench/package_size.py
	$(PY) bench/backtest.py --records 200000 --runs 3 --memory-sizes 100000 400000
	$(PY) bench/report.py

# The reliability suites' long profile: many more fuzz examples (hypothesis profile `fuzz`) and
# every must-fire fixture case under faults and duplicates, not the CI sample.
fuzz: $(STAMP)
	SNAPBACK_FUZZ_PROFILE=fuzz SNAPBACK_RELIABILITY_PROFILE=full $(PY) -m pytest tests/reliability tests/adversarial --durations=15

clean:
	rm -rf $(VENV) node_modules cdk.out demo-report.json
