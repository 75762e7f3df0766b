"""``twin.console``: the console at ``/`` with its cache rules, never shadowing the API (no database needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from twin.app import create_app
from twin.console import ASSET_CACHE, PAGE_CACHE, mount_console
from twin.security.crypto import Keyring
from twin.settings import DatabaseSettings, SecuritySettings, Settings

INDEX = (
    '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head></html>'
)


def _app(tmp_path: Path, dist: Path) -> FastAPI:
    # Routes are added in create_app; the lifespan (database) is never entered by these tests.
    app = create_app(
        Settings(
            database=DatabaseSettings(database_url="postgresql://nobody@127.0.0.1:1/none", var_dir=tmp_path),
            security=SecuritySettings(data_keys="k1:" + Keyring.new_key_text()),
        )
    )
    app.router.routes.pop()  # the console route create_app mounted on frontend/dist
    mount_console(app, dist)
    return app


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log('hyperviseur');\n" * 200)
    (root / "assets" / "maplibre-gl-worker-x1.mjs").write_text("self.onmessage = () => {};\n")
    (root / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (tmp_path / "secret.txt").write_text("outside the dist folder")
    return root


def test_client_routes_answer_the_page_without_cache(tmp_path: Path, dist: Path) -> None:
    client = TestClient(_app(tmp_path, dist))
    for path in ("/", "/connexion", "/equipe", "/?territoire=Monaco"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.text == INDEX
        assert response.headers["cache-control"] == PAGE_CACHE
        assert response.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in response.headers
    assert client.head("/connexion").status_code == 200


def test_assets_are_cached_for_a_year_and_compressed(tmp_path: Path, dist: Path) -> None:
    client = TestClient(_app(tmp_path, dist))
    plain = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == ASSET_CACHE
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "content-encoding" not in plain.headers
    raw = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip" and raw.headers["vary"] == "Accept-Encoding"
    assert raw.content.startswith(b"console.log")  # httpx decoded it
    assert len(gzip.compress(plain.content)) < len(plain.content)
    # MapLibre 6 starts its worker as a module: the .mjs must be JavaScript to the browser.
    worker = client.get("/assets/maplibre-gl-worker-x1.mjs")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert client.get("/favicon.svg").headers["content-type"].startswith("image/svg+xml")


def test_the_api_is_never_shadowed(tmp_path: Path, dist: Path) -> None:
    client = TestClient(_app(tmp_path, dist))
    for path in (
        "/api/nothing-here",
        "/ogc/nothing/here",
        "/tiles/nothing-here",
        "/raster/none",
        "/health/x",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json", path
    # A wrong method on an API route is still the API's 405, not the console page.
    assert client.get("/api/auth/sign-in").status_code == 405
    assert client.post("/connexion").status_code in (404, 405)


def test_unknown_paths_and_escapes_are_404(tmp_path: Path, dist: Path) -> None:
    client = TestClient(_app(tmp_path, dist))
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/assets/missing-123.js").status_code == 404
    assert client.get("/assets/../../secret.txt").status_code == 404
    assert client.get("/assets/%2e%2e/%2e%2e/secret.txt").status_code == 404
    assert client.get("/index.html").status_code == 404


def test_a_missing_build_is_a_503_saying_how_to_build(tmp_path: Path) -> None:
    client = TestClient(_app(tmp_path, tmp_path / "not-built"))
    response = client.get("/")
    assert response.status_code == 503
    assert "make demo" in response.text and response.headers["content-type"].startswith("text/html")
    assert client.get("/equipe").status_code == 503
    assert client.get("/api/nothing").status_code == 404
