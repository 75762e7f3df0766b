"""The dependency links persisted in ``simulation.dependency_links``: saved at derivation, read back with edits.

One row per dependent, link kind and origin. :func:`save_derived` replaces a territory's derived rows in one
transaction (``COPY``: a city's hundred thousand links in about a second); rows a person edited survive it,
and :func:`load_dependency_model` lays them over the derived ones (an edited row wins; one without provider
says "no such provider"). Sensor links stated in ``twin.sensors`` are re-read at every derivation: they are
stored as edited rows by :data:`STATED_BY`, replaced by the next derivation unless a person edited them since.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Collection
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import tuple_row

from routing.network import road_network_from_db
from routing.resident import TerritoryGraph
from simulation.dependencies.derive import (
    DEPENDENT_COLUMNS,
    SENSOR_KINDS_SQL,
    dependency_model_from_twin,
    drivable_edge_ids,
    provider_table,
    territory_row,
)
from simulation.dependencies.feeders import derive_feeders
from simulation.dependencies.model import (
    DEFAULT_MAX_M,
    FEEDER_LAYER,
    Assets,
    DependencyModel,
    Edit,
    LinkSet,
    apply_edits,
    assets_from_rows,
    sensor_layer,
)
from twin.db import connect
from twin.errors import NotFound

log = logging.getLogger(__name__)

STATED_BY = "twin.sensors"  # updated_by of sensor links stated in twin.sensors (asset_layer, asset_id)
DERIVED_BY = "import"
_COPY_COLUMNS = (
    "territory_id, kind, dependent_layer, dependent_id, provider_layer, provider_id, position, distance_m,"
    " origin, updated_by"
)
# Derivations of one territory never interleave (two first reads of a server, the CLI during an import).
_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('simulation.dependency_links'), %s)"
_ROWS_SQL = """
SELECT l.kind, l.dependent_layer, l.provider_layer, l.dependent_id, l.provider_id, l.distance_m, l.position,
       j.name, l.updated_by
  FROM simulation.dependency_links l
  LEFT JOIN twin.water_junctions j ON l.provider_layer = 'water_junctions' AND j.id = l.provider_id
 WHERE l.territory_id = %s AND l.origin = %s
 ORDER BY l.kind, l.dependent_layer, l.provider_layer, l.dependent_id
