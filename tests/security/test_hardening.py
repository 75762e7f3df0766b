"""Web hardening: security headers everywhere, a same-origin CSP and docs page, CORS closed by default,
request size limits that leave the database as it was, rate limits with Retry-After, no stack traces."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from twin.app import create_app
from twin.security import accounts
from twin.security.crypto import Keyring
from twin.security.middleware import (
    CONTENT_SECURITY_POLICY,
    SECURITY_HEADERS,
    STRICT_TRANSPORT_SECURITY,
    SlidingWindowLimiter,
)
from twin.settings import DatabaseSettings, SecuritySettings, Settings

SECRET_MESSAGE = "internal detail that must never reach a client"
FOREIGN_ORIGIN = "https://evil.example"
OUR_CONSOLE = "https://console.ville.example.fr"


def _app(database_url: str, tmp_path: Path, **security: Any) -> FastAPI:
    keys = "k1:" + Keyring.new_key_text()
    app = create_app(
        Settings(
            database=DatabaseSettings(database_url=database_url, var_dir=tmp_path),
            security=SecuritySettings(data_keys=keys, **security),
        )
    )

    @app.get("/test-only/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError(SECRET_MESSAGE)

    return app


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(_app(database_url, tmp_path)) as c:
        yield c


def _assert_security_headers(response: Any, *, hsts: bool) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{name} missing or wrong on {response.request.url}"
    assert ("strict-transport-security" in response.headers) is hsts
    if hsts:
        assert response.headers["strict-transport-security"] == STRICT_TRANSPORT_SECURITY


def test_headers_on_normal_response_404_and_error(client: TestClient) -> None:
    ok = client.get("/health")
    assert ok.status_code == 200
    _assert_security_headers(ok, hsts=False)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    _assert_security_headers(missing, hsts=False)
    invalid = client.get("/ogc/collections", params={"f": "nonsense"})
    assert invalid.status_code == 400
    _assert_security_headers(invalid, hsts=False)
    error = client.get("/test-only/boom")
    assert error.status_code == 500
    _assert_security_headers(error, hsts=False)


def test_unexpected_exception_gives_generic_500_with_error_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/test-only/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 500 and body["title"] == "InternalError"
    assert body["error_id"] in body["detail"]
    for leak in (SECRET_MESSAGE, "Traceback", "RuntimeError", 'File "', ".py"):
        assert leak not in response.text
    # The traceback is in the server log, under the same error id.
    logged = [r for r in caplog.records if body["error_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert SECRET_MESSAGE in str(logged[0].exc_info[1])


def test_hsts_only_over_tls_or_behind_a_tls_proxy(database_url: str, tmp_path: Path) -> None:
    app = _app(database_url, tmp_path)
    with TestClient(app) as plain:
        _assert_security_headers(plain.get("/api/docs"), hsts=False)
    with TestClient(app, base_url="https://testserver") as tls:
        _assert_security_headers(tls.get("/api/docs"), hsts=True)
        _assert_security_headers(tls.get("/no/such/page"), hsts=True)
    with TestClient(_app(database_url, tmp_path, behind_tls_proxy=True)) as proxied:
        _assert_security_headers(proxied.get("/api/docs"), hsts=True)


def test_csp_allows_only_our_own_origin() -> None:
    directives = {}
    for part in CONTENT_SECURITY_POLICY.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    assert directives["default-src"] == ["'self'"]
    for name in ("script-src", "style-src", "connect-src", "font-src", "base-uri", "form-action"):
        assert directives[name] == ["'self'"], name
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    allowed = {"'self'", "'none'", "data:", "blob:"}
    for name, sources in directives.items():
        assert set(sources) <= allowed, f"{name} allows {set(sources) - allowed}"


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.inline_styles = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "style" in values or tag == "style":
            self.inline_styles += 1
        for attr in ("src", "href", "data-openapi-url"):
            if values.get(attr):
                self.urls.append(values[attr] or "")
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def test_api_docs_load_only_same_origin_assets(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    parser = _Assets()
    parser.feed(page.text)
    assert len(parser.urls) >= 4  # favicon, stylesheet, Swagger UI, our start-up script, the spec
    assert parser.inline_scripts == [] and parser.inline_styles == 0  # the CSP would block them
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
    init = client.get("/api/docs/assets/init.js").text
    assert "validatorUrl: null" in init and "http" not in init
    assert "SwaggerUIBundle" in client.get("/api/docs/assets/swagger-ui-bundle.js").text
    assert client.get("/api/docs/assets/index.html").status_code == 404


def test_cors_closed_by_default(client: TestClient) -> None:
    response = client.get("/health", headers={"Origin": FOREIGN_ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/api/auth/sign-in",
        headers={"Origin": FOREIGN_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_configured_origin_only(database_url: str, tmp_path: Path) -> None:
    with TestClient(_app(database_url, tmp_path, cors_origins=[OUR_CONSOLE])) as client:
        ours = client.get("/health", headers={"Origin": OUR_CONSOLE})
        assert ours.headers["access-control-allow-origin"] == OUR_CONSOLE
        assert ours.headers["access-control-allow-credentials"] == "true"
        preflight = client.options(
            "/api/auth/sign-in",
            headers={"Origin": OUR_CONSOLE, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == OUR_CONSOLE
        _assert_security_headers(preflight, hsts=False)
        foreign = client.get("/health", headers={"Origin": FOREIGN_ORIGIN})
        assert "access-control-allow-origin" not in foreign.headers


def _account_state(database_url: str, username: str) -> tuple[Any, ...]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT a.failed_attempts, a.locked_until, a.last_signin_at,"
            " (SELECT count(*) FROM auth.sessions s WHERE s.account_id = a.id)"
            " FROM auth.accounts a WHERE a.username = %s",
            (username,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_too_large_body_is_refused_with_413_and_database_unchanged(database_url: str, tmp_path: Path) -> None:
    limit = 64 * 1024
    app = _app(database_url, tmp_path, max_request_bytes=limit)
    username = "size" + uuid.uuid4().hex[:8]
    with psycopg.connect(database_url) as conn:
        password = accounts.create_account(
            conn, Keyring.parse("k0:" + Keyring.new_key_text()), username=username, role="analyst"
        ).password
        conn.commit()
    assert password
    sign_in = {"username": username, "password": password, "padding": "x" * (2 * limit)}
    before = _account_state(database_url, username)
    with TestClient(app) as client:
        declared = client.post("/api/auth/sign-in", json=sign_in)
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        assert str(limit) in declared.json()["detail"]
        _assert_security_headers(declared, hsts=False)
        assert _account_state(database_url, username) == before

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
            body = b'{"username": "%s", "password": "%s", "padding": "' % (
                username.encode(),
                password.encode(),
            )
            yield body
            for _ in range(4):
                yield b"x" * (limit // 2)
            yield b'"}'

        streamed = client.post(
            "/api/auth/sign-in", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert _account_state(database_url, username) == before
        # The same sign-in without the padding goes through: the limit, not the request, was the problem.
        accepted = client.post("/api/auth/sign-in", json={"username": username, "password": password})
        assert accepted.status_code == 200
    assert _account_state(database_url, username)[3] == before[3] + 1


def test_sign_in_rate_limit_per_address(database_url: str, tmp_path: Path) -> None:
    rate = 3
    app = _app(database_url, tmp_path, signin_rate_per_min=rate)
    with TestClient(app, client=("192.0.2.10", 40000)) as client:
        for _ in range(rate):
            attempt = {"username": "nobody" + uuid.uuid4().hex[:8], "password": "wrong password"}
            assert client.post("/api/auth/sign-in", json=attempt).status_code == 401
        refused = client.post("/api/auth/sign-in", json={"username": "nobody", "password": "x"})
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "from your address" in refused.json()["detail"]
        _assert_security_headers(refused, hsts=False)
        # Other endpoints are not limited by sign-in attempts.
        assert client.get("/health").status_code == 200
    with TestClient(app, client=("192.0.2.11", 40000)) as other_address:
        attempt = {"username": "nobody", "password": "wrong password"}
        assert other_address.post("/api/auth/sign-in", json=attempt).status_code == 401


def test_expensive_requests_rate_limit(database_url: str, tmp_path: Path) -> None:
    app = _app(database_url, tmp_path, expensive_rate_per_min=2)
    with TestClient(app) as client:
        cheap = [client.get("/ogc/collections/none/items", params={"limit": "10"}) for _ in range(4)]
        assert all(r.status_code != 429 for r in cheap)
        big = [client.get("/ogc/collections/none/items", params={"limit": "5000"}) for _ in range(3)]
        assert [r.status_code == 429 for r in big] == [False, False, True]
        assert int(big[2].headers["retry-after"]) >= 1


def test_sliding_window_counts_exactly_one_minute() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(3, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    now[0] = 30.0
    assert limiter.hit("a") == pytest.approx(30.0)
    assert limiter.hit("b") == 0.0
    now[0] = 60.0
    assert limiter.hit("a") == 0.0  # the first three hits left the window
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") > 0.0
