"""Rotation of the data keys: every encrypted column, re-encrypted under the current key in one transaction.

Each package that stores personal data encrypted registers its columns here with
``register_encrypted_column``; ``hyperviseur keys rotate`` then re-encrypts all of them, and
``hyperviseur keys status`` counts the values under each key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from twin.errors import HyperviseurError
from twin.security.accounts import EMAIL_CONTEXT, PHONE_CONTEXT, TOTP_CONTEXT
from twin.security.crypto import DecryptionError, Keyring

Conn = psycopg.Connection[Any]


class RotationAborted(HyperviseurError):
    """A stored value could not be decrypted or re-encrypted: the rotation changed nothing."""

    exit_code = 9


@dataclass(frozen=True)
class EncryptedColumn:
    """A ``bytea`` column of ciphertexts from ``Keyring.encrypt(..., context=context)``."""

    schema: str
    table: str
    column: str
    context: str
    key: str = "id"  # the primary key, to update one row at a time

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


ENCRYPTED_COLUMNS: list[EncryptedColumn] = [
    EncryptedColumn("auth", "accounts", "email_enc", EMAIL_CONTEXT),
    EncryptedColumn("auth", "accounts", "phone_enc", PHONE_CONTEXT),
    EncryptedColumn("auth", "accounts", "totp_secret_enc", TOTP_CONTEXT),
]


def register_encrypted_column(column: EncryptedColumn) -> None:
    """Add a column to the rotation (idempotent); call it at import of the module that owns the column."""
    if column not in ENCRYPTED_COLUMNS:
        ENCRYPTED_COLUMNS.append(column)


def _select(column: EncryptedColumn, *, lock: bool) -> sql.Composed:
    query = sql.SQL("SELECT {key}, {col} FROM {table} WHERE {col} IS NOT NULL ORDER BY {key}").format(
        key=sql.Identifier(column.key),
        col=sql.Identifier(column.column),
        table=sql.Identifier(column.schema, column.table),
    )
    return query + sql.SQL(" FOR UPDATE") if lock else query


def _decrypt(keyring: Keyring, column: EncryptedColumn, row_key: Any, value: bytes, when: str) -> bytes:
    try:
        return keyring.decrypt(bytes(value), context=column.context)
    except DecryptionError as exc:
        hint = (
            " (keep the old key after the new one in HYPERVISEUR_DATA_KEYS until the rotation is done)"
            if "not in the keyring" in str(exc)
            else ""
        )
        raise RotationAborted(
            f"{column.name} of {column.key}={row_key} {when}: {exc}{hint}; the rotation was aborted,"
            " nothing was changed"
        ) from None


def rotate(
    conn: Conn, keyring: Keyring, *, columns: list[EncryptedColumn] | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Re-encrypt, under ``keyring.current_id``, every registered value that is under another key.

    Every value (also those already under the current key) must decrypt first, and each new ciphertext
    is decrypted again and compared before it is written. Everything happens in one transaction with
    the rows locked: on any failure ``RotationAborted`` is raised and nothing is changed. The caller
    commits when the connection is not in autocommit mode.

    Returns the number of values re-encrypted (with ``dry_run``: to re-encrypt, all checks made, nothing
    written) per column (``schema.table.column``).
    """
    counts: dict[str, int] = {}
    with conn.transaction():
        for column in columns if columns is not None else ENCRYPTED_COLUMNS:
            updates: list[tuple[bytes, Any]] = []
            for row in conn.execute(_select(column, lock=True)).fetchall():
                row_key, value = (row[column.key], row[column.column]) if isinstance(row, dict) else row
                plain = _decrypt(keyring, column, row_key, value, "before rotation")
                if keyring.key_id_of(bytes(value)) == keyring.current_id:
                    continue
                sealed = keyring.encrypt(plain, context=column.context)
                if _decrypt(keyring, column, row_key, sealed, "after re-encryption") != plain:
                    raise RotationAborted(
                        f"{column.name} of {column.key}={row_key} re-encrypted to a different value;"
                        " the rotation was aborted, nothing was changed"
                    )
                updates.append((sealed, row_key))
            if updates and not dry_run:
                with conn.cursor() as cur:
                    cur.executemany(
                        sql.SQL("UPDATE {table} SET {col} = %s WHERE {key} = %s").format(
                            table=sql.Identifier(column.schema, column.table),
                            col=sql.Identifier(column.column),
                            key=sql.Identifier(column.key),
                        ),
                        updates,
                    )
            counts[column.name] = len(updates)
    return counts


def key_status(conn: Conn, *, columns: list[EncryptedColumn] | None = None) -> dict[str, dict[str, int]]:
    """How many values of each registered column are under each key id (counted inside PostgreSQL)."""
    status: dict[str, dict[str, int]] = {}
    for column in columns if columns is not None else ENCRYPTED_COLUMNS:
        # Byte 0 is the format version (1), byte 1 the key id's length, then the key id itself.
        query = sql.SQL(
            "SELECT CASE WHEN length(c) >= 2 AND get_byte(c, 0) = 1 AND length(c) >= 2 + get_byte(c, 1)"
            " THEN convert_from(substring(c FROM 3 FOR get_byte(c, 1)), 'UTF8')"
            " ELSE '(not a ciphertext)' END AS key_id, count(*) AS n"
            " FROM (SELECT {col} AS c FROM {table} WHERE {col} IS NOT NULL) AS v GROUP BY 1 ORDER BY 1"
        ).format(col=sql.Identifier(column.column), table=sql.Identifier(column.schema, column.table))
        rows = conn.execute(query).fetchall()
        status[column.name] = {
            (r["key_id"] if isinstance(r, dict) else r[0]): (r["n"] if isinstance(r, dict) else r[1])
            for r in rows
        }
    return status
