"""The audit trail: name who acts, record reads and sign-ins, verify the hash chain, export entries.

Writes are recorded by the database itself (migration 0003: statement triggers on every ``twin`` table and
``auth.accounts``), so edits made straight from QGIS are recorded like the API's. The application only says
who the person behind its connection is (:func:`set_actor`), records what triggers cannot see (reads of
restricted layers, sign-ins) and checks the chain (:func:`verify`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg import AsyncConnection

from twin.db import connect
from twin.errors import InvalidInput, TooManyRequests, Unauthorized
from twin.security.roles import ANONYMOUS, Principal

READ = "READ"
SIGN_IN = "SIGN_IN"
SIGN_IN_FAILED = "SIGN_IN_FAILED"
EXPORT = "EXPORT"

# Triggers whose absence or disabling makes the trail unreliable; verify reports it.
_ENTRY_TRIGGERS = ("entries_0_lock", "entries_1_chain", "entries_append_only")
_COLUMNS = (
    "id, at, actor, db_user, client_addr, action, object, object_id, before, after, details, prev_hash, hash"
)
_SET_ACTOR = (
    "SELECT set_config('hyperviseur.actor', %s, true), set_config('hyperviseur.client_addr', %s, true)"
)
_INSERT = (
    "INSERT INTO audit.entries (actor, client_addr, action, object, object_id, details)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


# -- who acts ------------------------------------------------------------------------------------------------


def _actor_params(principal: Principal, client_addr: str | None) -> tuple[str, str]:
    return principal.actor, client_addr or ""


def set_actor(conn: psycopg.Connection[Any], principal: Principal, client_addr: str | None) -> None:
    """Name the person behind the current transaction (``SET LOCAL``): the write triggers record it.

    Only the application's own database role is believed; any other login is recorded as itself.
    """
    conn.execute(_SET_ACTOR, _actor_params(principal, client_addr))


async def aset_actor(conn: AsyncConnection[Any], principal: Principal, client_addr: str | None) -> None:
    """:func:`set_actor` for an async connection (inside ``conn.transaction()``)."""
    await conn.execute(_SET_ACTOR, _actor_params(principal, client_addr))


def client_addr_of(request: Any) -> str | None:
    """The peer address of a request (a test client's ``testclient`` host is kept as it is)."""
    return request.client.host if getattr(request, "client", None) else None


def principal_of(request: Any) -> Principal:
    return getattr(request.state, "principal", None) or ANONYMOUS


@contextmanager
def connect_for(request: Any) -> Iterator[psycopg.Connection[Any]]:
    """A synchronous connection whose transaction is attributed to the request's principal and address."""
    with connect(request.app.state.database_url) as conn:
        set_actor(conn, principal_of(request), client_addr_of(request))
        yield conn


# -- what the triggers cannot see ------------------------------------------------------------------------------


async def record_read(
    conn: AsyncConnection[Any],
    principal: Principal,
    object: str,
    details: dict[str, Any] | None = None,
    *,
    object_id: str | None = None,
    client_addr: str | None = None,
) -> None:
    """Record that ``principal`` read restricted or personal data (one READ entry, before it is served)."""
    await conn.execute(
        _INSERT,
        (principal.actor, client_addr, READ, object, object_id, _jsonb(details)),
    )


async def record_request_read(
    conn: AsyncConnection[Any],
    request: Any,
    object: str,
    details: dict[str, Any] | None = None,
    *,
    object_id: str | None = None,
) -> None:
    """:func:`record_read` for the principal and peer address of an API request."""
    await record_read(
        conn,
        principal_of(request),
        object,
        details,
        object_id=object_id,
        client_addr=client_addr_of(request),
    )


def record_event(
    conn: psycopg.Connection[Any],
    *,
    actor: str | None,
    action: str,
    object: str,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
    client_addr: str | None = None,
) -> None:
    """Append one entry from a synchronous connection (in the caller's transaction).

    ``actor=None``: the transaction's ``hyperviseur.actor``, else the database login.
    """
    conn.execute(_INSERT, (actor, client_addr, action, object, object_id, _jsonb(details)))


@contextmanager
def audited_sign_in(
    conn: psycopg.Connection[Any], *, username: str, client_addr: str | None
) -> Iterator[None]:
    """Wrap a password sign-in: SIGN_IN on success (in the caller's transaction, committed with the session),
    SIGN_IN_FAILED with the reason on refusal (committed at once, then the error goes on)."""
    attempt = Principal(role=ANONYMOUS.role, username=username)
    set_actor(conn, attempt, client_addr)
    try:
        yield
    except (Unauthorized, TooManyRequests) as exc:
        conn.rollback()
        record_event(
            conn,
            actor=username,
            action=SIGN_IN_FAILED,
            object="auth.accounts",
            object_id=username,
            details={"method": "password", "reason": str(exc)},
            client_addr=client_addr,
        )
        conn.commit()
        raise
    record_event(
        conn,
        actor=username,
        action=SIGN_IN,
        object="auth.accounts",
        object_id=username,
        details={"method": "password"},
        client_addr=client_addr,
    )


def _jsonb(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


# -- verification ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`verify`: ``kind`` is altered, removed, inserted, anchor or protection."""

    kind: str
    first_id: int | None
    last_id: int | None
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Anchor:
    """The head of the chain at some moment: keep it outside the database to detect a truncated tail."""

    id: int
    hash: str  # hex

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Anchor:
        try:
            data = json.loads(text)
            return cls(id=int(data["id"]), hash=str(data["hash"]).lower())
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"not an audit anchor (expected {{'id': …, 'hash': …}}): {exc}") from None


@dataclass(frozen=True)
class Verification:
    problems: list[Problem]
    head: Anchor | None
    checked: int

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Row:
    id: int
    prev: bytes | None
    stored: bytes
    computed: bytes


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first}–{last}"


