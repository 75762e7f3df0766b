"""``hyperviseur sensing …``: run the MQTT ingester, replay files of readings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from sensing.store import AfterInsert

sensing_app = typer.Typer(
    help="Sensor readings: MQTT ingestion, file replays, maintenance.", no_args_is_help=True
)

#: Builds the after-insert stage (live push, detection, incidents). Set by the composition root
#: (twin/cli.py) because sensing sits below the packages that implement it.
after_insert_factory: Callable[[], AfterInsert | None] = lambda: None  # noqa: E731


@sensing_app.command("ingest")
def ingest(ctx: typer.Context) -> None:
    """Run the MQTT ingester in the foreground (when the server runs with HYPERVISEUR_SENSING_INGEST=false)."""
    import signal
    import threading

    from sensing.mqtt import MqttIngester
    from twin.broker import broker_address

    settings = ctx.obj["settings"]()
    host, port = broker_address(settings)
    ingester = MqttIngester(
        ctx.obj["database_url"](),
        host=host,
        port=port,
        prefix=settings.mqtt.topic_prefix,
        client_id=settings.mqtt.client_id,
        after_insert=after_insert_factory(),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ingester.start(background=True)
    typer.echo(f"ingesting {ingester.topic_filter} from mqtt://{host}:{port} (Ctrl-C stops)")
    stop.wait()
    ingester.stop()
    totals = ingester.stats.totals
    typer.echo(
        f"{totals.inserted} readings stored, {totals.duplicates} duplicates, {totals.rejected} rejected"
    )


@sensing_app.command("replay")
def replay(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="Wide CSV (Timestamp;p227;p235;…, ';' and decimal commas), .gz ok")
    ],
    sensor_prefix: Annotated[
        str,
        typer.Option(help="Prefix added to each column header to find the sensor by name in twin.sensors"),
    ] = "",
    speed: Annotated[
        float | None,
        typer.Option(help="Pace in data time (60: an hour of data per minute); default as fast as possible"),
    ] = None,
    timezone: Annotated[str, typer.Option(help="IANA zone of times written without offset")] = "UTC",
    encoding: Annotated[str, typer.Option(help="Text encoding of the file")] = "utf-8",
    detect: Annotated[
        bool, typer.Option(help="Run detection and incident correlation on the replayed readings")
    ] = True,
    territory: Annotated[
        str | None, typer.Option(help="Look the sensors up in this territory (name or id) only")
    ] = None,
) -> None:
    """Store the readings of FILE once each (replaying it again stores nothing new); bad rows go to sensing.rejected."""
    from sensing.replay import replay_csv

    report = replay_csv(
        ctx.obj["database_url"](),
        file,
        sensor_prefix=sensor_prefix,
        timezone=timezone,
        speed=speed,
        encoding=encoding,
        after_insert=after_insert_factory() if detect else None,
        territory=territory,
    )
    typer.echo(report.summary())


@sensing_app.command("import-telraam")
def import_telraam_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="Telraam hourly export, e.g. opendata_fr/chateaubourg_telraam/*.csv.gz")
    ],
    territory: Annotated[
        str, typer.Option(help="Territory of the sensors (created if absent)")
    ] = "Châteaubourg",
    min_uptime: Annotated[
        float, typer.Option(help="Hours counted for less than this part of their length are refused")
    ] = 0.5,
) -> None:
    """Register the Telraam segments' sensors and store their trusted hours once (docs/sensing-data.md)."""
    from sensing.datasets.telraam import import_telraam

    report = import_telraam(ctx.obj["database_url"](), file, territory_name=territory, min_uptime=min_uptime)
    typer.echo(report.summary())


@sensing_app.command("import-montpellier-counts")
def import_montpellier_counts_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="VilleMTP_MTP_Comptage.csv (Latin-1)")],
    streets: Annotated[
        Path, typer.Option(help="VilleMTP_MTP_FilaireVoies.zip: the street arcs that place the count points")
    ],
    territory: Annotated[
        str, typer.Option(help="Territory of the sensors (created if absent)")
    ] = "Montpellier",
) -> None:
    """Register Montpellier's count points and store each campaign's TJM/24, PHJM, PHJS once (docs/sensing-data.md)."""
    from sensing.datasets.montpellier_counts import import_montpellier_counts

    report = import_montpellier_counts(ctx.obj["database_url"](), file, streets, territory_name=territory)
    typer.echo(report.summary())


