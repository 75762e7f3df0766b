"""Encryption of personal data at rest: AES-256-GCM with a keyring, so keys can be rotated.

A ciphertext is ``version (1 byte) | key id length (1) | key id | nonce (12) | ciphertext+tag``. The column
it belongs to is bound as associated data, so a value copied into another column does not decrypt.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from twin.errors import HyperviseurError, InvalidInput

_VERSION = 1
_NONCE_BYTES = 12


class DecryptionError(HyperviseurError):
    """A ciphertext could not be decrypted: unknown key id, or altered data."""


@dataclass(frozen=True)
class Keyring:
    """Named 256-bit keys; the first one encrypts, every one decrypts.

    Examples
    --------
    >>> ring = Keyring.parse("k1:" + Keyring.new_key_text())
    >>> ring.decrypt(ring.encrypt(b"jean@example.fr", context="auth.accounts.email_enc"),
    ...              context="auth.accounts.email_enc")
    b'jean@example.fr'
    """

    keys: tuple[tuple[str, bytes], ...]

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @staticmethod
    def new_key_text() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read ``'id:base64key,id2:base64key2'`` (first = current), saying what is wrong if anything."""
        keys = []
        for number, item in enumerate(t.strip() for t in text.split(",") if t.strip()):
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id or len(key_id.encode()) > 255:
                raise InvalidInput(f"data key #{number + 1} must look like 'id:base64key'")
            try:
                key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except ValueError:
                raise InvalidInput(f"data key {key_id!r} is not valid base64") from None
            if len(key) != 32:
                raise InvalidInput(f"data key {key_id!r} must be 32 bytes (got {len(key)})")
            keys.append((key_id, key))
        if not keys:
            raise InvalidInput("the data keyring is empty")
        if len({k for k, _ in keys}) != len(keys):
            raise InvalidInput("two data keys share one id")
        return cls(tuple(keys))

    def text(self) -> str:
        return ",".join(f"{k}:{base64.urlsafe_b64encode(v).decode()}" for k, v in self.keys)

    def encrypt(self, plaintext: bytes | str, *, context: str) -> bytes:
        if isinstance(plaintext, str):
            plaintext = plaintext.encode()
        key_id, key = self.keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext, context.encode())
        kid = key_id.encode()
        return bytes([_VERSION, len(kid)]) + kid + nonce + sealed

    def key_id_of(self, ciphertext: bytes) -> str:
        if len(ciphertext) < 2 or ciphertext[0] != _VERSION:
            raise DecryptionError("not a Hyperviseur ciphertext (unknown version)")
        return ciphertext[2 : 2 + ciphertext[1]].decode()

    def decrypt(self, ciphertext: bytes, *, context: str) -> bytes:
        key_id = self.key_id_of(ciphertext)
        keys = dict(self.keys)
        if key_id not in keys:
            raise DecryptionError(f"value encrypted with key {key_id!r}, which is not in the keyring")
        start = 2 + ciphertext[1]
        nonce, sealed = ciphertext[start : start + _NONCE_BYTES], ciphertext[start + _NONCE_BYTES :]
        try:
            return AESGCM(keys[key_id]).decrypt(nonce, sealed, context.encode())
        except InvalidTag:
            raise DecryptionError(f"value for {context} was altered or belongs elsewhere") from None

    def decrypt_text(self, ciphertext: bytes | None, *, context: str) -> str | None:
        return None if ciphertext is None else self.decrypt(bytes(ciphertext), context=context).decode()


def keyring_file(var_dir: Path) -> Path:
    return Path(var_dir) / "secrets" / "data_keys"


def load_keyring(keys_text: str | None, *, var_dir: Path, environment: str) -> Keyring:
    """The keyring from settings; in development and tests one is generated once under ``var/secrets``.

    Production refuses to start without ``HYPERVISEUR_DATA_KEYS``: a key on the same disk as the data
    protects nothing.
    """
    if keys_text:
        return Keyring.parse(keys_text)
    if environment == "production":
        raise InvalidInput(
            "HYPERVISEUR_DATA_KEYS is required in production: generate one with `hyperviseur keys generate`"
        )
    path = keyring_file(var_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        path.write_text(f"k1:{Keyring.new_key_text()}\n")
        path.chmod(0o600)
    return Keyring.parse(path.read_text().strip())
