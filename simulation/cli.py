"""``hyperviseur synthesize …`` and ``hyperviseur dependencies …``: lay a synthetic water network, derive links.

Thin commands: each parses its options and calls the module that does the work.
"""

from __future__ import annotations

import typer

synthesize_app = typer.Typer(
    help="Lay plausible synthetic networks (marked synthetic everywhere) when a territory has none.",
    no_args_is_help=True,
)
dependencies_app = typer.Typer(
    help="The dependency model: derive the links between assets, show them.", no_args_is_help=True
)

# Commands are added below by the modules' owners: synthesize_app.command("water"), dependencies_app.command(...).
