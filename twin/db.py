"""Database access: resolve the URL, run migrations, open connections and the async pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.rows import dict_row
from sqlalchemy import create_engine, pool

from twin.cluster import EmbeddedCluster
from twin.errors import DatabaseNotReady
from twin.settings import DatabaseSettings


def embedded_cluster(settings: DatabaseSettings) -> EmbeddedCluster:
    return EmbeddedCluster(Path(settings.var_dir) / "pg", port=settings.db_port)


def database_url(settings: DatabaseSettings) -> str:
    """The external URL when one is configured, else the embedded cluster's."""
    if settings.database_url:
        return settings.database_url
    return embedded_cluster(settings).url()


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy wants the driver in the scheme; psycopg 3 is ours."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("twin.migrations")))
    # Alembic's config is ConfigParser-based: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()


def current_revision(url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


@contextmanager
def connect(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection[dict]]:
    """A synchronous connection with dict rows (CLI, importers)."""
    try:
        conn = psycopg.connect(url, row_factory=dict_row, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseNotReady(
            f"cannot reach the database ({exc}); start it with `hyperviseur db start` "
            "or check HYPERVISEUR_DATABASE_URL"
        ) from exc
    with conn:
        yield conn
