"""Local accounts: creation, listing, disabling, password resets, and sign-in with lockout and back-off.

Synchronous on purpose: the CLI uses these functions directly, and the API runs them in a worker thread
(argon2 hashing is CPU-bound and must not block the event loop).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pyotp

from twin.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized
from twin.security.crypto import Keyring
from twin.security.passwords import check_policy, generate_password, hash_password, verify_password
from twin.security.roles import TOTP_REQUIRED_ROLES, Role, parse_role

TOTP_CONTEXT = "auth.accounts.totp_secret_enc"
EMAIL_CONTEXT = "auth.accounts.email_enc"
PHONE_CONTEXT = "auth.accounts.phone_enc"
TOTP_ISSUER = "Hyperviseur"
HARD_LOCK = timedelta(hours=1)
_WRONG_CREDENTIALS = "wrong account name, password or TOTP code"

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: Role
    display_name: str | None
    disabled: bool
    totp_enabled: bool
    pg_login: str | None
    created_at: datetime
    last_signin_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role.value,
            "display_name": self.display_name,
            "disabled": self.disabled,
            "totp_enabled": self.totp_enabled,
            "pg_login": self.pg_login,
            "created_at": self.created_at.isoformat(),
            "last_signin_at": self.last_signin_at.isoformat() if self.last_signin_at else None,
        }


@dataclass(frozen=True)
class NewAccount:
    """What the creator must hand over once: the password and, where required, the TOTP enrolment URI."""

    account: Account
    password: str | None
    totp_uri: str | None


_COLUMNS = "id, username, role, display_name, disabled, totp_enabled, pg_login, created_at, last_signin_at"


def _row_value(row: Any, key: str, index: int) -> Any:
    return row[key] if isinstance(row, dict) else row[index]


def _account(row: Any) -> Account:
    names = _COLUMNS.split(", ")
    values = {name: _row_value(row, name, i) for i, name in enumerate(names)}
    values["role"] = Role(values["role"])
    return Account(**values)


def get_account(conn: Conn, username: str) -> Account:
    row = conn.execute(f"SELECT {_COLUMNS} FROM auth.accounts WHERE username = %s", (username,)).fetchone()
    if row is None:
        raise NotFound(f"no account named {username!r}")
    return _account(row)


def list_accounts(conn: Conn) -> list[Account]:
    return [_account(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM auth.accounts ORDER BY username")]


def create_account(
    conn: Conn,
    keyring: Keyring,
    *,
    username: str,
    role: str,
    password: str | None = None,
    display_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> NewAccount:
    """Create a local account; a random password is generated when none is given.

    Accounts whose role requires a second factor (admin, operator) get a TOTP secret at once; its
    ``otpauth://`` URI is returned to be shown once (scan it in any authenticator app).
    """
    account_role = _validate_role(role)
    username = _validate_username(username)
    password = password or generate_password(username=username)
    check_policy(password, username=username)
    if email is not None and "@" not in email:
        raise InvalidInput(f"e-mail address {email!r} has no '@'")
    if conn.execute("SELECT 1 FROM auth.accounts WHERE username = %s", (username,)).fetchone():
        raise InvalidInput(f"an account named {username!r} already exists")
    totp_secret = pyotp.random_base32() if account_role in TOTP_REQUIRED_ROLES else None
    row = conn.execute(
        f"INSERT INTO auth.accounts (username, display_name, role, password_hash, email_enc, phone_enc,"
        f" totp_secret_enc, totp_enabled, password_changed_at)"
        f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) RETURNING {_COLUMNS}",
        (
            username,
            display_name,
            account_role.value,
            hash_password(password),
            keyring.encrypt(email, context=EMAIL_CONTEXT) if email else None,
            keyring.encrypt(phone, context=PHONE_CONTEXT) if phone else None,
            keyring.encrypt(totp_secret, context=TOTP_CONTEXT) if totp_secret else None,
            totp_secret is not None,
        ),
    ).fetchone()
    account = _account(row)
    uri = (
        pyotp.TOTP(totp_secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)
        if totp_secret
        else None
    )
    return NewAccount(account=account, password=password, totp_uri=uri)


def disable_account(conn: Conn, username: str) -> Account:
    """Disable an account and revoke all its sessions at once."""
    account = get_account(conn, username)
    conn.execute("UPDATE auth.accounts SET disabled = true WHERE id = %s", (account.id,))
    conn.execute(
        "UPDATE auth.sessions SET revoked_at = now() WHERE account_id = %s AND revoked_at IS NULL",
        (account.id,),
    )
    return get_account(conn, username)


def reset_password(conn: Conn, username: str, *, password: str | None = None) -> str:
    """Set a new password (random if none), clear the lockout and revoke every session of the account."""
    account = get_account(conn, username)
    password = password or generate_password(username=account.username)
    check_policy(password, username=account.username)
    conn.execute(
        "UPDATE auth.accounts SET password_hash = %s, password_changed_at = now(), failed_attempts = 0,"
        " locked_until = NULL WHERE id = %s",
        (hash_password(password), account.id),
    )
    conn.execute(
        "UPDATE auth.sessions SET revoked_at = now() WHERE account_id = %s AND revoked_at IS NULL",
        (account.id,),
    )
    return password


def change_password(conn: Conn, account_id: int, *, current: str, new: str) -> None:
    row = conn.execute(
        "SELECT username, password_hash FROM auth.accounts WHERE id = %s", (account_id,)
    ).fetchone()
    if row is None or not verify_password(_row_value(row, "password_hash", 1), current):
        raise Unauthorized("the current password is wrong")
    username = _row_value(row, "username", 0)
    check_policy(new, username=username)
    conn.execute(
        "UPDATE auth.accounts SET password_hash = %s, password_changed_at = now() WHERE id = %s",
        (hash_password(new), account_id),
    )


def backoff_for(failures: int, *, free: int, hard: int) -> timedelta | None:
    """How long an account stays locked after ``failures`` consecutive failed sign-ins.

    Examples
    --------
    >>> [backoff_for(n, free=3, hard=10) for n in (3, 4, 5)]
    [None, datetime.timedelta(seconds=1), datetime.timedelta(seconds=2)]
    >>> backoff_for(10, free=3, hard=10)
    datetime.timedelta(seconds=3600)
    """
    if failures >= hard:
        return HARD_LOCK
    if failures <= free:
        return None
    return timedelta(seconds=2 ** (failures - free - 1))


def authenticate(
    conn: Conn,
    keyring: Keyring,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    free_failures: int,
    hard_failures: int,
    now: datetime | None = None,
) -> tuple[Account, str]:
    """Check a sign-in; return the account and the session scope it gets (``full`` or ``enroll_totp``).

    Every failure counts towards the lockout: after ``free_failures`` the account is locked for 1, 2,
    4… seconds, after ``hard_failures`` for an hour (an administrator's reset unlocks it). While locked,
    even the right password is refused, so guessing cannot go faster than the back-off.
    """
    now = now or datetime.now(UTC)
    row = conn.execute(
        "SELECT id, password_hash, disabled, failed_attempts, locked_until, totp_enabled, totp_secret_enc, role,"
        " totp_last_step FROM auth.accounts WHERE username = %s FOR UPDATE",
        (username,),
    ).fetchone()
    if row is None:
        verify_password(None, password)  # same time as a real check
        # The same words as a wrong password, so that account names cannot be probed.
        raise Unauthorized(_WRONG_CREDENTIALS)
    (
        account_id,
        password_hash,
        disabled,
        failures,
        locked_until,
        totp_enabled,
        totp_secret_enc,
        role,
        totp_last_step,
    ) = (
        _row_value(row, k, i)
        for i, k in enumerate(
            (
                "id",
                "password_hash",
                "disabled",
                "failed_attempts",
                "locked_until",
                "totp_enabled",
                "totp_secret_enc",
                "role",
                "totp_last_step",
            )
        )
    )
    if locked_until is not None and locked_until > now:
        wait_s = int((locked_until - now).total_seconds()) + 1
        raise TooManyRequests(
            f"too many failed sign-ins: account locked, try again in {wait_s} s", retry_after_s=wait_s
        )
    ok = verify_password(password_hash, password)
    if ok and totp_enabled:
        secret = keyring.decrypt_text(totp_secret_enc, context=TOTP_CONTEXT)
        if not totp_code:
            # Not a failure: the client asks for the code and tries again.
            raise Unauthorized("a TOTP code is required for this account (field totp_code)")
        step = _totp_step(secret, totp_code, now) if secret else None
        # A code is good once: a step at or before the last one used is a replay.
        ok = step is not None and step > (totp_last_step or -1)
        if ok:
            conn.execute("UPDATE auth.accounts SET totp_last_step = %s WHERE id = %s", (step, account_id))
    if not ok:
        failures += 1
        lock = backoff_for(failures, free=free_failures, hard=hard_failures)
        conn.execute(
            "UPDATE auth.accounts SET failed_attempts = %s, locked_until = %s WHERE id = %s",
            (failures, now + lock if lock else None, account_id),
        )
        conn.commit()  # the failure must count even though we raise
        raise Unauthorized(_WRONG_CREDENTIALS)
    if disabled:
        raise Unauthorized("this account is disabled")
    conn.execute(
        "UPDATE auth.accounts SET failed_attempts = 0, locked_until = NULL, last_signin_at = %s WHERE id = %s",
        (now, account_id),
    )
    scope = "enroll_totp" if Role(role) in TOTP_REQUIRED_ROLES and not totp_enabled else "full"
    return get_account(conn, username), scope


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code ``code`` is (one step of clock drift allowed either way), or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code.strip()):
            return step
    return None


def begin_totp_enrolment(conn: Conn, keyring: Keyring, account_id: int) -> str:
    """Store a new (not yet active) TOTP secret and return its ``otpauth://`` URI."""
    row = conn.execute("SELECT username FROM auth.accounts WHERE id = %s", (account_id,)).fetchone()
    if row is None:
        raise NotFound("account not found")
    secret = pyotp.random_base32()
    conn.execute(
        "UPDATE auth.accounts SET totp_secret_enc = %s, totp_enabled = false WHERE id = %s",
        (keyring.encrypt(secret, context=TOTP_CONTEXT), account_id),
    )
    return pyotp.TOTP(secret).provisioning_uri(name=_row_value(row, "username", 0), issuer_name=TOTP_ISSUER)


def confirm_totp_enrolment(conn: Conn, keyring: Keyring, account_id: int, code: str) -> None:
    row = conn.execute("SELECT totp_secret_enc FROM auth.accounts WHERE id = %s", (account_id,)).fetchone()
    secret = (
        keyring.decrypt_text(_row_value(row, "totp_secret_enc", 0), context=TOTP_CONTEXT) if row else None
    )
    if not secret:
        raise InvalidInput("no TOTP enrolment in progress: call /api/auth/totp/setup first")
    if not pyotp.TOTP(secret).verify(code.strip(), valid_window=1):
        raise InvalidInput("that TOTP code is not the current one for the new secret")
    conn.execute("UPDATE auth.accounts SET totp_enabled = true WHERE id = %s", (account_id,))


def _validate_role(role: str) -> Role:
    try:
        return parse_role(role)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _validate_username(username: str) -> str:
    import re

    name = username.strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9._-]{1,62}", name):
        raise InvalidInput(
            f"account name {username!r} must be 2-63 characters: a letter, then letters, digits, '.', '_' or '-'"
        )
    return name
