"""Hourly and daily rollups of sensor readings, the rollup watermark, BRIN on received_at.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0013_rollups.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    op.execute("DROP FUNCTION sensing.rollup(timestamptz, timestamptz), sensing.rollup()")
    op.execute("DROP FUNCTION sensing.rollup_days(bigint[], timestamptz[])")
    op.execute("DROP TABLE sensing.rollup_state, sensing.readings_daily, sensing.readings_hourly")
    # The received_at BRIN of each partition comes from 0009's ensure_partition: it stays.
