"""Manage an embedded PostgreSQL + PostGIS cluster living in a folder of the project.

PostgreSQL refuses to run as root, so when we are root the server is run as the unprivileged
system user ``hyperviseur`` (created on first use). The superuser password is random, written
once to ``<data_dir>/../db_password`` with mode 0600, and never printed unless asked for.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from twin.errors import ClusterError

SERVICE_USER = "hyperviseur"
SUPERUSER = "hyperviseur"
DATABASE = "hyperviseur"
PG_VERSIONS = ("17", "16", "15")


def find_pg_bindir() -> Path:
    """Return the folder holding ``initdb`` and ``pg_ctl`` of the newest installed PostgreSQL."""
    override = os.environ.get("HYPERVISEUR_PG_BINDIR")
    candidates = [Path(override)] if override else [Path(f"/usr/lib/postgresql/{v}/bin") for v in PG_VERSIONS]
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise ClusterError(
        "PostgreSQL server binaries not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); install them with: apt-get install postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting"
    )


def ensure_service_user() -> pwd.struct_passwd | None:
    """When running as root, return (creating it if needed) the unprivileged user; else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedCluster:
    """A PostgreSQL cluster in ``base_dir`` (``pgdata/``, ``postgres.log``, ``db_password``).

    Examples
    --------
    >>> cluster = EmbeddedCluster(Path("/tmp/hv-doc"), port=55999)
    >>> cluster.url().startswith("postgresql://hyperviseur:")  # doctest: +SKIP
    True
    """

    base_dir: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.base_dir / "db_password"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "run"

    # -- lifecycle -------------------------------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> bool:
        """Create the cluster if it does not exist; return True when it was created now."""
        if self.is_initialised():
            return False
        bindir = find_pg_bindir()
        owner = ensure_service_user()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        pwfile = self.base_dir / ".initdb_pw"
        pwfile.write_text(password + "\n")
        if owner is not None:
            self._check_reachable_by(owner)
            for path in (self.base_dir, self.socket_dir, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        try:
            self._run(
                [
                    str(bindir / "initdb"),
                    "--pgdata",
                    str(self.data_dir),
                    "--username",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                ],
                owner,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_conf()
        return True

    def start(self, *, timeout_s: float = 30.0) -> None:
        """Start the server (idempotent) and make sure the database and extensions exist."""
        if not self.is_initialised():
            raise ClusterError(f"no cluster in {self.data_dir}: run `hyperviseur db init` first")
        if self.is_running():
            return
        if not port_is_free(self.port):
            raise ClusterError(
                f"port {self.port} is already taken by another program; set HYPERVISEUR_DB_PORT to a free port"
            )
        bindir = find_pg_bindir()
        owner = ensure_service_user()
        if owner is not None and self.log_file.exists():
            os.chown(self.log_file, owner.pw_uid, owner.pw_gid)
        self._run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_file),
                "--wait",
                f"--timeout={int(timeout_s)}",
                "-o",
                f"-p {self.port} -k {self.socket_dir}",
            ],
            owner,
        )
        self._create_database()

    def stop(self) -> None:
        if not self.is_initialised() or not self.is_running():
            return
        self._run(
            [
                str(find_pg_bindir() / "pg_ctl"),
                "stop",
                "--pgdata",
                str(self.data_dir),
                "--mode",
                "fast",
                "--wait",
            ],
            ensure_service_user(),
        )

    def destroy(self) -> None:
        """Stop the cluster and delete its folder (test clusters only)."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def is_running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        return True

    def status(self) -> dict[str, object]:
        return {
            "data_dir": str(self.data_dir),
            "initialised": self.is_initialised(),
            "running": self.is_running(),
            "port": self.port,
        }

    def url(self, database: str = DATABASE) -> str:
        if not self.password_file.exists():
            raise ClusterError(f"no cluster in {self.base_dir}: run `hyperviseur db init` first")
        password = self.password_file.read_text().strip()
        return f"postgresql://{SUPERUSER}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"

    # -- internals -------------------------------------------------------------------------------------

    def _write_conf(self) -> None:
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(
                "\n# Hyperviseur embedded cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                # JIT makes heavy low-zoom tile queries 3-4x slower (measured, see docs/architecture.md).
                "jit = off\n"
                "shared_buffers = 256MB\n"
                "work_mem = 16MB\n"
                "maintenance_work_mem = 128MB\n"
                "fsync = on\n"
                "logging_collector = off\n"
            )

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")

    def _check_reachable_by(self, owner: pwd.struct_passwd) -> None:
        """The service user must be able to traverse every parent folder of the data directory."""
        for parent in self.base_dir.resolve().parents:
            mode = parent.stat().st_mode
            if parent.stat().st_uid != owner.pw_uid and not mode & 0o001:
                raise ClusterError(
                    f"the database user '{owner.pw_name}' cannot enter {parent} (mode {oct(mode & 0o777)}); "
                    "put the project elsewhere or set HYPERVISEUR_VAR_DIR to a folder it can reach"
                )

    def _run(self, cmd: list[str], owner: pwd.struct_passwd | None) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        kwargs: dict[str, object] = {}
        if owner is not None:
            kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
            env["HOME"] = str(self.base_dir)
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=self.base_dir, **kwargs)  # type: ignore[call-overload]
        if result.returncode != 0:
            log_tail = ""
            if self.log_file.exists():
                log_tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
            raise ClusterError(
                f"{Path(cmd[0]).name} failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                + (f"\n--- {self.log_file} ---\n{log_tail}" if log_tail else "")
            )


def wait_until_accepting(url: str, *, timeout_s: float = 20.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def throwaway_cluster(prefix: str = "hyperviseur-tmp-pg-") -> Iterator[EmbeddedCluster]:
    """A started cluster in a fresh temporary folder on a free port, destroyed on exit (tests, benchmarks).

    The folder is made world-enterable so that the unprivileged database user can reach it when we are root.
    """
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    cluster = EmbeddedCluster(base, port=free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
