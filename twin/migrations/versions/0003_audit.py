"""Audit trail: append-only, hash-chained ``audit.entries`` and write triggers on the territory and accounts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0003_audit.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    # The write triggers depend on audit.record_write / audit.record_truncate: CASCADE drops them too.
    op.execute("DROP SCHEMA audit CASCADE")
