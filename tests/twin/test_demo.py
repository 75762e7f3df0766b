"""`hyperviseur demo` (what `make demo` runs) creates a database, imports Helsinki and serves it."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.common import PROJECT_ROOT
from twin.cluster import free_port

HYPERVISEUR = str(PROJECT_ROOT / ".venv" / "bin" / "hyperviseur")


def _wait_for(url: str, proc: subprocess.Popen, timeout_s: float = 240.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"demo exited with {proc.returncode}:\n{out}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {timeout_s} s")


def test_demo_serves_the_default_territory_and_is_idempotent() -> None:
    base = Path(tempfile.mkdtemp(prefix="hyperviseur-demo-"))
    os.chmod(base, 0o755)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERVISEUR_")} | {
        "HYPERVISEUR_VAR_DIR": str(base / "var"),
        "HYPERVISEUR_DB_PORT": str(free_port()),
        "HYPERVISEUR_MQTT_PORT": str(free_port()),
    }
    try:
        for run in (1, 2):
            proc = subprocess.Popen(
                [HYPERVISEUR, "demo", "--port", str(port)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                _wait_for(f"http://127.0.0.1:{port}/health", proc)
                territories = httpx.get(f"http://127.0.0.1:{port}/api/territories", timeout=10).json()
                names = [t["name"] for t in territories["territories"]]
                assert names == ["Helsinki (centre)"], f"run {run}: {names}"
                helsinki = territories["territories"][0]
                assert helsinki["crs_epsg"] == 32635
                roads = httpx.get(
                    f"http://127.0.0.1:{port}/ogc/collections/road_edges/items",
                    params={"limit": 5},
                    timeout=10,
                )
                assert roads.status_code == 200 and len(roads.json()["features"]) == 5
            finally:
                proc.send_signal(signal.SIGINT)
                output, _ = proc.communicate(timeout=30)
            assert f"http://127.0.0.1:{port}/" in output, "the demo must print its URL"
            if run == 1:
                assert "road_edges: " in output, "the first run reports what the import kept"
            else:
                assert "road_edges: " not in output, "the second run must not import again"
    finally:
        # The demo leaves its database and broker running for the next `make demo`: stop both.
        subprocess.run([HYPERVISEUR, "broker", "stop"], env=env, capture_output=True)
        subprocess.run([HYPERVISEUR, "db", "stop"], env=env, capture_output=True)
        subprocess.run(["rm", "-rf", str(base)], check=False)
