"""Session fixtures: a throwaway PostGIS cluster with the migrations applied for real.

The demo database under var/ is never touched: the cluster lives in a fresh folder under /tmp
(reachable by the unprivileged database user when the tests run as root) on a free port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from twin.cluster import EmbeddedCluster, throwaway_cluster
from twin.db import migrate

# An app built from the environment in a test never joins a broker it was not given: a `make demo` on the
# same machine keeps its readings (tests that ingest pass their own throwaway broker).
os.environ.setdefault("HYPERVISEUR_SENSING_INGEST", "false")
# Incidents' consequences are computed in the background and write rows and live events at their own pace:
# tests that compare database fingerprints around a refusal would see them. The tests of that feature turn it on.
os.environ.setdefault("HYPERVISEUR_SIMULATION_AUTO_CONSEQUENCES", "false")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedCluster]:
    with throwaway_cluster(prefix="hyperviseur-test-pg-") as cluster:
        yield cluster


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
