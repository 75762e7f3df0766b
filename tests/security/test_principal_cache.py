"""Session principals kept in memory a few seconds, and forgotten the moment the database says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.layers.ogc_fixtures import serve_app, server_settings, signed_in
from tests.tiles.tile_fixtures import wait_until
from twin.app import create_app
from twin.security.principal_cache import PrincipalCache
from twin.security.roles import Principal, Role


@pytest.fixture(scope="module")
def app(database_url: str) -> Any:
    return create_app(server_settings(database_url, security={"principal_cache_s": 60}))


@pytest.fixture(scope="module")
def base_url(app: Any) -> Iterator[str]:
    with serve_app(app) as url:
        wait_until(lambda: app.state.bus.connected.is_set(), timeout_s=10)
        yield url


def _me(base_url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{base_url}/api/auth/me", headers=headers, timeout=10)


def test_a_cached_session_is_not_looked_up_again(app: Any, base_url: str, database_url: str) -> None:
    caller = signed_in(database_url, "analyst")
    assert _me(base_url, caller.headers).status_code == 200
    digest_count = len(app.state.principals._entries)
    for _ in range(5):
        assert _me(base_url, caller.headers).json()["username"] == caller.username
    assert len(app.state.principals._entries) == digest_count >= 1


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE auth.sessions SET revoked_at = now() WHERE account_id = %s",
        "UPDATE auth.sessions SET expires_at = now() WHERE account_id = %s",
        "UPDATE auth.accounts SET disabled = true WHERE id = %s",
    ],
)
def test_a_change_made_in_the_database_ends_the_cached_session_at_once(
    base_url: str, database_url: str, change: str
) -> None:
    caller = signed_in(database_url, "analyst")
    assert _me(base_url, caller.headers).status_code == 200  # now cached for 60 s
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(change, (caller.account_id,))
    wait_until(lambda: _me(base_url, caller.headers).status_code == 401, timeout_s=1.0, interval_s=0.005)


def test_a_role_change_applies_at_once(base_url: str, database_url: str) -> None:
    caller = signed_in(database_url, "analyst")
    assert _me(base_url, caller.headers).json()["role"] == "analyst"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE auth.accounts SET role = 'planner' WHERE id = %s", (caller.account_id,))
    wait_until(lambda: _me(base_url, caller.headers).json()["role"] == "planner", timeout_s=1.0)


def test_sign_out_is_immediate_in_this_process(base_url: str, database_url: str) -> None:
    caller = signed_in(database_url, "analyst")
    assert _me(base_url, caller.headers).status_code == 200
    assert httpx.post(f"{base_url}/api/auth/sign-out", headers=caller.headers).status_code == 204
    assert _me(base_url, caller.headers).status_code == 401


def test_nothing_is_cached_while_the_bus_is_down() -> None:
    cache = PrincipalCache(ttl_s=60)
    someone = Principal(role=Role.ANALYST, account_id=1, username="a")
    cache.put(b"k", someone, session_left_s=600)
    assert cache.get(b"k") is None, "disabled until the bus has connected"
    asyncio.run(cache.on_connect())
    cache.put(b"k", someone, session_left_s=600)
    assert cache.get(b"k") == someone
    asyncio.run(cache.on_disconnect())
    assert cache.get(b"k") is None
    cache.put(b"k", someone, session_left_s=600)
    assert cache.get(b"k") is None


def test_an_entry_never_outlives_its_session() -> None:
    cache = PrincipalCache(ttl_s=60)
    asyncio.run(cache.on_connect())
    cache.put(b"k", Principal(role=Role.ANALYST, account_id=1), session_left_s=-1)
    assert cache.get(b"k") is None
