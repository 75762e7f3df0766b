"""The project's Mosquitto broker: CLI lifecycle, persistence of queued QoS 1 messages across a restart, errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.common import PROJECT_ROOT
from twin.broker import EmbeddedBroker, host_port_from_url, throwaway_broker
from twin.cluster import free_port


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERVISEUR_")} | env
    return subprocess.run(
        [sys.executable, "-c", "from twin.cli import main; main()", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )


@pytest.fixture()
def var_env() -> Iterator[dict[str, str]]:
    base = Path(tempfile.mkdtemp(prefix="hyperviseur-cli-mqtt-"))
    os.chmod(base, 0o755)
    env = {"HYPERVISEUR_VAR_DIR": str(base / "var"), "HYPERVISEUR_MQTT_PORT": str(free_port())}
    yield env
    run_cli("broker", "stop", env=env)
    subprocess.run(["rm", "-rf", str(base)], check=False)


def _client(client_id: str, *, clean: bool) -> mqtt.Client:
    return mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=mqtt.MQTTv311,
    )


def test_broker_cli_start_status_stop(var_env: dict[str, str]) -> None:
    assert run_cli("broker", "status", env=var_env).returncode == 1
    started = run_cli("broker", "start", env=var_env)
    assert started.returncode == 0, started.stderr
    assert f"mqtt://127.0.0.1:{var_env['HYPERVISEUR_MQTT_PORT']}" in started.stdout
    again = run_cli("broker", "start", env=var_env)  # idempotent
    assert again.returncode == 0, again.stderr
    status = run_cli("broker", "status", env=var_env)
    assert status.returncode == 0
    body = json.loads(status.stdout)
    assert body["running"] is True and body["port"] == int(var_env["HYPERVISEUR_MQTT_PORT"])
    config = (Path(var_env["HYPERVISEUR_VAR_DIR"]) / "mosquitto" / "mosquitto.conf").read_text()
    assert f"listener {var_env['HYPERVISEUR_MQTT_PORT']} 127.0.0.1" in config
    assert "persistence true" in config
    if os.geteuid() == 0:  # never runs as root
        assert Path(f"/proc/{body['pid']}").stat().st_uid != 0
    stopped = run_cli("broker", "stop", env=var_env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert run_cli("broker", "status", env=var_env).returncode == 1


def test_broker_cli_external_url_is_not_managed(var_env: dict[str, str]) -> None:
    env = var_env | {"HYPERVISEUR_MQTT_URL": "mqtt://broker.example:1883"}
    result = run_cli("broker", "start", env=env)
    assert result.returncode == 0 and "external broker" in result.stdout
    assert json.loads(run_cli("broker", "status", env=env).stdout)["external"] is True


def test_broker_refuses_a_taken_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        base = Path(tempfile.mkdtemp(prefix="hyperviseur-mqtt-taken-"))
        os.chmod(base, 0o755)
        broker = EmbeddedBroker(base, port=port)
        with pytest.raises(Exception, match="already taken"):
            broker.start()
        broker.destroy()


def test_queued_qos1_messages_survive_a_broker_restart() -> None:
    """A persistent session's queued QoS 1 messages are on disk: a clean restart delivers them all."""
    with throwaway_broker() as broker:
        host, port = host_port_from_url(broker.url())
        # The subscriber registers its persistent session, then goes away.
        sub = _client("test-sub", clean=False)
        sub.connect(host, port)
        sub.loop_start()
        sub.subscribe("hv/test/#", qos=1)
        time.sleep(0.3)
        sub.disconnect()
        sub.loop_stop()

        pub = _client("test-pub", clean=True)
        pub.connect(host, port)
        pub.loop_start()
        for i in range(50):
            pub.publish("hv/test/a", str(i), qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()

        broker.restart()

        received: list[str] = []
        done = threading.Event()

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            received.append(msg.payload.decode())
            if len(received) == 50:
                done.set()

        sub = _client("test-sub", clean=False)
        sub.on_message = on_message
        sub.connect(host, port)
        sub.loop_start()
        assert done.wait(10), f"only {len(received)} of 50 messages came back after the restart"
        sub.disconnect()
        sub.loop_stop()
        assert sorted(map(int, received)) == list(range(50))


def test_host_port_from_url_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="mqtt://"):
        host_port_from_url("http://x:1")
