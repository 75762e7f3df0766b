"""``hyperviseur import …`` commands: thin wrappers that parse options and call the importers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from layers.model import ImportReport

import_app = typer.Typer(
    help="Import territory data (each import writes everything or nothing).", no_args_is_help=True
)


# Called with (database URL, territory name) after every successful import; set by the composition root
# (twin.cli) to derive what depends on the data (layers may not import simulation).
after_import: Callable[[str, str], None] | None = None


def _url(ctx: typer.Context) -> str:
    return ctx.obj["database_url"]()


def _finish(report: ImportReport, ctx: typer.Context | None = None, territory: str | None = None) -> None:
    typer.echo(report.summary())
    if after_import is not None and ctx is not None and territory:
        after_import(_url(ctx), territory)


@import_app.command("osm")
def import_osm_command(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="OSM extract (.osm.pbf)")] = None,
    place: Annotated[
        str | None, typer.Option(help='Download through osmnx, e.g. "Sète, France" (needs network)')
    ] = None,
    territory: Annotated[
        str | None, typer.Option(help="Territory name (default: from the file name)")
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="Projected CRS for metric work (default: chosen automatically)")
    ] = None,
) -> None:
    """Import roads (drivable graph), buildings, critical sites and street lamps from OpenStreetMap."""
    from layers.importers.osm import import_osm

    if (file is None) == (place is None):
        raise typer.BadParameter("give either a FILE or --place, not both and not neither")
    from layers.importers._osm_tags import territory_name_from_path

    report = import_osm(_url(ctx), file, place=place, territory_name=territory, crs=crs, progress=typer.echo)
    name = territory or (territory_name_from_path(file) if file else str(place).split(",")[0].strip())
    _finish(report, ctx, name)


@import_app.command("gis")
def import_gis_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="GeoPackage, GeoJSON, Shapefile (.shp or .zip)")],
    layer: Annotated[
        str, typer.Option(help="Target layer: street_lights, buildings, critical_sites, roads, or a new name")
    ],
    territory: Annotated[str, typer.Option(help="Territory to import into (created if missing)")],
    crs: Annotated[
        str | None,
        typer.Option(
            help="CRS of the file's coordinates (e.g. 2154); required when the file declares none, overrides a wrong one"
        ),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Attribute encoding, e.g. latin-1")] = None,
    source_layer: Annotated[
        str | None, typer.Option(help="Layer inside a multi-layer file (GeoPackage)")
    ] = None,
    append: Annotated[bool, typer.Option(help="Append instead of replacing this layer's features")] = False,
) -> None:
    """Import a GIS file into a layer of a territory, reprojected to WGS84 with metric values computed."""
    from layers.importers.gis import import_gis

    _finish(
        import_gis(
            _url(ctx),
            file,
            layer=layer,
            territory_name=territory,
            crs=crs,
            encoding=encoding,
            source_layer=source_layer,
            append=append,
            progress=typer.echo,
        ),
        ctx,
        territory,
    )


@import_app.command("epanet")
def import_epanet_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="EPANET network (.inp)")],
    crs: Annotated[str, typer.Option(help="CRS of the .inp coordinates (after --offset), e.g. 2154")],
    territory: Annotated[str, typer.Option(help="Territory to import into (created if missing)")],
    offset: Annotated[str | None, typer.Option(help="dx,dy added to every coordinate, in CRS units")] = None,
) -> None:
    """Import a water network (junctions, pipes, valves, pumps, tanks, reservoirs) through wntr."""
    from layers.importers.epanet import import_epanet

    _finish(
        import_epanet(_url(ctx), file, crs=crs, territory_name=territory, offset=offset, progress=typer.echo),
        ctx,
        territory,
    )
