"""Routing: closures and slowdowns with an expiry (road graph overlays).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0006_routing.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS routing CASCADE")
