"""Accounts, sessions, OIDC sign-ins in progress, and the group role of QGIS logins.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0002_accounts.sql").read_text()
    op.execute(text(sql))


def downgrade() -> None:
    op.execute("DROP SCHEMA auth CASCADE")
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA twin FROM hyperviseur_gis_editor")
    op.execute("REVOKE ALL ON ALL SEQUENCES IN SCHEMA twin FROM hyperviseur_gis_editor")
    op.execute("REVOKE ALL ON SCHEMA twin FROM hyperviseur_gis_editor")
