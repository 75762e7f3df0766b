"""OIDC sign-in end to end: our app on uvicorn, Debian's Glewlwyd as the provider, httpx as the browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from tests.layers.ogc_fixtures import TEST_SECURITY
from tests.security.oidc_provider import (
    Provider,
    glewlwyd_fixture,  # noqa: F401  (registers the fixture)
)
from twin.app import create_app
from twin.cluster import free_port
from twin.errors import Unauthorized
from twin.security.oidc import (
    NOT_CONFIGURED,
    STATE_COOKIE,
    role_from_claims,
    username_from_claims,
    validate_id_token,
)
from twin.security.roles import Role
from twin.security.sessions import COOKIE_NAME
from twin.settings import DatabaseSettings, SecuritySettings, ServerSettings, Settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def app_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def oidc_redirect_uri(app_port: int) -> str:
    return f"http://127.0.0.1:{app_port}/api/auth/oidc/callback"


@pytest.fixture(scope="module")
def app_url(database_url: str, glewlwyd: Provider, app_port: int, oidc_redirect_uri: str) -> Iterator[str]:
    security = SecuritySettings.model_validate(
        {
            **TEST_SECURITY,
            "oidc_issuer": glewlwyd.issuer,
            "oidc_client_id": glewlwyd.client_id,
            "oidc_client_secret": glewlwyd.client_secret,
            "oidc_redirect_url": oidc_redirect_uri,
            "oidc_default_role": "analyst",
        }
    )
    settings = Settings(
        database=DatabaseSettings(database_url=database_url, pool_max_size=4),
        server=ServerSettings(environment="test"),
        security=security,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=app_port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-oidc", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{app_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _browser() -> httpx.Client:
    return httpx.Client(timeout=15, follow_redirects=False)


def start_sign_in(browser: httpx.Client, app_url: str, provider: Provider, return_to: str = "/") -> str:
    """Our login → the provider → back: the callback URL the provider sends the browser to."""
    response = browser.get(app_url + "/api/auth/oidc/login", params={"return_to": return_to})
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(provider.issuer + "/auth?")
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
    return provider.authorize(browser, response.headers["location"])


def sign_in(app_url: str, provider: Provider, return_to: str = "/") -> tuple[httpx.Client, httpx.Response]:
    browser = _browser()
    callback_url = start_sign_in(browser, app_url, provider, return_to)
    assert callback_url.startswith(app_url + "/api/auth/oidc/callback?")
    return browser, browser.get(callback_url)


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def _account(database_url: str, username: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        cur = conn.execute(
            "SELECT id, role, oidc_issuer, oidc_subject, password_hash, disabled FROM auth.accounts WHERE username = %s",
            (username,),
        )
        row = cur.fetchone()
        assert row is not None, f"no account {username}"
        return dict(zip([d.name for d in cur.description or []], row, strict=True))


def _pending_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM auth.oidc_pending").fetchone()
        return int(row[0]) if row else 0


def test_sign_in_end_to_end_then_again_with_new_roles(
    app_url: str, glewlwyd: Provider, database_url: str
) -> None:
    browser, landing = sign_in(app_url, glewlwyd, return_to="/map?layer=roads")
    assert landing.status_code == 302, landing.text
    assert landing.headers["location"] == "/map?layer=roads"
    assert browser.cookies.get(COOKIE_NAME)
    me = browser.get(app_url + "/api/auth/me")
    assert me.status_code == 200, me.text
    # 'agent-terrain' is not one of our roles: the first valid value, 'planner', wins.
    assert me.json() == {"username": "agent.dupont", "role": "planner", "scope": "full", "method": "oidc"}
    first = _account(database_url, "agent.dupont")
    assert first["oidc_issuer"] == glewlwyd.issuer and first["oidc_subject"]
    assert first["password_hash"] is None
    assert _pending_count(database_url) == 0

    glewlwyd.set_roles(["chef-de-projet", "gis_editor"])
    try:
        browser2, landing2 = sign_in(app_url, glewlwyd)
        assert landing2.headers["location"] == "/"
        me2 = browser2.get(app_url + "/api/auth/me").json()
        assert (me2["username"], me2["role"], me2["method"]) == ("agent.dupont", "gis_editor", "oidc")
        second = _account(database_url, "agent.dupont")
        assert second["id"] == first["id"] and second["oidc_subject"] == first["oidc_subject"]
        glewlwyd.set_roles(["no-such-role"])
        browser3, _ = sign_in(app_url, glewlwyd)
        assert browser3.get(app_url + "/api/auth/me").json()["role"] == "analyst"  # oidc_default_role
    finally:
        glewlwyd.set_roles(["agent-terrain", "planner"])
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM auth.accounts WHERE oidc_issuer = %s", (glewlwyd.issuer,)
        ).fetchone()
    assert row is not None and row[0] == 1


def test_tampered_state_is_refused(app_url: str, glewlwyd: Provider, database_url: str) -> None:
    browser = _browser()
    callback_url = start_sign_in(browser, app_url, glewlwyd)
    tampered = browser.get(
        _with_query(callback_url, state="x" + parse_qs(urlsplit(callback_url).query)["state"][0])
    )
    assert tampered.status_code == 400
    assert tampered.headers["content-type"].startswith("application/problem+json")
    assert "state" in tampered.json()["detail"]
    assert COOKIE_NAME not in browser.cookies
    # Another browser (no binding cookie) cannot use the genuine callback URL either.
    stranger = _browser().get(callback_url)
    assert stranger.status_code == 400 and "browser" in stranger.json()["detail"]
    # The genuine browser still can: a refused attempt consumed nothing.
    assert browser.get(callback_url).status_code == 302


def test_replayed_code_is_refused(app_url: str, glewlwyd: Provider) -> None:
    browser = _browser()
    callback_url = start_sign_in(browser, app_url, glewlwyd)
    assert browser.get(callback_url).status_code == 302
    # The same callback again: the binding cookie is gone, and even with it the state is used up.
    assert browser.get(callback_url).status_code == 400
    state = parse_qs(urlsplit(callback_url).query)["state"][0]
    browser.cookies.set(STATE_COOKIE, state, domain="127.0.0.1", path="/api/auth/oidc")
    again = browser.get(callback_url)
    assert again.status_code == 400 and "already used" in again.json()["detail"]
    # The old code with a fresh state of ours: the provider refuses to exchange it twice.
    old_code = parse_qs(urlsplit(callback_url).query)["code"][0]
    fresh = start_sign_in(browser, app_url, glewlwyd)
    replay = browser.get(_with_query(fresh, code=old_code))
    assert replay.status_code == 401, replay.text
    assert "refused the authorization code" in replay.json()["detail"]


def test_provider_error_is_a_clear_401(app_url: str, glewlwyd: Provider) -> None:
    response = _browser().get(
        app_url + "/api/auth/oidc/callback",
        params={"error": "access_denied", "error_description": "cancelled"},
    )
    assert response.status_code == 401
    assert "refused the sign-in: access_denied" in response.json()["detail"]


@pytest.mark.parametrize(
    "target", ["https://evil.example", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_return_to_elsewhere_is_refused(app_url: str, target: str, database_url: str) -> None:
    before = _pending_count(database_url)
    response = _browser().get(app_url + "/api/auth/oidc/login", params={"return_to": target})
    assert response.status_code == 400
    assert "relative path starting with '/'" in response.json()["detail"]
    assert _pending_count(database_url) == before


def test_disabled_account_is_refused(app_url: str, glewlwyd: Provider, database_url: str) -> None:
    sign_in(app_url, glewlwyd)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE auth.accounts SET disabled = true WHERE username = 'agent.dupont'")
    try:
        browser, response = sign_in(app_url, glewlwyd)
        assert response.status_code == 401 and "disabled" in response.json()["detail"]
        assert COOKIE_NAME not in browser.cookies
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("UPDATE auth.accounts SET disabled = false WHERE username = 'agent.dupont'")


def test_unconfigured_oidc_answers_404(database_url: str) -> None:
    settings = Settings(
        database=DatabaseSettings(database_url=database_url),
        server=ServerSettings(environment="test"),
        security=SecuritySettings.model_validate(TEST_SECURITY),
    )
    with TestClient(create_app(settings)) as client:
        for path in ("/api/auth/oidc/login", "/api/auth/oidc/callback?code=c&state=s"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 404
            assert response.json()["detail"] == NOT_CONFIGURED
            assert "HYPERVISEUR_OIDC_ISSUER" in NOT_CONFIGURED


def _id_token(key: RSAKey, **claims: Any) -> str:
    now = int(time.time())
    base = {
        "iss": "https://idp.example",
        "aud": "hv",
        "sub": "s1",
        "nonce": "n1",
        "iat": now,
        "exp": now + 300,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, base | claims, key)


def test_id_token_checks() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    jwks = {"keys": [key.as_dict(private=False)]}
    check: dict[str, Any] = {"jwks": jwks, "issuer": "https://idp.example", "client_id": "hv", "nonce": "n1"}
    assert validate_id_token(_id_token(key), **check)["sub"] == "s1"
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    bad = {
        "signature": _id_token(forger),
        "aud": _id_token(key, aud="other"),
        "iss": _id_token(key, iss="https://evil.example"),
        "nonce": _id_token(key, nonce="n2"),
        "exp": _id_token(key, exp=int(time.time()) - 3600),
        "azp": _id_token(key, aud=["hv", "other"]),
    }
    for what, token in bad.items():
        with pytest.raises(Unauthorized):
            validate_id_token(token, **check)
            pytest.fail(f"an ID token with a bad {what} was accepted")
    hs256 = jwt.encode(
        {"alg": "HS256"}, {"sub": "s1"}, OctKey.import_key("secret-of-the-client-000000000000")
    )
    with pytest.raises(Unauthorized):
        validate_id_token(hs256, **check)


def test_role_and_username_from_claims() -> None:
    assert role_from_claims({"roles": "agent operator"}, claim="roles", default="analyst") is Role.OPERATOR
    assert (
        role_from_claims({"roles": ["anonymous", "X", "crew"]}, claim="roles", default="analyst") is Role.CREW
    )
    assert role_from_claims({"roles": 3}, claim="roles", default="planner") is Role.PLANNER
    assert role_from_claims({"groups": ["admin"]}, claim="groups", default="analyst") is Role.ADMIN
    assert username_from_claims({"preferred_username": "Agent.Dupont"}) == "agent.dupont"
    assert username_from_claims({"email": "j.o'brien@ville.example"}) == "j.o-brien"
    assert username_from_claims({}) == "agent"
    assert len(username_from_claims({"preferred_username": "a" * 200})) == 63
