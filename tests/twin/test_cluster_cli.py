"""The embedded cluster through the real CLI: init, start, status, url, stop, and their errors."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.common import PROJECT_ROOT
from twin.cluster import SERVICE_USER, free_port

HYPERVISEUR = str(PROJECT_ROOT / ".venv" / "bin" / "hyperviseur")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERVISEUR_")} | env
    return subprocess.run([HYPERVISEUR, *args], env=full_env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def var_env() -> Iterator[dict[str, str]]:
    base = Path(tempfile.mkdtemp(prefix="hyperviseur-cli-"))
    os.chmod(base, 0o755)
    env = {"HYPERVISEUR_VAR_DIR": str(base / "var"), "HYPERVISEUR_DB_PORT": str(free_port())}
    yield env
    run_cli("db", "stop", env=env)
    subprocess.run(["rm", "-rf", str(base)], check=False)


def test_db_lifecycle_init_start_status_url_stop(var_env: dict[str, str]) -> None:
    status = run_cli("db", "status", env=var_env)
    assert status.returncode == 1
    assert json.loads(status.stdout)["initialised"] is False

    first = run_cli("db", "init", env=var_env)
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    again = run_cli("db", "init", env=var_env)
    assert again.returncode == 0 and "already present" in again.stdout

    started = run_cli("db", "start", env=var_env)
    assert started.returncode == 0, started.stderr
    assert run_cli("db", "start", env=var_env).returncode == 0, "start must be idempotent"
    status = json.loads(run_cli("db", "status", env=var_env).stdout)
    assert status["running"] is True and status["port"] == int(var_env["HYPERVISEUR_DB_PORT"])

    url = run_cli("db", "url", env=var_env).stdout.strip()
    assert url.startswith("postgresql://hyperviseur:") and f":{var_env['HYPERVISEUR_DB_PORT']}/" in url
    with psycopg.connect(url) as conn:
        extensions = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert {"postgis", "pgrouting"} <= extensions
        layers = conn.execute("SELECT count(*) FROM twin.layer_catalog").fetchone()
        assert layers is not None and layers[0] >= 10
    password_file = Path(var_env["HYPERVISEUR_VAR_DIR"]) / "pg" / "db_password"
    assert password_file.stat().st_mode & 0o077 == 0, "the database password must be private"

    stopped = run_cli("db", "stop", env=var_env)
    assert stopped.returncode == 0
    assert run_cli("db", "status", env=var_env).returncode == 1
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop only happens when started as root")
def test_server_runs_as_unprivileged_user_when_started_as_root(var_env: dict[str, str]) -> None:
    assert run_cli("db", "start", env=var_env).returncode == 0
    pid_file = Path(var_env["HYPERVISEUR_VAR_DIR"]) / "pg" / "pgdata" / "postmaster.pid"
    pid = int(pid_file.read_text().splitlines()[0])
    owner_uid = os.stat(f"/proc/{pid}").st_uid
    assert owner_uid != 0
    assert pwd.getpwuid(owner_uid).pw_name == SERVICE_USER


def test_start_on_a_taken_port_says_so(var_env: dict[str, str]) -> None:
    assert run_cli("db", "init", env=var_env).returncode == 0
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(var_env["HYPERVISEUR_DB_PORT"])))
        blocker.listen()
        result = run_cli("db", "start", env=var_env)
    assert result.returncode == 3
    assert "already taken" in result.stderr and "HYPERVISEUR_DB_PORT" in result.stderr


def test_start_before_init_explains_and_creates(var_env: dict[str, str]) -> None:
    # `db start` creates the cluster when missing: the one-command path of `make demo`.
    result = run_cli("db", "start", env=var_env)
    assert result.returncode == 0, result.stderr
    assert (Path(var_env["HYPERVISEUR_VAR_DIR"]) / "pg" / "pgdata" / "PG_VERSION").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a folder the database user cannot enter")
def test_unreachable_data_folder_is_refused_with_the_reason() -> None:
    base = Path(tempfile.mkdtemp(prefix="hyperviseur-private-"))  # mode 0700, owned by root
    try:
        env = {"HYPERVISEUR_VAR_DIR": str(base / "var"), "HYPERVISEUR_DB_PORT": str(free_port())}
        result = run_cli("db", "init", env=env)
        assert result.returncode == 3
        assert "cannot enter" in result.stderr and "HYPERVISEUR_VAR_DIR" in result.stderr
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_external_database_url_bypasses_the_embedded_cluster(database_url: str) -> None:
    env = {"HYPERVISEUR_DATABASE_URL": database_url}
    assert run_cli("db", "url", env=env).stdout.strip() == database_url
    init = run_cli("db", "init", env=env)
    assert init.returncode == 0 and "external database" in init.stdout
    migrate = run_cli("migrate", env=env)
    assert migrate.returncode == 0, migrate.stderr


def test_invalid_external_url_is_refused_at_start() -> None:
    result = run_cli("db", "url", env={"HYPERVISEUR_DATABASE_URL": "mysql://nope"})
    assert result.returncode != 0
    assert "postgresql://" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="as a normal user every test here already runs without root")
def test_cluster_works_for_a_normal_user() -> None:
    """The whole lifecycle as an unprivileged user, as a developer without root would run it."""
    user = pwd.getpwnam(SERVICE_USER)  # created by the session cluster
    base = Path(tempfile.mkdtemp(prefix="hyperviseur-user-"))
    os.chown(base, user.pw_uid, user.pw_gid)
    os.chmod(base, 0o755)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(base),
        "HYPERVISEUR_VAR_DIR": str(base / "var"),
        "HYPERVISEUR_DB_PORT": str(free_port()),
    }

    def as_user(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HYPERVISEUR, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            cwd=base,
        )

    try:
        started = as_user("db", "start")
        assert started.returncode == 0, started.stderr
        status = json.loads(as_user("db", "status").stdout)
        assert status["running"] is True
        pgdata = base / "var" / "pg" / "pgdata"
        assert pgdata.stat().st_uid == user.pw_uid
        assert as_user("db", "stop").returncode == 0
    finally:
        as_user("db", "stop")
        subprocess.run(["rm", "-rf", str(base)], check=False)
