"""What ``hyperviseur dependencies derive|show`` do (``twin.cli`` also derives after every import)."""

from __future__ import annotations

import json
from collections.abc import Callable

from simulation.dependencies.describe import asset_dependencies
from simulation.dependencies.store import derive_and_save
from twin.db import connect

Echo = Callable[[str], None]


def derive_command(url: str, territory: str | None, *, echo: Echo) -> None:
    """Derive and store the links of one territory, or of every territory; one line per link set."""
    if territory is None:
        with connect(url) as conn:
            names = [str(r["name"]) for r in conn.execute("SELECT name FROM twin.territory ORDER BY id")]
    else:
        names = [territory]
    for name in names:
        result = derive_and_save(url, name)
        echo(
            f"{result['territory']}: {result['rows']:,} links stored (derived in {result['derive_s']:.1f} s,"
            f" saved in {result['save_s']:.1f} s)"
            + (
                f"; {result['derived_feeders']} feeders from attribute {result['cabinet_key']!r}"
                if result["cabinet_key"]
                else ""
            )
        )
        for s in result["summary"]["link_sets"]:
            echo(
                f"  {s['kind']:<18} {s['dependent_layer']:>14} → {s['provider_layer']:<16}"
                f" {s['links']:>7,} links, {s['unlinked']:>6,} unlinked"
                + ("" if s["median_distance_m"] is None else f", median {s['median_distance_m']} m")
            )


def show_command(url: str, territory: str, layer: str, asset_id: int, *, echo: Echo) -> None:
    """Print one asset's providers, dependents and chain as JSON."""
    echo(
        json.dumps(
            asset_dependencies(url, territory, layer, asset_id), ensure_ascii=False, indent=2, default=str
        )
    )
