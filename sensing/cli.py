"""``hyperviseur sensing …``: replay files of readings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

sensing_app = typer.Typer(help="Sensor readings: replay files into sensing.readings.", no_args_is_help=True)


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
    )
    typer.echo(report.summary())
