"""PostgreSQL logins for GIS staff, so that QGIS connects straight to PostGIS with limited grants.

Each gis_editor account gets a login role ``gis_<account>`` that is a member of the group role
``hyperviseur_gis_editor`` (created by migration 0002: read every layer table, edit the editable ones). The
audit triggers record that login as the database user of every edit made from QGIS.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from twin.security.passwords import generate_password

GROUP_ROLE = "hyperviseur_gis_editor"


def login_name(username: str) -> str:
    """The PostgreSQL login of an account (lower case, no quoting surprises).

    Examples
    --------
    >>> login_name("marie.dupont")
    'gis_marie_dupont'
    """
    return "gis_" + "".join(c if c.isalnum() else "_" for c in username.lower())


def create_gis_login(conn: psycopg.Connection[Any], account_id: int, username: str) -> tuple[str, str]:
    """Create (or reset the password of) the account's login; return ``(login, password)`` to show once."""
    login = login_name(username)
    password = generate_password()
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL(verb + " ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT 10").format(
            sql.Identifier(login), sql.Literal(password)
        )
    )
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(GROUP_ROLE), sql.Identifier(login)))
    dbname = conn.execute("SELECT current_database()").fetchone()
    assert dbname is not None
    name = dbname["current_database"] if isinstance(dbname, dict) else dbname[0]
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(name), sql.Identifier(login))
    )
    conn.execute("UPDATE auth.accounts SET pg_login = %s WHERE id = %s", (login, account_id))
    return login, password


def disable_gis_login(conn: psycopg.Connection[Any], login: str) -> None:
    """Remove the login's right to connect (edits it made stay attributed to it in the audit trail)."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
    if exists:
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(login)))
