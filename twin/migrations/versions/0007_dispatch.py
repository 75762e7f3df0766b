"""Crew dispatch: crews, jobs and plans.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0007_dispatch.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS dispatch CASCADE")
