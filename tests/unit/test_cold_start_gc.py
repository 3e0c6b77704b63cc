"""The remediation function's cold start: cyclic garbage collection is off while the imports and the
first event build botocore's models, and back on (with what the cold start built frozen out of later
collections) once the first event is over, however it ended."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

CODE = """
import gc, json, sys
sys.path.insert(0, sys.argv[1])
import handler
seen = {"after_import": gc.isenabled()}
try:
    handler.handler({"id": "e-1"}, None)
except BaseException as err:  # no configuration in this process: the first event fails
    seen["error"] = type(err).__name__
seen.update(after_first_event=gc.isenabled(), frozen=gc.get_freeze_count())
gc.disable()  # a later event never turns collection off again
try:
    handler.handler({"id": "e-2"}, None)
except BaseException:
    pass
seen["after_second_event"] = gc.isenabled()
print(json.dumps(seen))
"""


def test_collection_waits_for_the_first_event_then_resumes_with_the_cold_start_frozen() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "layers"), "SNAPBACK_REMEDIATION": "kms_enable_key_rotation"}
    done = subprocess.run(
        [sys.executable, "-c", CODE, str(ROOT / "functions" / "remediate")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["after_import"] is False
    assert seen.get("error"), "the first event was expected to fail without configuration"
    assert seen["after_first_event"] is True and seen["frozen"] > 10_000
    assert seen["after_second_event"] is False  # only the cold start's own pause is ended by the handler
