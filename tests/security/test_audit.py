"""The audit trail: writes (API, SQL, QGIS logins) and restricted reads are recorded, the chain names tampering."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.common import PROJECT_ROOT
from twin.cluster import EmbeddedCluster
from twin.db import migrate
from twin.security import audit
from twin.security.accounts import create_account, reset_password
from twin.security.crypto import Keyring
from twin.security.pg_logins import create_gis_login
from twin.security.sessions import create_session

TEST_KEYS = "test1:" + base64.urlsafe_b64encode(b"hyperviseur-test-data-key-32byte").decode()
SECRET_COLUMNS = ("password_hash", "email_enc", "phone_enc", "totp_secret_enc")
POINT = "ST_SetSRID(ST_MakePoint(3.88, 43.61), 4326)"
SQUARE = "ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(3.88, 43.61), 4326), 0.0001))"


@pytest.fixture()
def fresh_db(pg_cluster: EmbeddedCluster) -> Iterator[str]:
    """A migrated database of the test's own: tampering with it disturbs nobody."""
    name = "audit_" + uuid.uuid4().hex[:8]
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_cluster.url(name)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def audit_db(pg_cluster: EmbeddedCluster) -> Iterator[str]:
    name = "auditm_" + uuid.uuid4().hex[:8]
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_cluster.url(name)
    migrate(url)
    with psycopg.connect(url) as conn:
        territory = _territory(conn, "Auditville")
        conn.execute(
            f"INSERT INTO twin.buildings (territory_id, name, height_m, geom) VALUES (%s, 'Mairie', 12, {SQUARE})",
            (territory,),
        )
        conn.execute(
            f"INSERT INTO twin.road_nodes (territory_id, street_count, geom) VALUES (%s, 3, {POINT})",
            (territory,),
        )
        conn.execute(
            "INSERT INTO twin.water_pipes (territory_id, name, start_node, end_node, geom) VALUES"
            " (%s, 'P1', 'J1', 'J2', ST_SetSRID(ST_MakeLine(ST_MakePoint(3.88, 43.61),"
            " ST_MakePoint(3.881, 43.611)), 4326))",
            (territory,),
        )
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _territory(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(
        "INSERT INTO twin.territory (name, crs_epsg) VALUES (%s, 2154) RETURNING id", (name,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def _some_writes(url: str, n: int = 5) -> None:
    with psycopg.connect(url) as conn:
        territory = _territory(conn, "T" + uuid.uuid4().hex[:6])
        for i in range(n):
            conn.execute(
                f"INSERT INTO twin.street_lights (territory_id, lamp_type, power_w, geom)"
                f" VALUES (%s, 'led', %s, {POINT})",
                (territory, 10 * i),
            )
        conn.execute(
            "UPDATE twin.street_lights SET power_w = power_w + 1 WHERE territory_id = %s", (territory,)
        )
        conn.execute(
            "DELETE FROM twin.street_lights WHERE id = (SELECT max(id) FROM twin.street_lights"
            " WHERE territory_id = %s)",
            (territory,),
        )


def _max_id(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(id) FROM audit.entries").fetchone()
    assert row is not None
    return int(row[0])


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "hyperviseur"), "audit", *args],
        env={**os.environ, "HYPERVISEUR_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_chain_is_intact_after_writes(fresh_db: str) -> None:
    _some_writes(fresh_db)
    result = audit.verify_chain(fresh_db)
    assert result.ok, result.problems
    assert result.checked == _max_id(fresh_db) == 12  # territory, 5 inserts, 5 updated rows, 1 delete
    with psycopg.connect(fresh_db) as conn:
        update = conn.execute(
            "SELECT before, after, db_user FROM audit.entries WHERE action = 'UPDATE' ORDER BY id LIMIT 1"
        ).fetchone()
        ids = [r[0] for r in conn.execute("SELECT id FROM audit.entries ORDER BY id")]
    assert update is not None
    assert update[0] == {"power_w": 0} and update[1] == {"power_w": 1}  # only what changed
    assert ids == list(range(1, len(ids) + 1))
    cli = _cli(fresh_db, "verify")
    assert cli.returncode == 0, cli.stderr
    assert "audit trail intact" in cli.stdout


def test_rolled_back_writes_leave_no_gap(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        _territory(conn, "Rolled back")
        conn.rollback()
    _some_writes(fresh_db, 2)
    assert audit.verify(fresh_db) == []


def test_tampering_by_a_superuser_is_named(fresh_db: str, tmp_path: Path) -> None:
    _some_writes(fresh_db, 6)
    last = _max_id(fresh_db)
    altered, removed = 4, 9
    # An attacker with the superuser's password: triggers off for this session, as pg_dump/replication do.
    with psycopg.connect(fresh_db) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE audit.entries SET after = jsonb_set(after, '{power_w}', '999') WHERE id = %s", (altered,)
        )
        conn.execute("DELETE FROM audit.entries WHERE id = %s", (removed,))
        conn.execute(
            "INSERT INTO audit.entries (id, at, actor, db_user, action, object, object_id, after, prev_hash,"
            " hash) VALUES (%s, now() - interval '3 days', 'marie', 'hyperviseur', 'DELETE',"
            " 'twin.buildings', '1', NULL, sha256('made up'), sha256('forged'))",
            (last + 1,),
        )
    _some_writes(fresh_db, 1)  # life goes on after the forgery: later entries chain onto it
    problems = audit.verify(fresh_db)
    assert [(p.kind, p.first_id, p.last_id) for p in problems] == [
        ("altered", altered, altered),
        ("removed", removed, removed),
        ("inserted", last + 1, last + 1),
    ], problems
    assert "entry 9 removed between 8 and 10" in problems[1].message

    cli = _cli(fresh_db, "verify")
    assert cli.returncode == 1
    assert f"altered: entry {altered} altered" in cli.stderr
    assert "removed: entry 9 removed between 8 and 10" in cli.stderr
    assert f"inserted: entry {last + 1} inserted" in cli.stderr
    assert "3 problem(s) found" in cli.stderr


def test_removed_run_of_entries_is_named_as_a_range(fresh_db: str) -> None:
    _some_writes(fresh_db, 4)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("ALTER TABLE audit.entries DISABLE TRIGGER ALL")
        conn.execute("DELETE FROM audit.entries WHERE id BETWEEN 3 AND 5")
        # Left disabled on purpose: verify must say so.
    problems = audit.verify(fresh_db)
    messages = [p.message for p in problems]
    assert "entries 3–5 removed between 2 and 6 (ids have no gaps; the chain is broken)" in messages
    assert {p.message for p in problems if p.kind == "protection"} == {
        f"trigger {name} on audit.entries is disabled"
        for name in ("entries_0_lock", "entries_1_chain", "entries_append_only")
    }
    with psycopg.connect(fresh_db) as conn:
        conn.execute("ALTER TABLE audit.entries ENABLE TRIGGER ALL")


def test_anchor_detects_a_truncated_tail(fresh_db: str, tmp_path: Path) -> None:
    _some_writes(fresh_db, 3)
    anchor = tmp_path / "anchor.json"
    saved = _cli(fresh_db, "verify", "--save-anchor", str(anchor))
    assert saved.returncode == 0, saved.stderr
    head = json.loads(anchor.read_text())
    assert head["id"] == _max_id(fresh_db)
    assert f"head: entry {head['id']}, hash {head['hash']}" in saved.stdout
    with psycopg.connect(fresh_db) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit.entries WHERE id > %s", (head["id"] - 2,))
    assert audit.verify(fresh_db) == []  # nothing after the cut is left to show it...
    checked = _cli(fresh_db, "verify", "--anchor", str(anchor))  # ...but the anchor kept outside does
    assert checked.returncode == 1
    assert f"entries {head['id'] - 1}–{head['id']} removed at the end of the trail" in checked.stderr
    # Cut and written again: the anchor's entry exists but is not the same any more.
    _some_writes(fresh_db, 2)
    problems = audit.verify(fresh_db, anchor=audit.Anchor.from_json(anchor.read_text()))
    assert [p.kind for p in problems] == ["anchor"]


def test_application_role_cannot_change_or_remove_entries(audit_db: str) -> None:
    for statement in (
        "UPDATE audit.entries SET actor = 'someone else'",
        "DELETE FROM audit.entries",
        "TRUNCATE audit.entries",
    ):
        with (
            psycopg.connect(audit_db) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        ):
            conn.execute(statement)
    assert audit.verify(audit_db) == []


def _login_url(url: str, login: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(login, safe='')}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def test_qgis_edit_is_audited_with_the_gis_login(audit_db: str) -> None:
    keyring = Keyring.parse(TEST_KEYS)
    username = "sig." + uuid.uuid4().hex[:6]
    with psycopg.connect(audit_db) as conn:
        new = create_account(conn, keyring, username=username, role="gis_editor")
        login, password = create_gis_login(conn, new.account.id, new.account.username)
        conn.commit()
        building = conn.execute("SELECT id, territory_id FROM twin.buildings LIMIT 1").fetchone()
        start = conn.execute("SELECT max(id) FROM audit.entries").fetchone()
    assert building is not None and start is not None
    gis_url = _login_url(audit_db, login, password)
    # As QGIS does: a plain PostgreSQL connection as the login. Pretending to be someone else or asking for
    # bulk summaries is ignored for anyone but the application's own role.
    with psycopg.connect(gis_url) as qgis:
        qgis.execute("SET hyperviseur.actor = 'admin'")
        qgis.execute("SET hyperviseur.bulk_import = 'on'")
        qgis.execute("UPDATE twin.buildings SET height_m = 15.5, use = 'civic' WHERE id = %s", (building[0],))
        qgis.execute(
            f"INSERT INTO twin.street_lights (territory_id, lamp_type, power_w, geom)"
            f" VALUES (%s, 'sodium', 70, {POINT})",
            (building[1],),
        )
    with psycopg.connect(audit_db) as conn:
        rows = conn.execute(
            "SELECT actor, db_user, action, object, object_id, before, after FROM audit.entries"
            " WHERE id > %s ORDER BY id",
            (start[0],),
        ).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (login, login, "UPDATE", "twin.buildings"),
        (login, login, "INSERT", "twin.street_lights"),
    ]
    assert rows[0][4] == str(building[0])
    assert rows[0][5] == {"height_m": 12, "use": None}
    assert rows[0][6] == {"height_m": 15.5, "use": "civic"}
    assert rows[1][5] is None and rows[1][6]["lamp_type"] == "sodium" and rows[1][6]["power_w"] == 70
    assert audit.verify(audit_db) == []

    with psycopg.connect(gis_url, autocommit=True) as qgis:
        for statement in (
            "SELECT count(*) FROM audit.entries",
            "INSERT INTO audit.entries (actor, db_user, action, object, hash) VALUES ('x', 'x', 'READ', 'x', '')",
            "UPDATE audit.entries SET actor = 'x'",
            "DELETE FROM audit.entries",
            "SELECT audit.entry_hash(NULL, 1, now(), '', '', '', '', '', '', NULL, NULL, NULL)",
            "UPDATE twin.road_nodes SET street_count = 9",  # not an editable layer
            "UPDATE twin.layer_catalog SET visibility = 'public'",
            "DELETE FROM twin.territory",
            "SELECT count(*) FROM auth.accounts",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                qgis.execute(statement)


def test_sensitive_columns_never_reach_the_trail(audit_db: str) -> None:
    keyring = Keyring.parse(TEST_KEYS)
    username = "adm." + uuid.uuid4().hex[:6]
    with psycopg.connect(audit_db) as conn:
        new = create_account(conn, keyring, username=username, role="admin", email="a@example.fr")
        reset_password(conn, username)
        conn.execute("UPDATE auth.accounts SET phone_enc = '\\x0102' WHERE id = %s", (new.account.id,))
        conn.execute("DELETE FROM auth.accounts WHERE id = %s", (new.account.id,))
        conn.commit()
        secrets_row = conn.execute(
            "SELECT string_agg(coalesce(before::text, '') || coalesce(after::text, ''), ' ') FROM audit.entries"
            " WHERE object = 'auth.accounts' AND object_id = %s",
            (str(new.account.id),),
        ).fetchone()
        actions = [
            r[0]
            for r in conn.execute(
                "SELECT action FROM audit.entries WHERE object = 'auth.accounts' AND object_id = %s ORDER BY id",
                (str(new.account.id),),
            )
        ]
    assert actions == ["INSERT", "UPDATE", "UPDATE", "DELETE"]
    text = secrets_row[0] if secrets_row else ""
    assert username in text
    for column in SECRET_COLUMNS:
        assert column not in text
    assert "argon2" not in text and "\\x0102" not in text


def test_export_by_date_range(audit_db: str, tmp_path: Path) -> None:
    _some_writes(audit_db, 1)
    now = datetime.now(UTC)
    lines = list(audit.export(audit_db, now - timedelta(hours=1), now + timedelta(hours=1)))
    entries = [json.loads(line) for line in lines]
    assert entries and [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    assert {"id", "at", "actor", "db_user", "action", "object", "before", "after", "hash"} <= set(entries[0])
    assert list(audit.export(audit_db, now + timedelta(days=1), now + timedelta(days=2))) == []
    out = tmp_path / "audit.jsonl"
    day = now.date().isoformat()
    cli = _cli(audit_db, "export", "--from", day, "--to", day, "--output", str(out))
    assert cli.returncode == 0, cli.stderr
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(exported) >= len(entries)
    assert exported[-1]["action"] == "EXPORT"  # the export leaves its own trace
    assert _cli(audit_db, "export", "--from", "yesterday", "--to", day).returncode != 0


def _app_client(url: str, tmp_path: Path) -> TestClient:
    from twin.app import create_app
    from twin.settings import DatabaseSettings, SecuritySettings, Settings

    settings = Settings(
        database=DatabaseSettings(database_url=url, var_dir=tmp_path),
        security=SecuritySettings(data_keys=TEST_KEYS),
    )
    return TestClient(create_app(settings))


def _token(url: str, role: str) -> tuple[str, str]:
    username = role[:3] + "." + uuid.uuid4().hex[:6]
    with psycopg.connect(url) as conn:
        new = create_account(conn, Keyring.parse(TEST_KEYS), username=username, role=role)
        token, _ = create_session(conn, new.account.id, method="password", scope="full", ttl_s=600)
        conn.commit()
    return username, token


def test_reads_of_restricted_layers_are_recorded(audit_db: str, tmp_path: Path) -> None:
    admin, token = _token(audit_db, "admin")
    _, analyst_token = _token(audit_db, "analyst")
    with psycopg.connect(audit_db) as conn:
        pipe = conn.execute("SELECT id FROM twin.water_pipes LIMIT 1").fetchone()
        start = conn.execute("SELECT max(id) FROM audit.entries").fetchone()
    assert pipe is not None and start is not None
    bearer = {"Authorization": f"Bearer {token}"}
    with _app_client(audit_db, tmp_path) as client:
        page = client.get("/ogc/collections/water_pipes/items", params={"limit": 5}, headers=bearer)
        assert page.status_code == 200, page.text
        one = client.get(f"/ogc/collections/water_pipes/items/{pipe[0]}", headers=bearer)
        assert one.status_code == 200, one.text
        assert client.get("/ogc/collections/buildings/items", headers=bearer).status_code == 200  # internal
        listed = client.get("/api/audit/entries", params={"object": "water_pipes"}, headers=bearer)
        assert listed.status_code == 200, listed.text
        checked = client.get("/api/audit/verify", headers=bearer)
        assert checked.status_code == 200 and checked.json()["ok"] is True, checked.text
        assert client.get("/api/audit/verify").status_code == 401
        denied = client.get("/api/audit/entries", headers={"Authorization": f"Bearer {analyst_token}"})
        assert denied.status_code == 403
        wrong = client.post("/api/auth/sign-in", json={"username": admin, "password": "not the password"})
        assert wrong.status_code == 401
    reads = listed.json()["entries"]
    assert [(e["actor"], e["action"], e["object"], e["object_id"]) for e in reads] == [
        (admin, "READ", "water_pipes", None),
        (admin, "READ", "water_pipes", str(pipe[0])),
    ]
    assert reads[0]["details"] == {"params": {"limit": "5"}, "count": 1}
    with psycopg.connect(audit_db) as conn:
        later = conn.execute(
            "SELECT actor, action, object, details FROM audit.entries WHERE id > %s"
            " AND action IN ('READ', 'SIGN_IN_FAILED') ORDER BY id",
            (start[0],),
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in later] == [
        (admin, "READ", "water_pipes"),
        (admin, "READ", "water_pipes"),
        (admin, "READ", "audit.entries"),  # reading the trail is itself recorded
        (admin, "SIGN_IN_FAILED", "auth.accounts"),
    ]
    assert "wrong" in later[-1][3]["reason"]
    assert audit.verify(audit_db) == []