"""
# The main link sets every derivation produces, in its order; power-feed ones when feeders are known.
_PLAN: tuple[tuple[str, str, str], ...] = (
    ("road_access", "buildings", "road_edges"),
    ("road_access", "critical_sites", "road_edges"),
    ("water_service", "buildings", "water_junctions"),
    ("street_light_road", "street_lights", "road_edges"),
)
_FEED_PLAN: tuple[tuple[str, str, str], ...] = (
    ("power_feed", "street_lights", FEEDER_LAYER),
    ("power_feed", "water_pumps", FEEDER_LAYER),
)


def _f(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def save_derived(
    conn: psycopg.Connection[Any],
    model: DependencyModel,
    *,
    updated_by: str = DERIVED_BY,
    kinds: Collection[str] | None = None,
) -> int:
    """Replace the territory's derived rows by ``model``'s links, in one transaction; returns rows written.

    Edited rows survive; the sensor links stated in ``twin.sensors`` are rewritten (as edited rows by
    :data:`STATED_BY`) unless a person edited that sensor's link since. With ``kinds``, only the rows of
    those link kinds are replaced (``model`` derived with the same ``kinds``).
    """
    tid = model.territory_id
    only = None if kinds is None else list(kinds)
    written = 0
    with conn.transaction():
        conn.execute(_LOCK_SQL, (tid,))
        conn.execute(
            "DELETE FROM simulation.dependency_links WHERE territory_id = %s"
            " AND (origin = 'derived' OR (origin = 'edited' AND updated_by = %s))"
            " AND (%s::text[] IS NULL OR kind = ANY(%s::text[]))",
            (tid, STATED_BY, only, only),
        )
        stated: list[tuple[Any, ...]] = []
        cur = conn.cursor()
        with cur.copy(f"COPY simulation.dependency_links ({_COPY_COLUMNS}) FROM STDIN") as copy:
            for s in model.link_sets:
                for i in range(len(s)):
                    row = (
                        tid,
                        s.kind,
                        s.dependent_layer,
                        int(s.dependent_ids[i]),
                        s.provider_layer,
                        int(s.provider_ids[i]),
                        _f(s.position[i]),
                        _f(s.distance_m[i]),
                    )
                    if s.edited[i]:
                        stated.append(row)
                    else:
                        copy.write_row((*row, "derived", updated_by))
                        written += 1
        if stated:
            cur.executemany(
                f"INSERT INTO simulation.dependency_links ({_COPY_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'edited', %s) ON CONFLICT DO NOTHING",
                [(*row, STATED_BY) for row in stated],
            )
            written += len(stated)
    return written


def road_graph_of(url: str, territory_id: int, profile: str = "emergency") -> TerritoryGraph | None:
    """The territory's road graph for ``profile`` (no closures: they do not change which arcs are drivable),
    or None when it has no road network."""
    try:
        with psycopg.connect(url) as conn:
            network = road_network_from_db(conn, territory_id)
    except NotFound:
        return None
    return TerritoryGraph(network, use_cch=False, profiles=(profile,))


def derive_and_save(
    url: str,
    territory: int | str,
    *,
    road_graph: TerritoryGraph | None = None,
    profile: str = "emergency",
    updated_by: str = DERIVED_BY,
    kinds: Collection[str] | None = None,
) -> dict[str, Any]:
    """Derive every link of a territory (feeders from the lights' cabinets first) and store them.

    ``kinds``: only these link kinds (``("power_feed",)`` after a feeder was added or deleted).

    Returns
    -------
    dict
        ``territory``, ``territory_id``, ``rows`` written, ``cabinet_key`` (None: lights name no cabinet),
        ``derived_feeders``, ``derive_s`` and ``save_s`` (seconds), and the model's ``summary``.
    """
    started = time.perf_counter()
    with connect(url) as conn:
        tid, name, _ = territory_row(conn.cursor(row_factory=tuple_row), territory)
        with conn.transaction():
            conn.execute(_LOCK_SQL, (tid,))
            key, feeders = derive_feeders(conn, tid)
    needs_graph = kinds is None or "road_access" in kinds
    graph = road_graph if road_graph is not None or not needs_graph else road_graph_of(url, tid, profile)
    model = dependency_model_from_twin(
        url, tid, road_graph=graph, profile=profile, cabinet_key=key, kinds=kinds
    )
    derived = time.perf_counter()
    with connect(url) as conn:
        rows = save_derived(conn, model, updated_by=updated_by, kinds=kinds)
    saved = time.perf_counter()
    log.info(
        "dependency links of %s derived in %.1f s, %d rows saved in %.1f s",
        name,
        derived - started,
        rows,
        saved - derived,
    )
    return {
        "territory": name,
        "territory_id": tid,
        "rows": rows,
        "cabinet_key": key,
        "derived_feeders": feeders,
        "derive_s": round(derived - started, 3),
        "save_s": round(saved - derived, 3),
        "summary": model.summary(),
    }


def load_dependency_model(
    url: str, territory: int | str, road_graph: TerritoryGraph | None = None, *, profile: str = "emergency"
) -> DependencyModel:
    """The territory's stored links with the edited ones laid over them (deriving and saving them first when
    the territory has none): the same :class:`DependencyModel` as :func:`dependency_model_from_twin`.

    With ``road_graph``, road-access links to arcs ``profile`` may not travel (an edit made before a street
    became pedestrian) are left out, so that the access model can use every link.

    Raises
    ------
    NotFound
        No such territory.
    """
    with connect(url) as conn:
        cur = conn.cursor(row_factory=tuple_row)
        tid, name, crs = territory_row(cur, territory)
        if road_graph is not None and road_graph.territory_id != tid:
            raise NotFound(f"road_graph is the graph of territory {road_graph.territory_id}, not of {name!r}")
        stored = cur.execute(
            "SELECT EXISTS (SELECT 1 FROM simulation.dependency_links WHERE territory_id = %s)", (tid,)
        ).fetchone()
    if not (stored and stored[0]):
        derive_and_save(url, tid, road_graph=road_graph, profile=profile)
    drivable = None if road_graph is None else drivable_edge_ids(road_graph, profile)
    with connect(url) as conn:
        return model_from_store(conn.cursor(row_factory=tuple_row), tid, name, crs, drivable=drivable)


def model_from_store(
    cur: psycopg.Cursor[tuple[Any, ...]], tid: int, name: str, crs: int, *, drivable: np.ndarray | None = None
) -> DependencyModel:
    """Read assets and derived rows, then lay the edited rows over them."""
    has_feeders = cur.execute(
        "SELECT EXISTS (SELECT 1 FROM simulation.power_feeders WHERE territory_id = %s)", (tid,)
    ).fetchone()
    plan = _PLAN + (_FEED_PLAN if has_feeders and has_feeders[0] else ())
    layers = dict.fromkeys([d for _, d, _ in plan] + ["sensors"])
    assets = {layer: _assets(cur, layer, tid) for layer in layers}
    derived = cur.execute(_ROWS_SQL, (tid, "derived")).fetchall()
    groups: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
    for r in derived:
        groups.setdefault((r[0], r[1], r[2]), []).append(r)
    sensor_kinds = dict(cur.execute(SENSOR_KINDS_SQL, {"t": tid}).fetchall())
    edited = cur.execute(_ROWS_SQL, (tid, "edited")).fetchall()
    stated_sensors = {int(r[3]) for r in edited if r[0] == "sensor_asset" and r[8] == STATED_BY}
    sets = [_link_set(key, groups.get(key, []), assets, drivable) for key in plan]
    sensors = assets["sensors"]
    candidates: dict[str, set[int]] = {}
    for i, kind in enumerate(sensors.kinds):
        layer = sensor_layer(str(kind), sensor_kinds.get(kind))
        if layer is not None and int(sensors.ids[i]) not in stated_sensors:
            candidates.setdefault(layer, set()).add(int(sensors.ids[i]))
    sensor_layers = sorted({k[2] for k in groups if k[0] == "sensor_asset"} | set(candidates))
    for layer in sensor_layers:
        key = ("sensor_asset", "sensors", layer)
        s = _link_set(key, groups.get(key, []), assets, None)
        unlinked = np.array(
            sorted(candidates.get(layer, set()) - set(s.dependent_ids.tolist())), dtype=np.int64
        )
        sets.append(dataclasses.replace(s, unlinked_ids=unlinked))
    model = DependencyModel(tid, name, crs, assets, tuple(sets))
    return apply_edits(model, _edits(cur, tid, edited, drivable))


def _assets(cur: psycopg.Cursor[tuple[Any, ...]], layer: str, tid: int) -> Assets:
    rows = cur.execute(
        f"SELECT d.id, {DEPENDENT_COLUMNS[layer]} FROM twin.{layer} d WHERE d.territory_id = %s ORDER BY d.id",
        (tid,),
    ).fetchall()
    return assets_from_rows(layer, rows)


def _link_set(
    key: tuple[str, str, str],
    rows: list[tuple[Any, ...]],
    assets: dict[str, Assets],
    drivable: np.ndarray | None,
) -> LinkSet:
    kind, dependent, provider = key
    ids = assets[dependent].ids
    dep = np.array([r[3] for r in rows], dtype=np.int64)
    prov = np.array([r[4] for r in rows], dtype=np.int64)
    keep = np.isin(dep, ids)  # a dependent deleted since the derivation
    if provider == "water_junctions":
        keep &= np.array([r[7] is not None for r in rows], dtype=bool)  # a junction deleted since
    if drivable is not None and kind == "road_access":
        keep &= np.isin(prov, drivable)
    picked = [r for r, k in zip(rows, keep.tolist(), strict=True) if k]
    linked = dep[keep]
    return LinkSet(
        kind=kind,
        dependent_layer=dependent,
        provider_layer=provider,
        dependent_ids=linked,
        provider_ids=prov[keep],
        distance_m=np.array([np.nan if r[5] is None else r[5] for r in picked], dtype=np.float64),
        position=np.array([np.nan if r[6] is None else r[6] for r in picked], dtype=np.float64),
        edited=np.zeros(len(picked), dtype=bool),
        max_distance_m=DEFAULT_MAX_M.get((kind, dependent), float("nan")),
        unlinked_ids=ids[~np.isin(ids, linked)] if kind != "sensor_asset" else np.zeros(0, dtype=np.int64),
        provider_names=tuple(str(r[7]) for r in picked) if provider == "water_junctions" else None,
    )


def _edits(
    cur: psycopg.Cursor[tuple[Any, ...]], tid: int, rows: list[tuple[Any, ...]], drivable: np.ndarray | None
) -> list[Edit]:
    """Edited rows whose provider still exists (and is drivable, for road access with a graph)."""
    wanted: dict[str, set[int]] = {}
    for r in rows:
        if r[4] is not None:
            wanted.setdefault(str(r[2]), set()).add(int(r[4]))
    existing = {
        layer: {
            int(x[0])
            for x in cur.execute(
                f"SELECT id FROM {provider_table(layer)} WHERE territory_id = %s AND id = ANY(%s)",
                (tid, sorted(ids)),
            ).fetchall()
        }
        for layer, ids in wanted.items()
    }
    edits = []
    for r in rows:
        kind, dependent, provider, dep_id, prov_id, distance, position, junction = r[:8]
        if prov_id is not None and int(prov_id) not in existing.get(provider, set()):
            log.warning(
                "edited %s link of %s %s names a deleted %s %s: left out",
                kind,
                dependent,
                dep_id,
                provider,
                prov_id,
            )
            continue
        if prov_id is not None and drivable is not None and kind == "road_access" and prov_id not in drivable:
            log.warning(
                "edited road access of %s %s names arc %s, not drivable: left out", dependent, dep_id, prov_id
            )
            continue
        edits.append(
            Edit(
                kind,
                dependent,
                int(dep_id),
                provider,
                None if prov_id is None else int(prov_id),
                distance,
                position,
                junction,
            )
        )
    return edits
