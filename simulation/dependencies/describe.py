"""One asset's dependencies as the API and the CLI show them, and the territory's counts, read from the store.

Both derive the territory's links first when it has none stored. ``visible(layer)`` says which layers the
caller may see: a link with an end in a hidden layer is left out, an asset of a hidden layer is not found, and
the water chain is given only to those who see the water network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from simulation.dependencies.chain import link_step, water_chain
from simulation.dependencies.derive import territory_row
from simulation.dependencies.links import asset_links, asset_name, check_layer, stored_summary
from simulation.dependencies.store import derive_and_save
from simulation.water.isolation import SegmentModel
from simulation.water.network import network_from_twin
from simulation.water.valves import default_isolation_valves
from twin.db import connect
from twin.errors import NotFound

Visible = Callable[[str], bool]
# The water network's segments, per territory, rebuilt after this long (the network changes rarely; a change
# shows in the chain within this delay).
SEGMENTS_TTL_S = 60.0
_segments: dict[int, tuple[float, SegmentModel | None]] = {}
_segments_lock = threading.Lock()


def _everything(_: str) -> bool:
    return True


def territory_of(url: str, territory: int | str) -> tuple[int, str, int]:
    """``(id, name, crs_epsg)``; NotFound when there is no such territory."""
    with connect(url) as conn:
        return territory_row(conn.cursor(row_factory=tuple_row), territory)


def ensure_derived(url: str, territory_id: int) -> None:
    """Derive and store the territory's links when it has none stored yet."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM simulation.dependency_links WHERE territory_id = %s)",
            (territory_id,),
        ).fetchone()
    if not (row and row[0]):
        derive_and_save(url, territory_id)


def segments_of(url: str, territory_id: int, name: str) -> SegmentModel | None:
    """The territory's water segments (default valve rule, as ``simulation.territory``), kept a minute."""
    now = time.monotonic()
    with _segments_lock:
        cached = _segments.get(territory_id)
        if cached is not None and now - cached[0] < SEGMENTS_TTL_S:
            return cached[1]
    try:
        network = network_from_twin(url, name)
        segments: SegmentModel | None = SegmentModel(network, default_isolation_valves(network))
    except NotFound:
        segments = None
    with _segments_lock:
        _segments[territory_id] = (now, segments)
    return segments


def _shown(link: dict[str, Any], visible: Visible) -> bool:
    return visible(link["dependent"]["layer"]) and visible(link["provider_layer"])


def asset_dependencies(
    url: str, territory: int | str, layer: str, asset_id: int, *, visible: Visible = _everything
) -> dict[str, Any]:
    """``{"territory", "asset", "providers", "dependents", "chain"}`` of one asset.

    Raises
    ------
    InvalidInput
        An unknown layer.
    NotFound
        No such territory, or no such asset in it (or its layer is hidden from the caller).
    """
    check_layer(layer)
    tid, name, _ = territory_of(url, territory)
    if not visible(layer):
        raise NotFound(
            f"no {layer} feature with id {asset_id} in this territory / aucun objet {layer} d'id {asset_id}"
        )
    with connect(url) as conn:
        asset_label = asset_name(conn, tid, layer, asset_id)
    ensure_derived(url, tid)
    with connect(url) as conn:
        links = asset_links(conn, tid, layer, asset_id)
    providers = [link for link in links["providers"] if _shown(link, visible)]
    dependents = [link for link in links["dependents"] if _shown(link, visible)]
    chain: list[dict[str, Any]] = []
    for link in providers:
        chain.append(link_step(link))
        provider = link["provider"]
        if link["kind"] == "water_service" and provider is not None and provider.get("name"):
            segments = segments_of(url, tid, name)
            if segments is not None and provider["name"] in segments.network.node_index:
                chain += water_chain(segments, str(provider["name"]))
    asset: dict[str, Any] = {"layer": layer, "id": asset_id}
    if asset_label:
        asset["name"] = asset_label
    return {
        "territory": {"id": tid, "name": name},
        "asset": asset,
        "providers": providers,
        "dependents": dependents,
        "chain": [{k: v for k, v in step.items() if k != "link"} for step in chain],
    }


def dependency_summary(url: str, territory: int | str, *, visible: Visible = _everything) -> dict[str, Any]:
    """Counts per kind and dependent layer (derived, edited, no provider, links, unlinked), and the feeders."""
    tid, name, _ = territory_of(url, territory)
    ensure_derived(url, tid)
    with connect(url) as conn:
        kinds = stored_summary(conn, tid)
        feeders = conn.execute(
            "SELECT count(*) AS n, count(*) FILTER (WHERE (attributes ->> 'derived')::boolean IS TRUE) AS derived"
            " FROM simulation.power_feeders WHERE territory_id = %s",
            (tid,),
        ).fetchone()
    kinds = [
        k
        for k in kinds
        if visible(k["dependent_layer"])
        and all(visible(p) for p in k["provider_layers"])
        and (k["kind"] != "water_service" or visible("water_junctions"))
    ]
    return {
        "territory": {"id": tid, "name": name},
        "kinds": kinds,
        "power_feeders": {"count": int(feeders["n"]), "derived": int(feeders["derived"])}
        if feeders
        else None,
    }
