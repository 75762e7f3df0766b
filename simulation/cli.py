"""``hyperviseur synthesize …`` and ``hyperviseur dependencies …``: lay a synthetic water network, derive links.

Thin commands: each parses its options and calls the module that does the work.
"""

from __future__ import annotations

from typing import Annotated

import typer

synthesize_app = typer.Typer(
    help="Lay plausible synthetic networks (marked synthetic everywhere) when a territory has none.",
    no_args_is_help=True,
)
dependencies_app = typer.Typer(
    help="The dependency model: derive the links between assets, show them.", no_args_is_help=True
)

# Commands are added below by the modules' owners: synthesize_app.command("water"), dependencies_app.command(...).


@synthesize_app.command("water")
def synthesize_water_command(
    ctx: typer.Context,
    territory: Annotated[
        str | None, typer.Argument(help="Territory name or id (default: the only, or first, territory)")
    ] = None,
    replace_synthetic: Annotated[
        bool,
        typer.Option("--replace-synthetic", help="Replace a previous synthetic network (never real data)"),
    ] = False,
    seed: Annotated[
        int, typer.Option(help="Seed of the loops kept: the same seed lays the same network")
    ] = 0,
    per_capita_l_day: Annotated[
        float, typer.Option("--per-capita-l-day", help="Consumption per resident, litres per day")
    ] = 150.0,
) -> None:
    """Lay a synthetic water network under the streets of a territory that has none (marked synthetic)."""
    from simulation.water.synthesize import synthesize_water

    report = synthesize_water(
        ctx.obj["database_url"](),
        territory,
        replace_synthetic=replace_synthetic,
        seed=seed,
        per_capita_l_day=per_capita_l_day,
        progress=typer.echo,
    )
    typer.echo(report.summary())
    # Buildings hang from the new junctions only once the links are derived again.
    from simulation.dependencies.cli_commands import derive_command

    derive_command(ctx.obj["database_url"](), report.territory, echo=typer.echo)


@dependencies_app.command("derive")
def derive_dependencies_command(
    ctx: typer.Context,
    territory: Annotated[
        str | None, typer.Argument(help="Territory name or id (default: every territory)")
    ] = None,
) -> None:
    """Derive the dependency links from geometry and store them (edited links are kept)."""
    from simulation.dependencies.cli_commands import derive_command

    derive_command(ctx.obj["database_url"](), territory, echo=typer.echo)


@dependencies_app.command("show")
def show_dependencies_command(
    ctx: typer.Context,
    territory: Annotated[str, typer.Argument(help="Territory name or id")],
    layer: Annotated[str, typer.Option(help="Layer of the asset, e.g. buildings, street_lights")],
    asset_id: Annotated[int, typer.Option("--id", help="Id of the asset in that layer")],
) -> None:
    """Print (JSON) what an asset depends on, down to the water sources, and what depends on it."""
    from simulation.dependencies.cli_commands import show_command

    show_command(ctx.obj["database_url"](), territory, layer, asset_id, echo=typer.echo)
