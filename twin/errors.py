"""Domain errors, and the one table that maps them to HTTP status codes and CLI exit codes."""

from __future__ import annotations


class HyperviseurError(Exception):
    """Base of every error we raise on purpose; its message says what was wrong and what to do."""

    http_status = 500
    exit_code = 1


class ClusterError(HyperviseurError):
    """The embedded PostgreSQL cluster could not be created, started or reached."""

    exit_code = 3


class InvalidInput(HyperviseurError):
    """A request or a command was given a value it cannot use."""

    http_status = 400
    exit_code = 2


class NotFound(HyperviseurError):
    """The named collection, feature or territory does not exist."""

    http_status = 404
    exit_code = 4


class ImportRejected(HyperviseurError):
    """An import was refused before anything was written: the database is unchanged."""

    http_status = 422
    exit_code = 5


class DatabaseNotReady(HyperviseurError):
    """The database is unreachable or its schema is not at the current migration."""

    http_status = 503
    exit_code = 6


HTTP_STATUS_BY_ERROR: dict[type[HyperviseurError], int] = {
    cls: cls.http_status
    for cls in (HyperviseurError, ClusterError, InvalidInput, NotFound, ImportRejected, DatabaseNotReady)
}


class Unauthorized(HyperviseurError):
    """No valid session: sign in (again)."""

    http_status = 401
    exit_code = 7


class Forbidden(HyperviseurError):
    """Signed in, but the role may not do this."""

    http_status = 403
    exit_code = 7


class TooManyRequests(HyperviseurError):
    """Too many attempts: wait ``retry_after_s`` seconds."""

    http_status = 429
    exit_code = 8

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


HTTP_STATUS_BY_ERROR.update({cls: cls.http_status for cls in (Unauthorized, Forbidden, TooManyRequests)})
