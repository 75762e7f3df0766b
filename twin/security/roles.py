"""Roles, and who is behind a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """What an account may do; ``anonymous`` is anyone without a session."""

    ADMIN = "admin"
    OPERATOR = "operator"
    PLANNER = "planner"
    CREW = "crew"
    GIS_EDITOR = "gis_editor"
    ANALYST = "analyst"
    ANONYMOUS = "anonymous"


ACCOUNT_ROLES = tuple(r for r in Role if r is not Role.ANONYMOUS)
# ANSSI recommends multi-factor authentication for privileged access: these roles must use TOTP.
TOTP_REQUIRED_ROLES = frozenset({Role.ADMIN, Role.OPERATOR})


def parse_role(value: str) -> Role:
    """Return the account role named ``value`` or raise ValueError listing the valid ones.

    Examples
    --------
    >>> parse_role("gis_editor")
    <Role.GIS_EDITOR: 'gis_editor'>
    """
    try:
        role = Role(value)
    except ValueError:
        raise ValueError(f"unknown role {value!r}; roles: {', '.join(ACCOUNT_ROLES)}") from None
    if role is Role.ANONYMOUS:
        raise ValueError("'anonymous' is not an account role")
    return role


@dataclass(frozen=True)
class Principal:
    """The identity a request acts under."""

    role: Role
    account_id: int | None = None
    username: str | None = None
    session_id: int | None = None
    scope: str = "full"  # 'enroll_totp': may only enrol a second factor, see its own account, sign out
    method: str = "anonymous"  # 'password', 'oidc'
    expires_at: datetime | None = None  # end of the session

    @property
    def is_authenticated(self) -> bool:
        return self.account_id is not None

    @property
    def actor(self) -> str:
        """The name the audit trail records."""
        return self.username or "anonymous"


ANONYMOUS = Principal(role=Role.ANONYMOUS)
