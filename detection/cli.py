"""``hyperviseur detection …``: learn weekly profiles, re-run detection over stored readings, data quality."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import psycopg
import typer

from detection.model import Detection
from twin.errors import InvalidInput

detection_app = typer.Typer(
    help="Detection: learn profiles, scan stored readings, data quality.", no_args_is_help=True
)

#: Called with each scanned batch's detections (incident correlation). Set by the composition root
#: (twin/cli.py) because detection sits below incidents.
on_detections: Callable[[psycopg.Connection, list[Detection]], None] | None = None

_FROM = typer.Option("--from", help="Start, ISO 8601 (a date or a time; UTC when no offset)")
_TO = typer.Option("--to", help="End (excluded), ISO 8601")


def parse_when(text: str, option: str) -> datetime:
    """An aware instant from ISO 8601 text; naive times are UTC.

    Examples
    --------
    >>> parse_when("2019-01-15", "--from").isoformat()
    '2019-01-15T00:00:00+00:00'
    """
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not ISO 8601; write e.g. 2019-01-15 or 2019-01-15T03:00Z"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _sensor_ids(conn: psycopg.Connection, names: list[str]) -> list[int] | None:
    if not names:
        return None
    rows = conn.execute("SELECT name, id FROM twin.sensors WHERE name = ANY(%s)", (names,)).fetchall()
    found = {name: int(i) for name, i in rows}
    missing = [n for n in names if n not in found]
    if missing:
        raise InvalidInput(f"no sensor named {', '.join(missing)} in twin.sensors")
    return [found[n] for n in names]


@detection_app.command("learn")
def learn(
    ctx: typer.Context,
    start: Annotated[str, _FROM],
    end: Annotated[str, _TO],
    sensor: Annotated[
        list[str] | None, typer.Option(help="Sensor name (repeatable); default every sensor")
    ] = None,
    slot_minutes: Annotated[int, typer.Option(help="Width of a profile slot")] = 60,
    timezone: Annotated[str, typer.Option(help="IANA zone the week's slots follow")] = "Europe/Paris",
) -> None:
    """Learn each sensor's weekly profile (median and MAD per slot) from its readings of the period."""
    from detection.profiles import learn_profiles

    start_at, end_at = parse_when(start, "--from"), parse_when(end, "--to")
    with psycopg.connect(ctx.obj["database_url"]()) as conn:
        ids = _sensor_ids(conn, sensor or [])
        report = learn_profiles(conn, ids, start_at, end_at, slot_s=slot_minutes * 60, timezone=timezone)
    typer.echo(report.summary())


@detection_app.command("scan")
def scan(
    ctx: typer.Context,
    start: Annotated[str, _FROM],
    end: Annotated[str, _TO],
    sensor: Annotated[
        list[str] | None, typer.Option(help="Sensor name (repeatable); default every sensor")
    ] = None,
    live: Annotated[bool, typer.Option(help="Announce the detections on the live stream")] = False,
) -> None:
    """Re-run detection over the stored readings of the period (idempotent: a second scan writes nothing)."""
    from detection.engine import Detector

    start_at, end_at = parse_when(start, "--from"), parse_when(end, "--to")
    if end_at <= start_at:
        raise InvalidInput(f"the period is empty: --to {end} is not after --from {start}")
    with psycopg.connect(ctx.obj["database_url"]()) as conn:
        ids = _sensor_ids(conn, sensor or [])
        report = Detector(emit_events=live).scan(conn, start_at, end_at, ids, on_detections=on_detections)
    typer.echo(report.summary())


@detection_app.command("quality")
def quality(
    ctx: typer.Context,
    start: Annotated[str, _FROM],
    end: Annotated[str, _TO],
    sensor: Annotated[
        list[str] | None, typer.Option(help="Sensor name (repeatable); default every sensor")
    ] = None,
) -> None:
    """Uptime, gaps and rejected readings of each sensor over the period."""
    from sensing.quality import data_quality

    start_at, end_at = parse_when(start, "--from"), parse_when(end, "--to")
    with psycopg.connect(ctx.obj["database_url"]()) as conn:
        ids = _sensor_ids(conn, sensor or [])
        rows = data_quality(conn, ids, start_at, end_at)
    typer.echo("sensor\tuptime %\treadings\tgaps\tlongest gap (h)\trejected")
    for q in rows:
        typer.echo(
            f"{q.name}\t{q.uptime_pct:.1f}\t{q.readings}\t{q.gaps}\t{q.longest_gap_s / 3600:.1f}\t{q.rejected}"
        )
