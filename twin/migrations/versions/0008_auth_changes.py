"""Notify servers of session and account changes (``auth_changed``), for their principal caches.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0008_auth_changes.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    op.execute("DROP FUNCTION auth.notify_change() CASCADE")
