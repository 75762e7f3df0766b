"""Vector tiles: ``tiles.tile_<layer>(z, x, y, query_params)`` functions and change notification.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0004_tiles.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    # The change triggers on twin tables call tiles.* functions: CASCADE drops them too.
    op.execute("DROP SCHEMA tiles CASCADE")
