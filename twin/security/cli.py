"""``hyperviseur user …`` and ``hyperviseur keys …`` commands."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.db import connect, database_url
from twin.security import accounts
from twin.security.crypto import Keyring, load_keyring
from twin.security.pg_logins import create_gis_login, disable_gis_login
from twin.security.roles import Role
from twin.settings import Settings

user_app = typer.Typer(help="Accounts of agents (local sign-in; OIDC accounts appear at first sign-in).")
keys_app = typer.Typer(help="Encryption keys of personal data.")


def _context() -> tuple[Settings, str, Keyring]:
    settings = Settings()
    keyring = load_keyring(
        settings.security.data_keys,
        var_dir=settings.database.var_dir,
        environment=settings.server.environment,
    )
    return settings, database_url(settings.database), keyring


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Account name (letters, digits, . _ -)")],
    role: Annotated[str, typer.Option(help="admin, operator, planner, crew, gis_editor or analyst")],
    display_name: Annotated[str | None, typer.Option(help="Full name shown in the console")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail (stored encrypted)")] = None,
) -> None:
    """Create an account with a random password, printed once (with a TOTP URI for admin and operator)."""
    _, url, keyring = _context()
    with connect(url) as conn:
        new = accounts.create_account(
            conn, keyring, username=username, role=role, display_name=display_name, email=email
        )
        login = None
        if new.account.role is Role.GIS_EDITOR:
            login = create_gis_login(conn, new.account.id, new.account.username)
        conn.commit()
    typer.echo(f"account {new.account.username} ({new.account.role}) created")
    typer.echo(f"password (shown once): {new.password}")
    if new.totp_uri:
        typer.echo(f"TOTP (second factor, scan in an authenticator app, shown once): {new.totp_uri}")
    if login:
        typer.echo(
            f"PostgreSQL login for QGIS (see docs/qgis.md): {login[0]} / password (shown once): {login[1]}"
        )


@user_app.command("list")
def user_list() -> None:
    """List accounts."""
    _, url, _ = _context()
    with connect(url) as conn:
        rows = accounts.list_accounts(conn)
    for a in rows:
        flags = ",".join(f for f, on in (("disabled", a.disabled), ("totp", a.totp_enabled)) if on)
        typer.echo(f"{a.username:<24} {a.role.value:<11} {flags:<14} {a.pg_login or ''}")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable an account, revoke its sessions and its PostgreSQL login."""
    _, url, _ = _context()
    with connect(url) as conn:
        account = accounts.disable_account(conn, username)
        if account.pg_login:
            disable_gis_login(conn, account.pg_login)
        conn.commit()
    typer.echo(f"account {account.username} disabled, its sessions revoked")


@user_app.command("reset-password")
def user_reset_password(username: str) -> None:
    """Give an account a new random password (printed once), unlock it and revoke its sessions."""
    _, url, _ = _context()
    with connect(url) as conn:
        password = accounts.reset_password(conn, username)
        conn.commit()
    typer.echo(f"new password for {username} (shown once): {password}")


@keys_app.command("generate")
def keys_generate(key_id: Annotated[str, typer.Option(help="Name of the new key")] = "k1") -> None:
    """Print a new key entry for HYPERVISEUR_DATA_KEYS (put it first to make it current)."""
    typer.echo(f"{key_id}:{Keyring.new_key_text()}")


@keys_app.command("rotate")
def keys_rotate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every value and count, then change nothing")
    ] = False,
) -> None:
    """Re-encrypt every personal-data value under the current (first) key, in one transaction.

    Put the new key first and keep the old ones after it in HYPERVISEUR_DATA_KEYS, run this, then remove
    the old keys. Any value that does not decrypt aborts the rotation with nothing changed.
    """
    from twin.security.key_rotation import rotate

    _, url, keyring = _context()
    with connect(url) as conn:
        counts = rotate(conn, keyring, dry_run=dry_run)
        conn.commit()
    for name, count in counts.items():
        typer.echo(f"{name:<40} {count} value(s) {'to re-encrypt' if dry_run else 're-encrypted'}")
    if dry_run:
        typer.echo("dry run: nothing was changed")
    else:
        others = [k for k, _ in keyring.keys[1:]]
        typer.echo(f"every value is now under key {keyring.current_id!r}")
        if others:
            typer.echo(f"the old key(s) {', '.join(others)} can be removed from HYPERVISEUR_DATA_KEYS")


@keys_app.command("status")
def keys_status() -> None:
    """Count the encrypted values under each key id, per column."""
    from twin.security.key_rotation import key_status

    _, url, keyring = _context()
    with connect(url) as conn:
        status = key_status(conn)
    known = {k for k, _ in keyring.keys}
    for name, per_key in status.items():
        if not per_key:
            typer.echo(f"{name:<40} (no value)")
        for key_id, count in per_key.items():
            note = "current" if key_id == keyring.current_id else "" if key_id in known else "NOT IN KEYRING"
            typer.echo(f"{name:<40} {key_id:<16} {count:>8}  {note}".rstrip())
