"""A real OpenID provider for the tests: Debian's Glewlwyd, started on a free local port in a tmp folder.

Glewlwyd keeps everything in an SQLite database initialised from the package's own SQL script; the
provider is then configured as an administrator would, through its admin API: an OpenID Connect plugin
signing with an RS256 key generated here, a confidential client, and an agent whose ``roles`` property
is published as an ID-token claim. Consent is recorded beforehand, so no consent screen appears.
"""

from __future__ import annotations

import gzip
import secrets
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.common import missing
from twin.cluster import free_port

GLEWLWYD = "/usr/bin/glewlwyd"
SQL_SCRIPTS = (
    Path("/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3"),
    Path("/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz"),
)
# The package's SQL script creates this administrator; the instance only listens on 127.0.0.1.
ADMIN = ("admin", "password")
PLUGIN = "oidc"
CLIENT_ID = "hyperviseur"
USERNAME = "agent.dupont"

_CONFIG = """\
port={port}
bind_address="127.0.0.1"
external_url="{base}"
login_url="login.html"
api_prefix="api"
log_mode="console"
log_level="INFO"
cookie_secure=0
cookie_same_site="empty"
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
hash_algorithm="SHA512"
database = {{ type = "sqlite3"; path = "{db}"; }};
"""


@dataclass
class Provider:
    """A running Glewlwyd with one OIDC client and one agent."""

    base_url: str
    issuer: str
    client_id: str
    client_secret: str
    username: str
    password: str
    log_file: Path

    @property
    def api(self) -> str:
        return self.base_url + "/api"

    @contextmanager
    def admin(self) -> Iterator[httpx.Client]:
        """An HTTP client signed in to Glewlwyd's admin API (cookie session)."""
        with httpx.Client(timeout=10) as client:
            body = {"username": ADMIN[0], "password": ADMIN[1]}
            _ok(client.post(self.api + "/auth/", json=body), "admin sign-in")
            yield client

    def set_roles(self, roles: list[str]) -> None:
        """Change the agent's ``roles`` property (published as the ``roles`` claim)."""
        with self.admin() as admin:
            user = _ok(admin.get(f"{self.api}/user/{self.username}"), "read user").json()
            user["roles"] = roles
            user.pop("password", None)
            _ok(admin.put(f"{self.api}/user/{self.username}", json=user), "update roles")

    def authorize(self, browser: httpx.Client, authorize_url: str) -> str:
        """Play the provider's login page: sign in through its auth API, then continue the request.

        Returns the URL the provider redirects to (our callback with ``code`` and ``state``).
        """
        response = browser.get(authorize_url)
        location = response.headers.get("location", "")
        if response.status_code == 302 and "/login.html" in location:
            # What login.js does: POST /api/auth with the password, then go back to callback_url.
            callback_url = parse_qs(urlsplit(location).query)["callback_url"][0]
            signed_in = browser.post(
                self.api + "/auth/", json={"username": self.username, "password": self.password}
            )
            _ok(signed_in, "agent sign-in at the provider")
            # login.js's "Continue" button appends g_continue to callback_url.
            response = browser.get(callback_url + ("&" if "?" in callback_url else "?") + "g_continue")
            location = response.headers.get("location", "")
        if response.status_code != 302 or not location:
            raise AssertionError(
                f"the provider did not redirect back: {response.status_code} {response.text[:300]}"
            )
        return location


