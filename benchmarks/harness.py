"""Shared benchmark plumbing: a throwaway database, servers in subprocesses, timing and reporting."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from twin.cluster import free_port, throwaway_cluster
from twin.db import migrate

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@contextmanager
def throwaway_database() -> Iterator[str]:
    """URL of a migrated database in a throwaway cluster."""
    with throwaway_cluster(prefix="hyperviseur-bench-pg-") as cluster:
        url = cluster.url()
        migrate(url)
        yield url


@contextmanager
def server(
    args: list[str], env: dict[str, str], health_path: str, *, stop_timeout_s: float = 10.0
) -> Iterator[str]:
    """Run an ASGI server in a subprocess on a free port; yield its base URL once it answers.

    ``stop_timeout_s``: how long uvicorn may take to finish its open connections after SIGTERM.
    """
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server {args} died: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(base + health_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {args} did not start")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=stop_timeout_s)


def time_calls(call: Callable[[], object], *, repeat: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, ours: list[float], peer: list[float], peer_name: str) -> str:
    ours_p50, peer_p50 = statistics.median(ours), statistics.median(peer)
    line = (
        f"{name:<44} ours p50 {ours_p50:7.2f} ms p99 {percentile(ours, 99):7.2f} ms | "
        f"{peer_name} p50 {peer_p50:7.2f} ms p99 {percentile(peer, 99):7.2f} ms | "
        f"ratio p50 {peer_p50 / ours_p50:5.2f}x"
    )
    print(line, flush=True)
    return line


def server_rss_mb(base_url: str) -> float | None:
    """Resident memory (MiB) of the uvicorn child started by :func:`server` for ``base_url``, if found."""
    port = base_url.rsplit(":", 1)[-1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if b"uvicorn" not in args or b"--port" not in args:
                continue
            if args[args.index(b"--port") + 1].decode() != port:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        except (OSError, IndexError, ValueError):
            continue
    return None


_WRK_SCRIPT = """
local paths = {%(paths)s}
local signed = {%(signed)s}
local headers = {%(headers)s}
local none = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end
function init(args)
  i = offset %% #paths
end
function request()
  i = i + 1
  if i > #paths then i = 1 end
  if signed[i] then
    return wrk.format("GET", paths[i], headers)
  end
  return wrk.format("GET", paths[i], none)
end
"""


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk_ms(value: str) -> float:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    for unit in ("us", "ms", "s", "m"):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * units[unit]
    return float(value)


def run_wrk(
    base_url: str,
    paths: list[str],
    *,
    headers: dict[str, str] | None = None,
    signed: list[bool] | None = None,
    threads: int = 2,
    connections: int = 32,
    duration_s: int = 10,
) -> dict[str, float]:
    """Load ``base_url`` with wrk, cycling through ``paths`` (a Lua script written to a temp file).

    ``headers`` go with every request, or only with the paths whose ``signed`` flag is true.

    Returns requests/s, latency p50/p99 (ms), and the counts of non-2xx/3xx answers and socket errors.
    """
    import re
    import tempfile

    script = _WRK_SCRIPT % {
        "paths": ", ".join(_lua_string(p) for p in paths),
        "signed": ", ".join("true" if flag else "false" for flag in (signed or [True] * len(paths))),
        "headers": ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in (headers or {}).items()),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as handle:
        handle.write(script)
        handle.flush()
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration_s}s",
                "--latency",
                "-s",
                handle.name,
                base_url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{out}")
    result = {"rps": float(rps.group(1))}
    for q in ("50", "99"):
        match = re.search(rf"^\s+{q}%\s+(\S+)", out, re.MULTILINE)
        result[f"p{q}_ms"] = _wrk_ms(match.group(1)) if match else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["non_2xx"] = float(bad.group(1)) if bad else 0.0
    errors = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", out)
    result["socket_errors"] = float(sum(int(g) for g in errors.groups())) if errors else 0.0
    return result
