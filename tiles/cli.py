"""``hyperviseur import raster …``: the raster importer's command, added to the ``import`` group by the CLI root.

``layers`` may not import ``tiles`` (import-linter), so this command cannot live in ``layers/cli.py``; the
composition root (``twin/cli.py``) calls :func:`add_raster_commands` on the ``import`` group instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def import_raster_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="Raster file: GeoTIFF, ASCII grid (.asc + .prj), any GDAL raster")
    ],
    name: Annotated[
        str, typer.Option(help="Name in URLs (/raster/NAME/...): lowercase, digits, underscores")
    ],
    territory: Annotated[str, typer.Option(help="Existing territory the raster belongs to")],
    title_fr: Annotated[
        str | None, typer.Option(help="Title shown in the console (default: the name)")
    ] = None,
    title_en: Annotated[str | None, typer.Option(help="English title (default: the French one)")] = None,
    description_fr: Annotated[str, typer.Option(help="Description shown in the console")] = "",
    unit: Annotated[str | None, typer.Option(help="Unit of the values, e.g. m or µg/m³")] = None,
    visibility: Annotated[
        str, typer.Option(help="public (anyone), internal (signed-in agents) or restricted (named roles)")
    ] = "internal",
    nodata: Annotated[float | None, typer.Option(help="Nodata value, overriding the file's")] = None,
    replace: Annotated[bool, typer.Option(help="Replace the raster of the same name")] = False,
) -> None:
    """Import a raster as a Cloud-Optimised GeoTIFF served by /raster tiles (everything or nothing)."""
    from tiles.raster import import_raster
    from twin.settings import DatabaseSettings

    report = import_raster(
        ctx.obj["database_url"](),
        file,
        name=name,
        territory_name=territory,
        title_fr=title_fr,
        title_en=title_en,
        description_fr=description_fr,
        unit=unit,
        visibility=visibility,
        nodata=nodata,
        replace=replace,
        var_dir=DatabaseSettings().var_dir,
        progress=typer.echo,
    )
    typer.echo(report.summary())


def add_raster_commands(import_app: typer.Typer) -> None:
    """Add ``raster`` to the ``hyperviseur import`` group (idempotent)."""
    if any(command.name == "raster" for command in import_app.registered_commands):
        return
    import_app.command("raster")(import_raster_command)
