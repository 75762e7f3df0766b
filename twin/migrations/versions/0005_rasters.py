"""Raster layers: ``twin.rasters``, one row per Cloud-Optimised GeoTIFF served by the raster tile routes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0005_rasters.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    # The audit triggers go with the table; the COG files under var/rasters stay (the operator removes them).
    op.execute("DROP TABLE twin.rasters")
