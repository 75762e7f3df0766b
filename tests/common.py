"""Canonical inputs and helpers shared by the tests: data paths, database fingerprints."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twin.cluster import EmbeddedCluster

import os
from pathlib import Path

import psycopg
import pytest

from layers.model import LAYER_COLUMNS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
MONACO_PBF = SHARED_DATA / "osm" / "monaco-latest.osm.pbf"
MONTPELLIER = SHARED_DATA / "opendata_fr" / "montpellier"
LTOWN_INP = SHARED_DATA / "water" / "L-TOWN.inp"
OGC_DIR = SHARED_DATA / "ogc"

# Every table of schema twin: the feature tables the store writes, plus the territory and the catalog.
TWIN_TABLES = ("territory", *LAYER_COLUMNS, "layer_catalog")


def shared_file(path: Path) -> Path:
    """Return ``path`` or skip the test, saying which shared data file is missing."""
    if not path.exists():
        missing(f"shared data not on this machine: {path} (see ../shared/data/README.md)")
    return path


def database_fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of the full contents of every twin table: equal fingerprints = unchanged data."""
    result = {}
    with psycopg.connect(url) as conn:
        for table in TWIN_TABLES:
            row = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                f" FROM twin.{table} t"
            ).fetchone()
            assert row is not None
            result[table] = (int(row[0]), str(row[1]))
    return result


def missing(reason: str) -> None:
    """A tool or data the test needs is absent: skip on a developer's machine, fail in CI (``CI`` set),
    where scripts/bootstrap.sh installs everything and a skip would hide a missing feature."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def fresh_database(cluster: EmbeddedCluster, name: str) -> str:
    """A second database in the session's cluster, migrated to head: for tests that change shared defaults
    (schemathesis deletes and edits whatever rows it finds)."""
    import psycopg

    from twin.db import migrate

    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = cluster.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    migrate(url)
    return url
