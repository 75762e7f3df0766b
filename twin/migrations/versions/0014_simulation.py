"""Consequence simulation: dependency links, power feeders, scenarios and runs, incident consequences.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0014_simulation.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    op.execute("DROP SCHEMA simulation CASCADE")
