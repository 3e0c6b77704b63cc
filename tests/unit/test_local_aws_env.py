"""`local_aws()` (the demo's and the benchmarks' moto server) leaves the environment as it found it."""

from __future__ import annotations

import os

import pytest

from snapback_ops.demo import local_aws

KEYS = ("MOTO_EC2_LOAD_DEFAULT_AMIS", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.mark.parametrize("preset", [False, True], ids=["unset", "set"])
def test_every_variable_it_sets_is_restored(monkeypatch, preset):
    for key in KEYS:
        if preset:
            monkeypatch.setenv(key, f"mine-{key}")
        else:
            monkeypatch.delenv(key, raising=False)
    before = {k: os.environ.get(k) for k in KEYS}
    with local_aws() as endpoint:
        assert os.environ["AWS_ENDPOINT_URL"] == endpoint
        assert os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] == ("mine-MOTO_EC2_LOAD_DEFAULT_AMIS" if preset else "false")
    assert {k: os.environ.get(k) for k in KEYS} == before
