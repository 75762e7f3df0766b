"""Manage the project's own Mosquitto MQTT broker, living in a folder of the project (``var/mosquitto``).

The broker listens on 127.0.0.1 only, keeps QoS 1 messages and persistent sessions on disk
(``persistence true``) so that a restart loses nothing it acknowledged, and runs as the unprivileged
system user ``hyperviseur`` when we are root (as the embedded PostgreSQL does).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from twin.cluster import ensure_service_user, free_port, port_is_free
from twin.errors import ClusterError
from twin.settings import DatabaseSettings, MqttSettings, Settings

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> Path:
    """Return the path of the ``mosquitto`` executable (``HYPERVISEUR_MOSQUITTO`` overrides)."""
    override = os.environ.get("HYPERVISEUR_MOSQUITTO")
    candidates = [override] if override else list(MOSQUITTO_CANDIDATES)
    found = shutil.which("mosquitto")
    if found and not override:
        candidates.append(found)
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ClusterError(
        "the MQTT broker mosquitto is not installed (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); install it with: apt-get install mosquitto (or run scripts/bootstrap.sh)"
    )


@dataclass
class EmbeddedBroker:
    """A Mosquitto broker in ``base_dir`` (``mosquitto.conf``, ``data/``, ``mosquitto.log``, ``mosquitto.pid``).

    Examples
    --------
    >>> broker = EmbeddedBroker(Path("/tmp/hv-doc-mqtt"), port=51883)
    >>> broker.url()
    'mqtt://127.0.0.1:51883'
    """

    base_dir: Path
    port: int
    autosave_interval_s: int = 5

    @property
    def config_file(self) -> Path:
        return self.base_dir / "mosquitto.conf"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "mosquitto.log"

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "mosquitto.pid"

    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------------------

    def write_config(self) -> None:
        """Write (or rewrite, when the port changed) the configuration; the data folder is kept."""
        owner = ensure_service_user()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self.config_file.write_text(
            "# Hyperviseur broker: written by twin/broker.py, rewritten at each start.\n"
            "per_listener_settings false\n"
            # Loopback only: the ingester and simulator run on this machine. Remote sensors come in through a
            # TLS listener with accounts (docs/sensing.md), never through this one.
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.data_dir}/\n"
            # Saved every few seconds and at every clean stop: a crash can lose at most this window.
            f"autosave_interval {self.autosave_interval_s}\n"
            # The ingester acknowledges a QoS 1 message only once its batch is committed: it needs many
            # messages in flight (default 20), and its persistent session may queue a lot while it is away.
            "max_inflight_messages 5000\n"
            "max_queued_messages 1000000\n"
            "max_queued_bytes 0\n"
            "persistent_client_expiration 14d\n"
            f"pid_file {self.pid_file}\n"
            f"log_dest file {self.log_file}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "connection_messages true\n"
            "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
        )
        if owner is not None:
            _check_reachable_by(self.base_dir, owner)
            for path in (self.base_dir, self.data_dir, self.config_file, *self.data_dir.iterdir()):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            for path in (self.log_file, self.pid_file):
                if path.exists():
                    os.chown(path, owner.pw_uid, owner.pw_gid)

    def start(self, *, timeout_s: float = 15.0) -> None:
        """Start the broker (idempotent) and wait until it accepts connections."""
        if self.is_running():
            return
        if not port_is_free(self.port):
            raise ClusterError(
                f"port {self.port} is already taken by another program; set HYPERVISEUR_MQTT_PORT to a free port"
            )
        executable = find_mosquitto()
        self.write_config()
        owner = ensure_service_user()
        kwargs: dict[str, object] = {}
        if owner is not None:
            kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        result = subprocess.run(  # type: ignore[call-overload]
            [str(executable), "-c", str(self.config_file), "-d"],
            env=env,
            capture_output=True,
            text=True,
            cwd=self.base_dir,
            **kwargs,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"mosquitto failed to start (exit {result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}{self._log_tail()}"
            )
        deadline = time.monotonic() + timeout_s
        while not _accepts(self.port):
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"mosquitto did not accept connections on port {self.port}{self._log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, *, timeout_s: float = 15.0) -> None:
        """Stop the broker cleanly (SIGTERM: it saves its persistence file first) and wait for it to exit."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while _alive(pid):
            if time.monotonic() > deadline:
                raise ClusterError(f"mosquitto (pid {pid}) did not stop within {timeout_s:.0f} s")
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the broker and delete its folder (test brokers only)."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def pid(self) -> int | None:
        """The broker's process id when it runs, else None."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if _alive(pid) and _is_mosquitto(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def status(self) -> dict[str, object]:
        return {
            "base_dir": str(self.base_dir),
            "running": self.is_running(),
            "port": self.port,
            "url": self.url(),
            "pid": self.pid(),
        }

    def _log_tail(self) -> str:
        if not self.log_file.exists():
            return ""
        tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-10:])
        return f"\n--- {self.log_file} ---\n{tail}"


def embedded_broker(database: DatabaseSettings, mqtt: MqttSettings) -> EmbeddedBroker:
    """The project's broker: ``<var_dir>/mosquitto`` on ``HYPERVISEUR_MQTT_PORT``."""
    return EmbeddedBroker(Path(database.var_dir) / "mosquitto", port=mqtt.port)


def broker_url(database: DatabaseSettings, mqtt: MqttSettings) -> str:
    """``HYPERVISEUR_MQTT_URL`` when set, else the embedded broker's URL."""
    return mqtt.url or embedded_broker(database, mqtt).url()


def host_port_from_url(url: str) -> tuple[str, int]:
    """Split ``mqtt://host:port`` (port 1883 when absent).

    Examples
    --------
    >>> host_port_from_url("mqtt://127.0.0.1:51883")
    ('127.0.0.1', 51883)
    >>> host_port_from_url("mqtt://broker.example")
    ('broker.example', 1883)
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"{url!r} is not an MQTT URL; write mqtt://host:port")
    return parts.hostname, parts.port or 1883


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _is_mosquitto(pid: int) -> bool:
    """A stale pid file may name a recycled pid: check that it is a mosquitto process."""
    try:
        return "mosquitto" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return True


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _check_reachable_by(base_dir: Path, owner: pwd.struct_passwd) -> None:
    for parent in base_dir.resolve().parents:
        mode = parent.stat().st_mode
        if parent.stat().st_uid != owner.pw_uid and not mode & 0o001:
            raise ClusterError(
                f"the broker user '{owner.pw_name}' cannot enter {parent} (mode {oct(mode & 0o777)}); "
                "put the project elsewhere or set HYPERVISEUR_VAR_DIR to a folder it can reach"
            )


@contextmanager
def throwaway_broker(prefix: str = "hyperviseur-tmp-mqtt-") -> Iterator[EmbeddedBroker]:
    """A started broker in a fresh temporary folder on a free port, destroyed on exit (tests, benchmarks)."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    broker = EmbeddedBroker(base, port=free_port(), autosave_interval_s=1)
    try:
        broker.start()
        yield broker
    finally:
        broker.destroy()


def broker_address(settings: Settings) -> tuple[str, int]:
    """Host and port of the broker this instance uses (external ``HYPERVISEUR_MQTT_URL`` or embedded)."""
    return host_port_from_url(broker_url(settings.database, settings.mqtt))
