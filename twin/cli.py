"""The ``hyperviseur`` command line: database, migrations, imports, server, demo."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from twin.errors import HyperviseurError
from twin.settings import Settings

app = typer.Typer(help="Hyperviseur: the territory's digital control tower.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL/PostGIS cluster under var/.", no_args_is_help=True)
app.add_typer(db_app, name="db")
broker_app = typer.Typer(
    help="The project's Mosquitto MQTT broker under var/mosquitto.", no_args_is_help=True
)
app.add_typer(broker_app, name="broker")


def _settings() -> Settings:
    return Settings()


@app.callback()
def _root(ctx: typer.Context) -> None:
    from twin.db import database_url

    ctx.obj = {"database_url": lambda: database_url(_settings().database), "settings": _settings}


def _require_embedded(settings: Settings) -> None:
    if settings.database.database_url:
        typer.echo(
            "HYPERVISEUR_DATABASE_URL is set: the external database is used, no embedded cluster to manage."
        )
        raise typer.Exit(0)


@db_app.command("init")
def db_init() -> None:
    """Create the embedded cluster (idempotent)."""
    from twin.db import embedded_cluster

    settings = _settings()
    _require_embedded(settings)
    cluster = embedded_cluster(settings.database)
    created = cluster.init()
    typer.echo(f"cluster {'created' if created else 'already present'} in {cluster.data_dir}")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded cluster (creating it if needed) and bring the schema up to date."""
    from twin.db import embedded_cluster, migrate

    settings = _settings()
    _require_embedded(settings)
    cluster = embedded_cluster(settings.database)
    cluster.init()
    cluster.start()
    migrate(cluster.url())
    typer.echo(f"database running on 127.0.0.1:{cluster.port}, schema up to date")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    from twin.db import embedded_cluster

    settings = _settings()
    _require_embedded(settings)
    embedded_cluster(settings.database).stop()
    typer.echo("database stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the cluster exists and runs, and where."""
    from twin.db import embedded_cluster

    settings = _settings()
    if settings.database.database_url:
        typer.echo(json.dumps({"external": True}))
        return
    status = embedded_cluster(settings.database).status()
    typer.echo(json.dumps(status))
    if not status["running"]:
        raise typer.Exit(1)


@db_app.command("url")
def db_url() -> None:
    """Print the connection URL (with its password: keep it private)."""
    from twin.db import database_url

    typer.echo(database_url(_settings().database))


def _require_embedded_broker(settings: Settings) -> None:
    if settings.mqtt.url:
        typer.echo("HYPERVISEUR_MQTT_URL is set: the external broker is used, no embedded broker to manage.")
        raise typer.Exit(0)


@broker_app.command("start")
def broker_start() -> None:
    """Start the embedded Mosquitto broker (idempotent)."""
    from twin.broker import embedded_broker

    settings = _settings()
    _require_embedded_broker(settings)
    broker = embedded_broker(settings.database, settings.mqtt)
    broker.start()
    typer.echo(f"MQTT broker running on {broker.url()} (persistence in {broker.data_dir})")


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the embedded broker (it saves its queued messages first)."""
    from twin.broker import embedded_broker

    settings = _settings()
    _require_embedded_broker(settings)
    embedded_broker(settings.database, settings.mqtt).stop()
    typer.echo("MQTT broker stopped")


@broker_app.command("status")
def broker_status() -> None:
    """Say whether the broker runs, and where; exit 1 when it does not."""
    from twin.broker import embedded_broker

    settings = _settings()
    if settings.mqtt.url:
        typer.echo(json.dumps({"external": True, "url": settings.mqtt.url}))
        return
    status = embedded_broker(settings.database, settings.mqtt).status()
    typer.echo(json.dumps(status))
    if not status["running"]:
        raise typer.Exit(1)


@app.command("migrate")
def migrate_command(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations up to REVISION."""
    from twin.db import database_url, migrate

    migrate(database_url(_settings().database), revision)
    typer.echo(f"schema at {revision}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Serve the API (the database must be running)."""
    import os
    import ssl

    import uvicorn

    from twin.app import create_app
    from twin.errors import InvalidInput

    settings = _settings()
    host = host or settings.server.host
    port = port or settings.server.port
    sec = settings.security
    certfile: str | None = None
    keyfile: str | None = None
    if sec.tls_certfile or sec.tls_keyfile:
        if not (sec.tls_certfile and sec.tls_keyfile):
            raise InvalidInput(
                "TLS needs both HYPERVISEUR_TLS_CERTFILE and HYPERVISEUR_TLS_KEYFILE (PEM files), or neither"
            )
        for variable, path in (("CERTFILE", sec.tls_certfile), ("KEYFILE", sec.tls_keyfile)):
            if not path.is_file() or not os.access(path, os.R_OK):
                raise InvalidInput(
                    f"HYPERVISEUR_TLS_{variable}={path}: no readable file there; give the path of a PEM file"
                )
        try:  # a mismatched or malformed pair fails here, with a message, not inside uvicorn's start-up
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                sec.tls_certfile, sec.tls_keyfile
            )
        except (ssl.SSLError, ValueError) as exc:
            raise InvalidInput(
                f"the TLS certificate {sec.tls_certfile} and key {sec.tls_keyfile} cannot be used together"
                f" ({exc}): give a PEM certificate (chain) and its unencrypted private key"
            ) from None
        certfile, keyfile = str(sec.tls_certfile), str(sec.tls_keyfile)
    scheme = "https" if certfile else "http"
    typer.echo(f"Hyperviseur: {scheme}://{host}:{port}/  (API docs: {scheme}://{host}:{port}/api/docs)")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        # Open SSE streams never end by themselves: without a bound a stop would wait for every client.
        timeout_graceful_shutdown=5,
        # Per-message deflate costs more CPU than the hub when fanning out to a thousand consoles (docs/live.md).
        ws_per_message_deflate=False,
    )