def _check_row(p: _Row | None, r: _Row) -> list[Problem]:
    """Classify entry ``r`` against its stored predecessor ``p``."""
    problems = []
    expected_id = (p.id if p else 0) + 1
    linked = r.prev == (p.stored if p else None)
    hash_ok = r.computed == r.stored
    if r.id > expected_id:
        where = f"between {p.id} and {r.id}" if p else f"before {r.id}"
        problems.append(
            Problem(
                "removed",
                expected_id,
                r.id - 1,
                f"{_span(expected_id, r.id - 1)} removed {where} (ids have no gaps; the chain is broken)",
            )
        )
        if not hash_ok:
            problems.append(
                Problem("altered", r.id, r.id, f"entry {r.id} altered: its contents no longer match its hash")
            )
    elif not hash_ok and linked:
        problems.append(
            Problem("altered", r.id, r.id, f"entry {r.id} altered: its contents no longer match its hash")
        )
    elif not hash_ok:
        problems.append(
            Problem(
                "inserted",
                r.id,
                r.id,
                f"entry {r.id} inserted: not written by the audit trigger (neither its hash nor its link"
                f" to entry {p.id if p else '(none)'} is right)",
            )
        )
    elif not linked:
        before = f"entry {p.id}" if p else "the start of the chain"
        problems.append(
            Problem(
                "inserted",
                r.id,
                r.id,
                f"entry {r.id} inserted: it does not chain to {before}"
                + (f" (or entry {p.id} was rewritten with a recomputed hash)" if p else ""),
            )
        )
    return problems


@cache
def _expected_hash_source() -> str:
    text = resources.files("twin.migrations").joinpath("sql/0003_audit.sql").read_text()
    match = re.search(r"FUNCTION audit\.entry_hash\(.*?AS \$\$(.*?)\$\$;", text, re.S)
    assert match, "migration 0003 defines audit.entry_hash"
    return " ".join(match.group(1).split())


def _check_protection(conn: psycopg.Connection[Any]) -> list[Problem]:
    """The machinery itself: the hash function unchanged, the chain and append-only triggers enabled."""
    problems = []
    row = conn.execute(
        "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'audit' AND p.proname = 'entry_hash'"
    ).fetchone()
    source = " ".join(str(_value(row, "prosrc")).split()) if row else None
    if source != _expected_hash_source():
        problems.append(
            Problem("protection", None, None, "audit.entry_hash was replaced: hashes cannot be trusted")
        )
    enabled = {
        _value(r, "tgname", 0): _value(r, "tgenabled", 1)
        for r in conn.execute(
            "SELECT tgname::text, tgenabled::text FROM pg_trigger WHERE tgrelid = 'audit.entries'::regclass"
        )
    }
    for name in _ENTRY_TRIGGERS:
        if enabled.get(name) not in ("O", "A"):
            state = "missing" if name not in enabled else "disabled"
            problems.append(Problem("protection", None, None, f"trigger {name} on audit.entries is {state}"))
    for r in conn.execute(
        "SELECT c.oid::regclass::text AS tbl, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE t.tgname LIKE 'audit\\_%%' AND t.tgenabled = 'D' ORDER BY 1, 2"
    ):
        problems.append(
            Problem(
                "protection",
                None,
                None,
                f"write audit trigger {_value(r, 'tgname', 1)} on {_value(r, 'tbl', 0)} is disabled",
            )
        )
    return problems


def _value(row: Any, key: str, index: int = 0) -> Any:
    return row[key] if isinstance(row, dict) else row[index]


