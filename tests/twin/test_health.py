"""``/health`` tells the truth about the database: reachable, migrated, current."""

from __future__ import annotations

from fastapi.testclient import TestClient

from twin.app import create_app
from twin.cluster import free_port
from twin.db import head_revision
from twin.settings import DatabaseSettings, Settings


def _client(url: str) -> TestClient:
    return TestClient(create_app(Settings(database=DatabaseSettings(database_url=url))))


def test_health_ok_when_migrated(database_url: str) -> None:
    with _client(database_url) as client:
        response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["migration"] == {"current": head_revision(), "head": head_revision(), "up_to_date": True}


def test_health_503_when_database_unreachable() -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none"
    with _client(url) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert "detail" in response.json()


def test_health_503_when_schema_not_migrated(pg_cluster) -> None:
    import uuid

    import psycopg

    name = "bare_" + uuid.uuid4().hex[:8]
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with _client(pg_cluster.url(name)) as client:
            response = client.get("/health")
        assert response.status_code == 503
        assert "not migrated" in response.json()["database"]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_openapi_is_served_at_api_docs(database_url: str) -> None:
    with _client(database_url) as client:
        assert client.get("/api/docs").status_code == 200
        spec = client.get("/api/openapi.json").json()
    assert spec["info"]["title"] == "Hyperviseur"
    assert "/health" in spec["paths"]