@app.command("demo")
def demo(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Start the database and broker, import the default territory if empty (with a synthetic water network
    when it has none), serve with live demo sensors."""
    from layers.importers.default import DEFAULT_TERRITORY_NAME, import_default_territory_if_empty
    from simulation.water.synthesize import synthesize_water_if_absent
    from twin.db import database_url, embedded_cluster, migrate

    settings = _settings()
    if not settings.database.database_url:
        cluster = embedded_cluster(settings.database)
        if cluster.init():
            typer.echo(f"created the embedded database in {cluster.data_dir}")
        cluster.start()
    url = database_url(settings.database)
    migrate(url)
    report = import_default_territory_if_empty(url, progress=typer.echo)
    if report is not None:
        typer.echo(report.summary())
    water = synthesize_water_if_absent(url, DEFAULT_TERRITORY_NAME)  # the water use cases need a network
    if water is not None:
        typer.echo(water.summary())
    if report is not None or water is not None:  # buildings or junctions new: link them
        _derive_dependencies(url, DEFAULT_TERRITORY_NAME)
    _create_bootstrap_admin(settings, url)
    _start_demo_sensing(settings, url)
    serve(host=host, port=port)


def _start_demo_sensing(settings: Settings, url: str) -> None:
    """The broker, the demo sensors, and the simulator publishing to them while the server runs."""
    import os

    import psycopg

    from sensing.demo_sensors import demo_territory, ensure_demo_sensors
    from twin.broker import embedded_broker

    if not settings.mqtt.url:
        broker = embedded_broker(settings.database, settings.mqtt)
        broker.start()
        typer.echo(f"MQTT broker running on {broker.url()}")
    with psycopg.connect(url) as conn:
        found = demo_territory(conn)
        if found is not None:
            ids = ensure_demo_sensors(conn, found[0])
            conn.commit()
            typer.echo(f"{len(ids)} demo sensors on {found[1]}: the simulator publishes their readings")
    # serve() reads the settings again from the environment: the simulator runs unless told not to.
    os.environ.setdefault("HYPERVISEUR_SENSING_SIMULATOR", "true")


def _create_bootstrap_admin(settings: Settings, url: str) -> None:
    """The first run creates an 'admin' account whose credentials are printed once, never a fixed password."""
    from twin.db import connect
    from twin.security.accounts import create_account
    from twin.security.crypto import load_keyring

    keyring = load_keyring(
        settings.security.data_keys,
        var_dir=settings.database.var_dir,
        environment=settings.server.environment,
    )
    with connect(url) as conn:
        if conn.execute("SELECT 1 FROM auth.accounts LIMIT 1").fetchone():
            return
        new = create_account(conn, keyring, username="admin", role="admin", display_name="Administrateur")
        conn.commit()
    typer.secho("bootstrap administrator created; these credentials are shown once:", bold=True)
    typer.echo(f"  account: admin\n  password: {new.password}\n  TOTP: {new.totp_uri}")


def _register_subcommands() -> None:
    import detection.cli as detection_cli
    import layers.cli as layers_cli
    import sensing.cli as sensing_cli
    from detection.cli import detection_app
    from layers.cli import import_app
    from sensing.cli import sensing_app
    from simulation.cli import dependencies_app, synthesize_app
    from tiles.cli import add_raster_commands
    from twin.security.audit_cli import audit_app
    from twin.security.cli import keys_app, user_app

    add_raster_commands(import_app)
    app.add_typer(import_app, name="import")
    app.add_typer(user_app, name="user")
    app.add_typer(keys_app, name="keys")
    app.add_typer(audit_app, name="audit")
    app.add_typer(sensing_app, name="sensing")
    app.add_typer(detection_app, name="detection")
    app.add_typer(synthesize_app, name="synthesize")
    app.add_typer(dependencies_app, name="dependencies")
    detection_cli.on_detections = _correlate
    layers_cli.after_import = _derive_dependencies
    sensing_cli.after_insert_factory = _after_insert


def _derive_dependencies(url: str, territory: str) -> None:
    """After an import: derive the territory's dependency links (edited ones are kept)."""
    from simulation.dependencies.cli_commands import derive_command

    typer.echo(f"deriving the dependency links of {territory!r}")
    derive_command(url, territory, echo=typer.echo)


def _correlate(conn: Any, detections: Any) -> None:
    from incidents.correlate import correlate

    correlate(conn, detections)


def _after_insert() -> Any:
    from incidents.pipeline import LivePipeline

    return LivePipeline().after_insert


_register_subcommands()


def main() -> None:
    try:
        # With standalone_mode=False click returns the code of a typer.Exit instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except HyperviseurError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        problems = "; ".join(
            f"HYPERVISEUR_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        typer.secho(f"error: invalid settings: {problems}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # usage errors carry their own exit code (2)
        import click

        # Typer vendors click: its usage errors are typer.TyperException, not click.ClickException.
        if isinstance(exc, click.ClickException | typer.TyperException) and hasattr(exc, "show"):
            exc.show()
            sys.exit(getattr(exc, "exit_code", 2))
        raise