def verify_chain(url: str, *, anchor: Anchor | None = None) -> Verification:
    """Walk the whole chain in one snapshot and name every altered, removed or inserted entry.

    Parameters
    ----------
    url : str
        The database (read with the application's role: the trail is not readable by anyone else).
    anchor : Anchor, optional
        A head saved earlier (``audit verify --save-anchor``): its entry must still be there, unchanged,
        which catches the removal of the last entries (nothing after them is left to show the gap).
    """
    problems: list[Problem] = []
    checked = 0
    prev: _Row | None = None
    anchor_row: _Row | None = None
    with psycopg.connect(url, connect_timeout=10) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            problems.extend(_check_protection(conn))
            with conn.cursor(name="audit_verify") as cur:
                cur.itersize = 5000
                cur.execute(
                    "SELECT id, prev_hash, hash, audit.entry_hash(prev_hash, id, at, actor, db_user,"
                    " client_addr, action, object, object_id, before, after, details)"
                    " FROM audit.entries ORDER BY id"
                )
                for id_, prev_hash, stored, computed in cur:
                    row = _Row(int(id_), _bytes(prev_hash), _bytes(stored) or b"", _bytes(computed) or b"")
                    problems.extend(_check_row(prev, row))
                    if anchor is not None and row.id == anchor.id:
                        anchor_row = row
                    prev = row
                    checked += 1
    head = Anchor(prev.id, prev.stored.hex()) if prev else None
    if anchor is not None:
        problems.extend(_check_anchor(anchor, anchor_row, head))
    return Verification(problems=problems, head=head, checked=checked)


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _check_anchor(anchor: Anchor, row: _Row | None, head: Anchor | None) -> list[Problem]:
    if head is None or head.id < anchor.id:
        first = head.id + 1 if head else 1
        return [
            Problem(
                "removed",
                first,
                anchor.id,
                f"{_span(first, anchor.id)} removed at the end of the trail (the saved anchor is entry"
                f" {anchor.id}, the trail now ends at {head.id if head else 'nothing'})",
            )
        ]
    if row is None:
        return [Problem("removed", anchor.id, anchor.id, f"entry {anchor.id} (the saved anchor) removed")]
    if row.stored.hex() != anchor.hash:
        return [
            Problem(
                "anchor",
                anchor.id,
                anchor.id,
                f"entry {anchor.id} differs from the saved anchor: the trail up to it was rewritten"
                " (or truncated and written again)",
            )
        ]
    return []


def verify(url: str, *, anchor: Anchor | None = None) -> list[Problem]:
    """The problems :func:`verify_chain` finds (empty: the trail is intact)."""
    return verify_chain(url, anchor=anchor).problems


# -- export ----------------------------------------------------------------------------------------------------


def parse_instant(value: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date or date-time; naive values are UTC, a bare date as ``--to`` means the end of that day.

    Examples
    --------
    >>> parse_instant("2026-11-30", end=True).isoformat()
    '2026-12-01T00:00:00+00:00'
    >>> parse_instant("2026-11-30T12:00:00+01:00").isoformat()
    '2026-11-30T12:00:00+01:00'
    """
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), tzinfo=UTC)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not an ISO 8601 date or date-time (e.g. 2026-11-30 or 2026-11-30T14:00:00+01:00)"
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def entry_as_dict(row: dict[str, Any]) -> dict[str, Any]:
    """One entry as JSON-ready values (time in ISO 8601, hashes in hex)."""
    out = dict(row)
    out["at"] = row["at"].isoformat()
    out["prev_hash"] = row["prev_hash"].hex() if row["prev_hash"] is not None else None
    out["hash"] = row["hash"].hex() if row["hash"] is not None else None
    return out


def export(url: str, start: datetime, end: datetime, *, actor: str | None = None) -> Iterator[str]:
    """Entries with ``start <= at < end`` as JSON lines, in chain order; the export itself is recorded."""
    if end <= start:
        raise InvalidInput(f"--to ({end.isoformat()}) must be after --from ({start.isoformat()})")
    with connect(url) as conn:
        record_event(
            conn,
            actor=actor,
            action=EXPORT,
            object="audit.entries",
            details={"from": start.isoformat(), "to": end.isoformat()},
        )
        conn.commit()
        with conn.cursor(name="audit_export") as cur:
            cur.itersize = 2000
            cur.execute(
                f"SELECT {_COLUMNS} FROM audit.entries WHERE at >= %s AND at < %s ORDER BY id", (start, end)
            )
            for row in cur:
                yield json.dumps(entry_as_dict(row), ensure_ascii=False, sort_keys=True)
