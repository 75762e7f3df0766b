"""Alembic owns the schema: head is applied, reversible, and declares every SRID."""

from __future__ import annotations

import psycopg

from twin.db import current_revision, head_revision, migrate


def test_database_is_at_head(database_url: str) -> None:
    assert head_revision() is not None
    assert current_revision(database_url) == head_revision()


def test_every_geometry_column_declares_its_srid(database_url: str) -> None:
    """Stored geometries are WGS84; the tiles' Web Mercator copies (geom_3857, generated) are 3857."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT f_table_name, f_geometry_column, srid FROM geometry_columns WHERE f_table_schema = 'twin'"
        ).fetchall()
        generated = {
            (r[0], r[1])
            for r in conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'twin' AND is_generated = 'ALWAYS'"
            ).fetchall()
        }
    assert len(rows) >= 14
    assert {srid for table, column, srid in rows if column != "geom_3857"} == {4326}
    copies = {(table, column) for table, column, srid in rows if column == "geom_3857" and srid == 3857}
    assert copies == {(table, "geom_3857") for table, column, _ in rows if column == "geom"} - {
        ("rasters", "geom")
    }
    assert copies <= generated, "the Web Mercator copies are computed by PostgreSQL, never written"


def test_downgrade_then_upgrade_round_trips(pg_cluster) -> None:
    import uuid

    name = "mig_" + uuid.uuid4().hex[:8]
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_cluster.url(name)
    try:
        migrate(url)
        assert current_revision(url) == head_revision()
        from alembic import command

        from twin.db import alembic_config

        command.downgrade(alembic_config(url), "base")
        assert current_revision(url) is None
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('twin.road_edges')").fetchone() == (None,)
        migrate(url)
        assert current_revision(url) == head_revision()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
