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
    )
    typer.echo(report.summary())