def _ok(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(f"Glewlwyd {what}: HTTP {response.status_code} {response.text[:500]}")
    return response


def _init_database(path: Path) -> None:
    script = next((p for p in SQL_SCRIPTS if p.exists()), None)
    if script is None:
        missing("glewlwyd's SQL scripts are missing: apt-get install glewlwyd (scripts/bootstrap.sh)")
    sql = gzip.decompress(script.read_bytes()).decode() if script.suffix == ".gz" else script.read_text()
    with sqlite3.connect(path) as conn:
        conn.executescript(sql)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"glewlwyd exited ({process.returncode}):\n{log_file.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"glewlwyd did not listen on {port}:\n{log_file.read_text()[-2000:]}")


def _rsa_key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _configure(provider: Provider, *, redirect_uri: str, roles: list[str]) -> None:
    private_pem, public_pem = _rsa_key_pair()
    with provider.admin() as admin:
        api = provider.api
        # A multi-valued user property 'roles' in the database user backend (reset reloads the module).
        module = _ok(admin.get(api + "/mod/user/database"), "read user module").json()
        module["parameters"]["data-format"]["roles"] = {
            "multiple": True,
            "read": True,
            "write": True,
            "profile-read": True,
            "profile-write": False,
        }
        _ok(admin.put(api + "/mod/user/database", json=module), "update user module")
        _ok(admin.put(api + "/mod/user/database/reset"), "reload user module")
        # The 'openid' scope is granted only after a password check.
        scope = _ok(admin.get(api + "/scope/openid"), "read scope").json()
        _ok(admin.put(api + "/scope/openid", json={**scope, "password_required": True}), "update scope")
        plugin = {
            "module": "oidc",
            "name": PLUGIN,
            "display_name": "OpenID Connect",
            "parameters": {
                "iss": provider.issuer,
                "jwt-type": "rsa",
                "jwt-key-size": "256",
                "key": private_pem,
                "cert": public_pem,
                "access-token-duration": 600,
                "refresh-token-duration": 3600,
                "code-duration": 120,
                "refresh-token-rolling": False,
                "allow-non-oidc": False,
                "auth-type-code-enabled": True,
                "auth-type-code-revoke-replayed": True,
                "auth-type-token-enabled": False,
                "auth-type-id-token-enabled": False,
                "auth-type-password-enabled": False,
                "auth-type-client-enabled": False,
                "auth-type-refresh-enabled": False,
                "pkce-allowed": True,
                "pkce-method-plain-allowed": False,
                "subject-type": "public",
                "name-claim": "mandatory",
                "email-claim": "mandatory",
                "scope-claim": "no",
                "claims": [{"name": "roles", "user-property": "roles", "type": "string", "mandatory": True}],
            },
        }
        _ok(admin.post(api + "/mod/plugin/", json=plugin), "add OIDC plugin")
        client = {
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "name": "Hyperviseur",
            "enabled": True,
            "confidential": True,
            "redirect_uri": [redirect_uri],
            "authorization_type": ["code"],
            "scope": ["openid"],
            "token_endpoint_auth_method": ["client_secret_basic"],
        }
        _ok(admin.post(api + "/client/", json=client), "add client")
        user = {
            "username": provider.username,
            "password": provider.password,
            "name": "Agent Dupont",
            "email": "agent.dupont@ville.example",
            "enabled": True,
            "scope": ["openid", "g_profile"],
            "roles": roles,
        }
        _ok(admin.post(api + "/user/", json=user), "add user")
    # Consent recorded once by the agent (what the login page's consent screen would store).
    with httpx.Client(timeout=10) as agent:
        body = {"username": provider.username, "password": provider.password}
        _ok(agent.post(provider.api + "/auth/", json=body), "agent sign-in")
        _ok(agent.put(f"{provider.api}/auth/grant/{provider.client_id}", json={"scope": "openid"}), "consent")


def start_glewlwyd(
    folder: Path, *, redirect_uri: str, roles: list[str]
) -> tuple[Provider, subprocess.Popen[bytes]]:
    """Start and configure Glewlwyd in ``folder``; the caller stops the returned process."""
    if shutil.which(GLEWLWYD) is None:
        missing("glewlwyd is not installed: apt-get install glewlwyd (scripts/bootstrap.sh)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db = folder / "glewlwyd.db"
    _init_database(db)
    config = folder / "glewlwyd.conf"
    config.write_text(_CONFIG.format(port=port, base=base, db=db))
    log_file = folder / "glewlwyd.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [GLEWLWYD, "--config-file", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    provider = Provider(
        base_url=base,
        issuer=f"{base}/api/{PLUGIN}",
        client_id=CLIENT_ID,
        client_secret=secrets.token_urlsafe(24),
        username=USERNAME,
        password="Dupont-" + secrets.token_urlsafe(12),
        log_file=log_file,
    )
    try:
        _wait_listening(port, process, log_file)
        _configure(provider, redirect_uri=redirect_uri, roles=roles)
    except BaseException:
        stop(process)
        raise
    return provider, process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="module", name="glewlwyd")
def glewlwyd_fixture(tmp_path_factory: pytest.TempPathFactory, oidc_redirect_uri: str) -> Iterator[Provider]:
    """A configured Glewlwyd; the test module provides ``oidc_redirect_uri`` (our callback URL)."""
    provider, process = start_glewlwyd(
        tmp_path_factory.mktemp("glewlwyd"),
        redirect_uri=oidc_redirect_uri,
        roles=["agent-terrain", "planner"],
    )
    try:
        yield provider
    finally:
        stop(process)
