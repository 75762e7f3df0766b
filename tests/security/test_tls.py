"""``hyperviseur serve`` speaks TLS when a certificate is configured, sends HSTS, and refuses a bad setup."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from twin.cluster import free_port
from twin.security.middleware import STRICT_TRANSPORT_SECURITY

HYPERVISEUR = Path(sys.executable).with_name("hyperviseur")


def _self_signed(folder: Path, name: str = "server") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hyperviseur.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / f"{name}.crt", folder / f"{name}.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    keyfile.chmod(0o600)
    return certfile, keyfile


def _env(database_url: str, tmp_path: Path, certfile: Path | str, keyfile: Path | str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",  # the start-up banner reaches the log at once
        "HYPERVISEUR_DATABASE_URL": database_url,
        "HYPERVISEUR_VAR_DIR": str(tmp_path / "var"),
        "HYPERVISEUR_TLS_CERTFILE": str(certfile),
        "HYPERVISEUR_TLS_KEYFILE": str(keyfile),
    }


@pytest.fixture
def tls_server(database_url: str, tmp_path: Path) -> Iterator[tuple[int, Path, str]]:
    certfile, keyfile = _self_signed(tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(HYPERVISEUR), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=_env(database_url, tmp_path, certfile, keyfile),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"https://127.0.0.1:{port}/health", verify=str(certfile), timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer over TLS: {log.read_text()}")
            time.sleep(0.3)
        yield port, certfile, log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_serve_over_tls_with_hsts(tls_server: tuple[int, Path, str]) -> None:
    port, certfile, output = tls_server
    response = httpx.get(f"https://127.0.0.1:{port}/health", verify=str(certfile), timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["strict-transport-security"] == STRICT_TRANSPORT_SECURITY
    assert f"https://127.0.0.1:{port}/" in output


def test_plain_http_to_the_tls_port_fails(tls_server: tuple[int, Path, str]) -> None:
    port, _, _ = tls_server
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)


def test_untrusted_certificate_is_refused_by_a_verifying_client(tls_server: tuple[int, Path, str]) -> None:
    port, _, _ = tls_server
    with pytest.raises(httpx.ConnectError):
        httpx.get(
            f"https://127.0.0.1:{port}/health", timeout=5
        )  # system CAs: our self-signed one is not there


def _serve_fails(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HYPERVISEUR), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_certificate_file_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    _, keyfile = _self_signed(tmp_path)
    missing = tmp_path / "absent.crt"
    result = _serve_fails(_env(database_url, tmp_path, missing, keyfile))
    assert result.returncode != 0
    assert f"HYPERVISEUR_TLS_CERTFILE={missing}: no readable file there" in result.stderr
    assert "Traceback" not in result.stderr


def test_certificate_and_key_that_do_not_match_are_a_clear_error(database_url: str, tmp_path: Path) -> None:
    certfile, _ = _self_signed(tmp_path, "one")
    _, other_key = _self_signed(tmp_path, "two")
    result = _serve_fails(_env(database_url, tmp_path, certfile, other_key))
    assert result.returncode != 0
    assert "cannot be used together" in result.stderr
    assert "Traceback" not in result.stderr


def test_certificate_without_key_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    certfile, _ = _self_signed(tmp_path)
    env = _env(database_url, tmp_path, certfile, "")
    del env["HYPERVISEUR_TLS_KEYFILE"]
    result = _serve_fails(env)
    assert result.returncode != 0
    assert "needs both HYPERVISEUR_TLS_CERTFILE and HYPERVISEUR_TLS_KEYFILE" in result.stderr
