"""Detection: thresholds, learned profiles, detections.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0011_detection.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    op.execute(
        "DROP TABLE sensing.detections, sensing.profiles, sensing.thresholds, sensing.detection_config"
    )
    op.execute("DROP FUNCTION sensing.bump_detection_config()")
    op.execute("ALTER TABLE sensing.kinds DROP COLUMN visibility, DROP COLUMN category")
