"""`snapback demo --keep`: the demo organization stays up, the printed exports make every CLI command
work against it, and Ctrl-C (SIGINT) stops it cleanly (a real subprocess, as a person runs it)."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

from tests.conftest import ROOT

PYTHONPATH = os.pathsep.join(str(ROOT / p) for p in ("layers", "ops", "."))


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SNAPBACK_"))}
    env["PYTHONPATH"] = PYTHONPATH
    return env


def test_demo_keep_prints_working_exports_and_stops_on_ctrl_c(tmp_path):
    env = {**base_env(), "SNAPBACK_DEMO_SCENARIOS": "s3_public_bucket"}  # a quicker demo
    proc = subprocess.Popen(
        [sys.executable, "-m", "snapback_ops", "demo", "--keep", "--report", str(tmp_path / "report.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while not any("Ctrl-C stops it" in line for line in seen):
            assert proc.poll() is None, "".join(seen)
            assert time.monotonic() < deadline, "".join(seen[-30:])
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        exports = dict(
            shlex.split(line.removeprefix("export ").strip())[0].split("=", 1) for line in seen if line.startswith("export ")
        )
        assert {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "SNAPBACK_CONFIG", "SNAPBACK_TABLE"} <= set(exports)
        cli_env = {**base_env(), **exports}

        def snapback(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "snapback_ops", *args],
                capture_output=True,
                text=True,
                env=cli_env,
                cwd=tmp_path,
                timeout=120,
            )

        listed = snapback("audit", "--since", "1h", "--json")
        assert listed.returncode == 0, listed.stderr
        items = [json.loads(line) for line in listed.stdout.splitlines()]
        assert any(i["outcome"] == "REMEDIATED" for i in items)
        undo_line = next(line for line in seen if line.strip().startswith("snapback undo "))
        audit_id = undo_line.split()[-1]
        assert audit_id != "AUDIT_ID"
        undone = snapback("undo", audit_id)
        assert "Traceback" not in undone.stderr and (undone.returncode == 0 or "drift" in undone.stderr), undone.stderr
        assert snapback("breaker").returncode == 0
        endpoint = urlparse(exports["AWS_ENDPOINT_URL"])
    finally:
        proc.send_signal(signal.SIGINT)
        try:  # a loaded CI machine (two xdist workers beside the demo and its moto server) is slow to stop it
            code = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the playground did not stop within 180 s of Ctrl-C:\n" + "".join(seen[-30:])) from None
    time.sleep(0.5)
    rest = "".join(seen)
    while not lines.empty():
        rest += lines.get()
    assert "playground stopped" in rest and "Traceback" not in rest
    assert code == 0
    with socket.socket() as probe:  # the moto server is gone
        assert probe.connect_ex((endpoint.hostname, endpoint.port)) != 0
