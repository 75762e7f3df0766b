"""Session fixtures: a throwaway PostGIS cluster with the migrations applied for real.

The demo database under var/ is never touched: the cluster lives in a fresh folder under /tmp
(reachable by the unprivileged database user when the tests run as root) on a free port.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from twin.cluster import EmbeddedCluster, free_port
from twin.db import migrate


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedCluster]:
    base = Path(tempfile.mkdtemp(prefix="hyperviseur-test-pg-"))
    os.chmod(base, 0o755)
    cluster = EmbeddedCluster(base, port=free_port())
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def database_url(pg_cluster: EmbeddedCluster) -> str:
    """URL of the session's test database, schema migrated to head."""
    url = pg_cluster.url()
    migrate(url)
    return url


@pytest.fixture(scope="session")
def monaco_url(database_url: str) -> str:
    """The session database with Monaco imported once as territory 'Monaco'."""
    from layers.importers.osm import import_osm
    from tests.common import MONACO_PBF, shared_file

    import_osm(database_url, shared_file(MONACO_PBF), territory_name="Monaco")
    return database_url
