"""Incidents and the control room log (main courante).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0010_incidents.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS incidents CASCADE")