@sensing_app.command("rollup")
def rollup_command(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--from", help="Recompute every sensor day from this ISO time (with --to)")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="End (exclusive) of the recomputed range")] = None,
) -> None:
    """Roll readings up into hourly and daily buckets: what arrived since the last run, or a whole range."""
    from datetime import datetime

    from sensing.rollup import roll_up
    from twin.db import connect

    def instant(text: str | None, name: str) -> datetime | None:
        if text is None:
            return None
        at = datetime.fromisoformat(text)
        if at.tzinfo is None:
            raise typer.BadParameter(f"{text} has no offset: add Z or +01:00", param_hint=name)
        return at

    with connect(ctx.obj["database_url"]()) as conn:
        report = roll_up(conn, since=instant(since, "--from"), until=instant(until, "--to"))
    typer.echo(report.summary())


@sensing_app.command("prune")
def prune_command(
    ctx: typer.Context,
    raw_retention_days: Annotated[
        int | None,
        typer.Option(
            min=0, help="Drop raw monthly partitions older than this once rolled up (default: setting)"
        ),
    ] = None,
    rejected_retention_days: Annotated[
        int, typer.Option(min=0, help="Delete refused readings older than this (0 keeps all)")
    ] = 90,
) -> None:
    """Apply retention now: roll up, drop old raw partitions (rollups stay), prune old refusals."""
    from sensing.retention import apply_retention

    days = raw_retention_days
    if days is None:
        days = ctx.obj["settings"]().sensing.raw_retention_days
    report = apply_retention(
        ctx.obj["database_url"](), raw_retention_days=days, rejected_retention_days=rejected_retention_days
    )
    typer.echo(report.summary())


@sensing_app.command("simulate")
def simulate_command(
    ctx: typer.Context,
    speed: Annotated[
        float, typer.Option(help="Time acceleration until the clock reaches now (60: an hour per minute)")
    ] = 60.0,
    duration_s: Annotated[
        float | None, typer.Option("--duration-s", help="Stop after this many wall seconds (default: run on)")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the noise, faults and incidents (same seed, same readings)")
    ] = 7,
    rate: Annotated[float | None, typer.Option(help="Cap on readings published per second")] = None,
    lookback_s: Annotated[
        float,
        typer.Option("--lookback-s", help="Start this many seconds in the past (history for the console)"),
    ] = 6 * 3600,
    territory: Annotated[
        str | None, typer.Option(help="Territory name (default: Helsinki (centre), else the first one)")
    ] = None,
    incidents_per_day: Annotated[float, typer.Option(help="Leaks, NO2 episodes, congestions per day")] = 4.0,
    faults_per_sensor_day: Annotated[float, typer.Option(help="Silences, stuck values, outliers")] = 0.3,
) -> None:
    """Register the demo sensors and publish realistic readings of them to the MQTT broker."""
    import psycopg

    from sensing.simulator import SimulationConfig, simulate
    from twin.broker import broker_address
    from twin.errors import InvalidInput, NotFound
    from twin.settings import Settings

    if rate is not None and rate <= 0:
        raise InvalidInput("--rate must be positive (readings per second)")
    if lookback_s < 0 or incidents_per_day < 0 or faults_per_sensor_day < 0:
        raise InvalidInput("--lookback-s, --incidents-per-day and --faults-per-sensor-day cannot be negative")
    settings = Settings()
    url = ctx.obj["database_url"]()
    territory_id = None
    if territory is not None:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT id FROM twin.territory WHERE name = %s", (territory,)).fetchone()
        if row is None:
            raise NotFound(f"no territory named {territory!r}: see `hyperviseur import` to import one")
        territory_id = int(row[0])
    host, port = broker_address(settings)
    config = SimulationConfig(
        seed=seed, incidents_per_day=incidents_per_day, faults_per_sensor_day=faults_per_sensor_day
    )
    typer.echo(f"publishing simulated readings to mqtt://{host}:{port} ({speed:g}× until now, then live)")
    stats = simulate(
        url,
        host=host,
        port=port,
        prefix=settings.mqtt.topic_prefix,
        territory_id=territory_id,
        config=config,
        speed=speed,
        rate=rate,
        lookback_s=lookback_s,
        duration_s=duration_s,
    )
    typer.echo(f"{stats.published} readings published over {stats.steps} steps (up to {stats.last_step})")
