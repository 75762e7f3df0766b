"""What the web hardening costs per request: the same app with and without ``install_web_hardening``.

Two measurements, both on a tiny route (no database) and on ``/health`` (one query):
in-process, calling the ASGI app directly (the middlewares' own cost, in microseconds), and over HTTP
through uvicorn with a keep-alive client (what a client sees).

The last line isolates what the seven extra response headers cost by themselves (written by uvicorn, parsed
by the pure-Python HTTP client): most of the HTTP difference on a tiny route is those bytes, not the code.

Run: ``python -m benchmarks.bench_middleware``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from unittest import mock

import httpx
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from benchmarks.harness import percentile, server, throwaway_database, time_calls
from twin.security.middleware import SECURITY_HEADERS
from twin.settings import DatabaseSettings, Settings

PING = "/bench/ping"
# The same answer carrying the security headers itself, without middleware: what the header bytes cost.
PING_WITH_HEADERS = "/bench/ping-with-headers"


def _build(*, hardened: bool, database_url: str | None = None) -> FastAPI:
    import twin.app

    settings = Settings(database=DatabaseSettings(database_url=database_url)) if database_url else Settings()
    if hardened:
        app = twin.app.create_app(settings)
    else:
        with mock.patch.object(twin.app, "install_web_hardening", lambda app, settings: None):
            app = twin.app.create_app(settings)

    @app.get(PING, include_in_schema=False)
    async def ping() -> PlainTextResponse:
        return PlainTextResponse("pong")

    @app.get(PING_WITH_HEADERS, include_in_schema=False)
    async def ping_with_headers() -> PlainTextResponse:
        return PlainTextResponse("pong", headers=SECURITY_HEADERS)

    return app


def hardened_app() -> FastAPI:
    """uvicorn factory (settings from HYPERVISEUR_* variables)."""
    return _build(hardened=True)


def bare_app() -> FastAPI:
    """uvicorn factory: the same app without the hardening middlewares."""
    return _build(hardened=False)


def _scope(path: str) -> dict[str, object]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"*/*"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _asgi_samples(
    apps: dict[str, FastAPI], path: str, *, rounds: int, batch: int
) -> dict[str, list[float]]:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    status: list[int] = []

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))  # type: ignore[call-overload]

    samples: dict[str, list[float]] = {name: [] for name in apps}
    for round_ in range(rounds + 1):
        for name, app in apps.items():  # interleaved batches: drift of the machine hits both alike
            for _ in range(batch):
                start = time.perf_counter_ns()
                await app(_scope(path), receive, send)  # type: ignore[arg-type]
                if round_:  # the first round warms up
                    samples[name].append((time.perf_counter_ns() - start) / 1000.0)
    assert set(status) == {200}, f"{path} answered {set(status)}"
    return samples


async def _in_process(database_url: str) -> list[str]:
    apps = {
        "hardened": _build(hardened=True, database_url=database_url),
        "bare": _build(hardened=False, database_url=database_url),
    }
    lines = []
    hardened, bare = apps["hardened"], apps["bare"]
    async with hardened.router.lifespan_context(hardened), bare.router.lifespan_context(bare):
        for path, rounds in ((PING, 40), ("/health", 10)):
            samples = await _asgi_samples(apps, path, rounds=rounds, batch=100)
            lines.append(_line(f"in-process ASGI GET {path}", samples["hardened"], samples["bare"], "µs"))
    return lines


def _over_http(database_url: str) -> list[str]:
    env = {"HYPERVISEUR_DATABASE_URL": database_url}
    factory = "benchmarks.bench_middleware:{}_app"
    samples: dict[tuple[str, str], list[float]] = {}
    with (
        server(["--factory", factory.format("hardened")], env, "/health") as hardened,
        server(["--factory", factory.format("bare")], env, "/health") as bare,
        httpx.Client(base_url=hardened) as hardened_client,
        httpx.Client(base_url=bare) as bare_client,
    ):
        clients = {"hardened": hardened_client, "bare": bare_client}
        for path in (PING, PING_WITH_HEADERS, "/health"):
            for round_ in range(21):  # both servers in turn, 100 requests at a time; round 0 warms up
                for name, client in clients.items():

                    def call(c: httpx.Client = client, p: str = path) -> object:
                        return c.get(p)

                    batch = time_calls(call, repeat=100, warmup=0)
                    if round_:
                        samples.setdefault((name, path), []).extend(batch)
    lines = [
        _line(
            f"HTTP (uvicorn, keep-alive) GET {path}",
            samples[("hardened", path)],
            samples[("bare", path)],
            "ms",
        )
        for path in (PING, "/health")
    ]
    # Both sides bare: the first answer only carries the same headers, set by the route itself.
    bare_headers, bare_plain = samples[("bare", PING_WITH_HEADERS)], samples[("bare", PING)]
    labels = ("with headers", "without")
    lines.append(_line("HTTP header bytes alone (bare app, ping)", bare_headers, bare_plain, "ms", labels))
    return lines


def _line(
    name: str,
    hardened: list[float],
    bare: list[float],
    unit: str,
    labels: tuple[str, str] = ("hardened", "bare"),
) -> str:
    h50, b50 = statistics.median(hardened), statistics.median(bare)
    line = (
        f"{name:<40} {labels[0]} p50 {h50:8.2f} {unit} p99 {percentile(hardened, 99):8.2f} {unit} | "
        f"{labels[1]} p50 {b50:8.2f} {unit} p99 {percentile(bare, 99):8.2f} {unit} | "
        f"overhead p50 {h50 - b50:+7.2f} {unit} ({(h50 / b50 - 1) * 100:+5.1f} %)"
    )
    print(line, flush=True)
    return line


def main() -> None:
    print(
        "web hardening overhead (security headers, limits, error guard; CORS off as by default)", flush=True
    )
    with throwaway_database() as url:
        asyncio.run(_in_process(url))
        _over_http(url)


if __name__ == "__main__":
    main()
