"""Personal data at rest: the AES-256-GCM keyring, and key rotation that keeps every value readable."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.cluster import EmbeddedCluster
from twin.db import migrate
from twin.errors import InvalidInput
from twin.security import accounts
from twin.security.crypto import DecryptionError, Keyring
from twin.security.key_rotation import ENCRYPTED_COLUMNS, RotationAborted, key_status, rotate

K1 = "k1:" + Keyring.new_key_text()
K2 = "k2:" + Keyring.new_key_text()
CONTEXT = "auth.accounts.email_enc"
HYPERVISEUR = Path(sys.executable).with_name("hyperviseur")


# -- the keyring ------------------------------------------------------------------------------------


def test_round_trip_and_key_id() -> None:
    ring = Keyring.parse(K1)
    sealed = ring.encrypt("jeanne.dupont@ville.example.fr", context=CONTEXT)
    assert b"jeanne" not in sealed
    assert ring.key_id_of(sealed) == "k1"
    assert ring.decrypt_text(sealed, context=CONTEXT) == "jeanne.dupont@ville.example.fr"
    assert ring.encrypt("same", context=CONTEXT) != ring.encrypt("same", context=CONTEXT)  # fresh nonce


def test_wrong_context_fails() -> None:
    ring = Keyring.parse(K1)
    sealed = ring.encrypt("0612345678", context="auth.accounts.phone_enc")
    with pytest.raises(DecryptionError, match="auth.accounts.email_enc"):
        ring.decrypt(sealed, context="auth.accounts.email_enc")


@pytest.mark.parametrize("position", [-1, -20, 20])  # tag, ciphertext, nonce
def test_altered_ciphertext_fails(position: int) -> None:
    ring = Keyring.parse(K1)
    sealed = bytearray(ring.encrypt("secret", context=CONTEXT))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionError, match="altered"):
        ring.decrypt(bytes(sealed), context=CONTEXT)


def test_unknown_key_id_is_named() -> None:
    sealed = Keyring.parse(K1).encrypt("secret", context=CONTEXT)
    with pytest.raises(DecryptionError, match=r"key 'k1', which is not in the keyring"):
        Keyring.parse(K2).decrypt(sealed, context=CONTEXT)


def test_not_a_ciphertext() -> None:
    with pytest.raises(DecryptionError, match="unknown version"):
        Keyring.parse(K1).decrypt(b"\x07plain", context=CONTEXT)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("k1", r"#1 must look like 'id:base64key'"),
        (f"{K1},:abc", r"#2 must look like 'id:base64key'"),
        ("k1:a", "'k1' is not valid base64"),
        ("k1:" + "QUJD" * 4, r"'k1' must be 32 bytes \(got 12\)"),
        (f"{K1},k1:{Keyring.new_key_text()}", "two data keys share one id"),
    ],
)
def test_parse_errors_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        Keyring.parse(text)


def test_text_round_trip_keeps_order() -> None:
    ring = Keyring.parse(f"{K2},{K1}")
    assert ring.current_id == "k2"
    assert Keyring.parse(ring.text()) == ring


@settings(max_examples=200, deadline=None)
@given(plaintext=st.binary(max_size=2048), context=st.text(min_size=1, max_size=64))
def test_encrypt_decrypt_round_trip_property(plaintext: bytes, context: str) -> None:
    old, new = Keyring.parse(K1), Keyring.parse(f"{K2},{K1}")
    sealed = old.encrypt(plaintext, context=context)
    assert old.decrypt(sealed, context=context) == plaintext
    assert new.decrypt(sealed, context=context) == plaintext  # old values stay readable after adding a key
    assert new.key_id_of(new.encrypt(plaintext, context=context)) == "k2"


# -- rotation, on a database of its own (rotate() walks every row of the registered columns) -------------


@pytest.fixture(scope="module")
def rotation_db(pg_cluster: EmbeddedCluster) -> Iterator[str]:
    name = "rotation_" + uuid.uuid4().hex[:8]
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_cluster.url(name)
    migrate(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def people(rotation_db: str) -> dict[str, dict[str, Any]]:
    """Accounts under key k1: with e-mail, phone and TOTP, e-mail only, and none at all."""
    ring = Keyring.parse(K1)
    created: dict[str, dict[str, Any]] = {}
    with psycopg.connect(rotation_db) as conn:
        conn.execute("TRUNCATE auth.accounts CASCADE")
        for i, (role, email, phone) in enumerate(
            [
                ("operator", "agnes@ville.example.fr", "+33612345678"),
                ("admin", "bruno@ville.example.fr", None),
                ("analyst", "chloe@ville.example.fr", "+33798765432"),
                ("crew", None, None),
            ]
        ):
            new = accounts.create_account(
                conn, ring, username=f"person{i}", role=role, email=email, phone=phone
            )
            secret = parse_qs(urlsplit(new.totp_uri).query)["secret"][0] if new.totp_uri else None
            created[f"person{i}"] = {"email": email, "phone": phone, "totp": secret, "password": new.password}
        conn.commit()
    return created


def _encrypted_values(url: str) -> dict[tuple[str, int], bytes]:
    values = {}
    with psycopg.connect(url) as conn:
        for column in ENCRYPTED_COLUMNS:
            rows = conn.execute(
                f"SELECT {column.key}, {column.column} FROM {column.schema}.{column.table}"
                f" WHERE {column.column} IS NOT NULL"
            ).fetchall()
            values.update({(column.name, key): bytes(value) for key, value in rows})
    return values


def _plaintexts(url: str, ring: Keyring) -> dict[str, dict[str, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT username, email_enc, phone_enc, totp_secret_enc FROM auth.accounts ORDER BY username"
        ).fetchall()
    return {
        username: {
            "email": ring.decrypt_text(email, context=accounts.EMAIL_CONTEXT),
            "phone": ring.decrypt_text(phone, context=accounts.PHONE_CONTEXT),
            "totp": ring.decrypt_text(totp, context=accounts.TOTP_CONTEXT),
        }
        for username, email, phone, totp in rows
    }


def test_rotation_keeps_every_encrypted_value_readable(rotation_db: str, people: dict[str, Any]) -> None:
    before = _encrypted_values(rotation_db)
    assert len(before) == 7  # 3 e-mails, 2 phones, 2 TOTP secrets
    assert {Keyring.parse(K1).key_id_of(v) for v in before.values()} == {"k1"}

    with psycopg.connect(rotation_db) as conn:
        counts = rotate(conn, Keyring.parse(f"{K2},{K1}"))
        conn.commit()
    assert counts == {
        "auth.accounts.email_enc": 3,
        "auth.accounts.phone_enc": 2,
        "auth.accounts.totp_secret_enc": 2,
    }

    only_k2 = Keyring.parse(K2)
    after = _encrypted_values(rotation_db)
    assert after.keys() == before.keys()
    assert {only_k2.key_id_of(v) for v in after.values()} == {"k2"}
    assert _plaintexts(rotation_db, only_k2) == {
        name: {"email": p["email"], "phone": p["phone"], "totp": p["totp"]} for name, p in people.items()
    }
    # The second factor still works with the old key gone: sign in with a code from the enrolled secret.
    with psycopg.connect(rotation_db) as conn:
        account, scope = accounts.authenticate(
            conn,
            only_k2,
            username="person0",
            password=people["person0"]["password"],
            totp_code=pyotp.TOTP(people["person0"]["totp"]).now(),
            free_failures=3,
            hard_failures=10,
        )
    assert account.username == "person0" and scope == "full"

    with psycopg.connect(rotation_db) as conn:
        assert key_status(conn)["auth.accounts.email_enc"] == {"k2": 3}
        # A second rotation finds nothing left to do and changes nothing.
        assert set(rotate(conn, Keyring.parse(f"{K2},{K1}")).values()) == {0}
        conn.commit()
    assert _encrypted_values(rotation_db) == after


def test_corrupted_value_aborts_rotation_with_nothing_changed(
    rotation_db: str, people: dict[str, Any]
) -> None:
    with psycopg.connect(rotation_db) as conn:
        # The last row of the last column: every other value would already have been re-encrypted.
        victim = conn.execute(
            "SELECT id FROM auth.accounts WHERE totp_secret_enc IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
        conn.execute(
            "UPDATE auth.accounts SET totp_secret_enc = set_byte(totp_secret_enc, length(totp_secret_enc) - 1,"
            " get_byte(totp_secret_enc, length(totp_secret_enc) - 1) # 1) WHERE id = %s",
            (victim,),
        )
        conn.commit()
    before = _encrypted_values(rotation_db)
    with psycopg.connect(rotation_db) as conn, pytest.raises(RotationAborted) as raised:
        rotate(conn, Keyring.parse(f"{K2},{K1}"))
    message = str(raised.value)
    assert f"auth.accounts.totp_secret_enc of id={victim}" in message
    assert "altered" in message and "nothing was changed" in message
    assert _encrypted_values(rotation_db) == before


def test_rotation_without_the_old_key_aborts_and_says_how_to_fix(
    rotation_db: str, people: dict[str, Any]
) -> None:
    before = _encrypted_values(rotation_db)
    with psycopg.connect(rotation_db) as conn, pytest.raises(RotationAborted, match="keep the old key"):
        rotate(conn, Keyring.parse(K2))
    assert _encrypted_values(rotation_db) == before


def test_keys_status_and_rotate_commands(rotation_db: str, people: dict[str, Any], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HYPERVISEUR_DATABASE_URL": rotation_db,
        "HYPERVISEUR_VAR_DIR": str(tmp_path),
        "HYPERVISEUR_DATA_KEYS": f"{K2},{K1}",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HYPERVISEUR), "keys", *args], env=env, capture_output=True, text=True, timeout=120
        )

    status = run("status")
    assert status.returncode == 0, status.stderr
    assert any(
        "email_enc" in line and " k1 " in line and line.split()[2] == "3"
        for line in status.stdout.splitlines()
    )

    dry = run("rotate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "nothing was changed" in dry.stdout
    assert {Keyring.parse(K1).key_id_of(v) for v in _encrypted_values(rotation_db).values()} == {"k1"}

    done = run("rotate")
    assert done.returncode == 0, done.stderr
    assert "every value is now under key 'k2'" in done.stdout and "k1 can be removed" in done.stdout
    assert {Keyring.parse(K1).key_id_of(v) for v in _encrypted_values(rotation_db).values()} == {"k2"}
    after = run("status")
    assert "current" in after.stdout and " k1 " not in after.stdout

    env["HYPERVISEUR_DATA_KEYS"] = K1  # the new key forgotten: refused, and says which key is missing
    wrong = run("rotate")
    assert wrong.returncode == RotationAborted.exit_code
    assert "'k2', which is not in the keyring" in wrong.stderr
