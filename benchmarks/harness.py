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
def server(args: list[str], env: dict[str, str], health_path: str) -> Iterator[str]:
    """Run an ASGI server in a subprocess on a free port; yield its base URL once it answers."""
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
        proc.wait(timeout=10)


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
