"""``hyperviseur synthesize water``: lay a synthetic water network under a territory's streets, marked synthetic.

Reads the drivable street graph and the buildings of the twin, lays the network with
:mod:`simulation.water.synthetic_layout`, sizes a pump, a water tower and their source, and writes the six
water tables in one transaction. Every row's ``attributes`` says ``{"synthetic": true, "source":
"hyperviseur synthesize water", "method": …}`` (the tables' ``synthetic`` column, the OGC API and the tiles
show it); a territory with a real (imported or edited) network is refused, a previous synthetic one is only
replaced when asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import psycopg
import shapely

from layers.model import WATER_LAYERS
from layers.store import delete_layer, store_layer
from simulation.dependencies import DEFAULT_MAX_SERVICE_M
from simulation.water.synthetic_layout import Streets, lay_out
from simulation.water.synthetic_rows import DAILY_PATTERN, PER_CAPITA_L_DAY, water_frames
from twin.db import connect
from twin.errors import ImportRejected, InvalidInput, NotFound

_LAYERS = ("water_junctions", "water_tanks", "water_reservoirs", "water_pipes", "water_valves", "water_pumps")


@dataclass(frozen=True)
class SynthesisReport:
    """What was laid, for the command's summary and the tests."""

    territory_id: int
    territory: str
    junctions: int
    pipes: int
    loops: int
    pipes_km: float
    meshedness: float
    tank: str
    tank_volume_m3: float
    demand_m3_day: float
    residents_served: int
    buildings: int
    buildings_served: int
    street_nodes_dropped: int
    replaced: int
    seed: int
    per_capita_l_day: float
    duration_s: float

    def summary(self) -> str:
        share = self.buildings_served / self.buildings if self.buildings else 0.0
        return "\n".join(
            [
                f"synthetic water network of {self.territory!r} (seed {self.seed}):",
                f"  {self.junctions} junctions, {self.pipes} pipes ({self.loops} loops, meshedness "
                f"{self.meshedness:.2f}), {self.pipes_km:.1f} km",
                f"  source R1 + pump PU1, water tower {self.tank} ({self.tank_volume_m3:,.0f} m³)",
                f"  demand {self.demand_m3_day:,.0f} m³/day: {self.residents_served:,} residents × "
                f"{self.per_capita_l_day:g} L/day",
                f"  buildings served {self.buildings_served}/{self.buildings} ({share:.0%});"
                f" street nodes left out (off the main graph): {self.street_nodes_dropped}",
                *(
                    [f"  replaced {self.replaced} rows of the previous synthetic network"]
                    if self.replaced
                    else []
                ),
                f"  done in {self.duration_s:.1f} s — every row says synthetic: true",
            ]
        )


def synthesize_water(
    url: str,
    territory: int | str | None = None,
    *,
    replace_synthetic: bool = False,
    seed: int = 0,
    per_capita_l_day: float = PER_CAPITA_L_DAY,
    progress: Callable[[str], None] | None = None,
) -> SynthesisReport:
    """Lay and store a synthetic water network under the streets of ``territory``.

    Parameters
    ----------
    url : str
        Database URL.
    territory : int or str, optional
        Its id or name; by default the only territory, or the first one created.
    replace_synthetic : bool
        Replace a previous synthetic network (never real data).
    seed : int
        Chooses the minor loops kept; the same seed lays the same network.
    per_capita_l_day : float
        Consumption per resident, litres per day.

    Raises
    ------
    NotFound
        No such territory (or no territory at all).
    InvalidInput
        A bad seed or consumption, or a territory without streets.
    ImportRejected
        The territory already has a water network: a real one, or a synthetic one without
        ``replace_synthetic``. Nothing is written.
    """
    started = time.perf_counter()
    say = progress or (lambda _line: None)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidInput(f"seed must be a whole number between 0 and 2³²−1, not {seed!r}")
    if (
        isinstance(per_capita_l_day, bool)
        or not isinstance(per_capita_l_day, int | float)
        or not 0 < per_capita_l_day <= 2000
    ):
        raise InvalidInput(
            f"per_capita_l_day must be litres per person per day in (0, 2000], e.g. 150, not {per_capita_l_day!r}"
        )
    with connect(url) as conn:
        tid, name, crs = _territory(conn, territory)
        replaced = _check_existing(conn, tid, name, replace_synthetic=replace_synthetic)
        streets, street_lines = _streets(conn, tid, crs)
        buildings = _buildings(conn, tid, crs)
        say(
            f"{name}: {len(streets.node_ids)} street nodes, {len(streets.edge_ids)} streets, {len(buildings)} buildings"
        )
        per_resident_m3_s = per_capita_l_day / 1000.0 / 86400.0
        served: dict[str, Any] = {}

        def demand_at(junction_xy: np.ndarray) -> np.ndarray:
            served.update(_serve(buildings, junction_xy))
            demand = np.zeros(len(junction_xy))
            np.add.at(demand, served["junction"], served["residents"] * per_resident_m3_s)
            return demand

        layout = lay_out(streets, demand_at, peak_factor=max(DAILY_PATTERN), seed=seed)
        frames, tank_volume_m3 = water_frames(
            layout, streets, street_lines, crs, served, seed, per_capita_l_day
        )
        for layer in reversed(WATER_LAYERS):  # links reference nodes by name: replace as a whole
            delete_layer(conn, tid, layer)
        for layer, frame in frames.items():
            store_layer(conn, tid, layer, frame)
    pipes = frames["water_pipes"]
    return SynthesisReport(
        territory_id=tid,
        territory=name,
        junctions=len(layout.junction_node),
        pipes=len(pipes),
        loops=sum(role == "loop" for role in layout.pipe_role),
        pipes_km=float(pipes["length_m"].sum()) / 1000.0,
        meshedness=layout.meshedness,
        tank="T1",
        tank_volume_m3=tank_volume_m3,
        demand_m3_day=float(layout.junction_demand_m3_s.sum()) * 86400.0,
        residents_served=int(served["residents"].sum()),
        buildings=len(buildings),
        buildings_served=len(served["junction"]),
        street_nodes_dropped=layout.dropped_nodes,
        replaced=replaced,
        seed=seed,
        per_capita_l_day=float(per_capita_l_day),
        duration_s=time.perf_counter() - started,
    )


def synthesize_water_if_absent(url: str, territory: str, **options: Any) -> SynthesisReport | None:
    """Lay a synthetic network on ``territory`` if it exists and has no water network at all (the demo).

    Returns
    -------
    SynthesisReport or None
        None when the territory does not exist or already has a water network (nothing is written).
    """
    with connect(url) as conn:
        row = conn.execute(
            "SELECT t.id, EXISTS (SELECT 1 FROM twin.water_junctions j WHERE j.territory_id = t.id)"
            " OR EXISTS (SELECT 1 FROM twin.water_reservoirs r WHERE r.territory_id = t.id)"
            " OR EXISTS (SELECT 1 FROM twin.water_tanks k WHERE k.territory_id = t.id) AS has_water"
            " FROM twin.territory t WHERE t.name = %s",
            (territory,),
        ).fetchone()
    if row is None or row["has_water"]:
        return None
    return synthesize_water(url, int(row["id"]), **options)


def _territory(conn: psycopg.Connection[Any], territory: int | str | None) -> tuple[int, str, int]:
    if territory is None:
        row = conn.execute("SELECT id, name, crs_epsg FROM twin.territory ORDER BY id LIMIT 1").fetchone()
        if row is None:
            raise NotFound("no territory yet: import one first (`hyperviseur import osm`) / aucun territoire")
    else:
        row = conn.execute(
            "SELECT id, name, crs_epsg FROM twin.territory WHERE name = %(key)s OR id::text = %(key)s"
            " ORDER BY name = %(key)s DESC LIMIT 1 FOR UPDATE",
            {"key": str(territory)},
        ).fetchone()
        if row is None:
            names = [r["name"] for r in conn.execute("SELECT name FROM twin.territory ORDER BY id")]
            raise NotFound(
                f"no territory {territory!r}; known territories: {', '.join(names) or 'none'} / "
                f"aucun territoire {territory!r}"
            )
    # Lock the territory: two synthesis at once would both find it empty.
    conn.execute("SELECT 1 FROM twin.territory WHERE id = %s FOR UPDATE", (row["id"],))
    return int(row["id"]), str(row["name"]), int(row["crs_epsg"])


def _check_existing(conn: psycopg.Connection[Any], tid: int, name: str, *, replace_synthetic: bool) -> int:
    """Rows of a previous synthetic network that will be replaced; refuse anything else."""
    counts = conn.execute(
        " UNION ALL ".join(
            f"SELECT '{layer}' AS layer, count(*) AS total, count(*) FILTER (WHERE synthetic) AS synthetic"
            f" FROM twin.{layer} WHERE territory_id = %(t)s"
            for layer in _LAYERS
        ),
        {"t": tid},
    ).fetchall()
    total = sum(r["total"] for r in counts)
    real = {r["layer"]: r["total"] - r["synthetic"] for r in counts if r["total"] > r["synthetic"]}
    if real:
        listed = ", ".join(f"{n} {layer}" for layer, n in real.items())
        raise ImportRejected(
            f"territory {name!r} already has a water network that is not synthetic ({listed}): a synthetic one "
            f"is only laid where there is none, and never replaces real data / le territoire a déjà un réseau "
            f"d'eau réel : rien n'a été écrit"
        )
    if total and not replace_synthetic:
        raise ImportRejected(
            f"territory {name!r} already has a synthetic water network ({total} rows): add --replace-synthetic "
            f"to lay it again / le territoire a déjà un réseau synthétique : ajoutez --replace-synthetic"
        )
    return int(total)


def _streets(conn: psycopg.Connection[Any], tid: int, crs: int) -> tuple[Streets, list[Any]]:
    nodes = conn.execute(
        "SELECT id, ST_X(p) AS x, ST_Y(p) AS y FROM twin.road_nodes CROSS JOIN LATERAL ST_Transform(geom, %s) p"
        " WHERE territory_id = %s ORDER BY id",
        (crs, tid),
    ).fetchall()
    # Arcs are directed, a two-way street is two rows: the 'reversed' copy is left out.
    edges = conn.execute(
        "SELECT id, source_node, target_node, highway, length_m, ST_AsBinary(ST_Transform(geom, %s)) AS wkb"
        " FROM twin.road_edges WHERE territory_id = %s AND NOT reversed ORDER BY id",
        (crs, tid),
    ).fetchall()
    if not edges:
        raise InvalidInput(
            f"territory {tid} has no street: a synthetic network is laid under the drivable streets, import them"
            " first (`hyperviseur import osm`) / le territoire n'a pas de rues"
        )
    node_ids = np.array([r["id"] for r in nodes], dtype=np.int64)
    index = {int(i): k for k, i in enumerate(node_ids)}
    streets = Streets(
        node_ids=node_ids,
        node_xy=np.array([[r["x"], r["y"]] for r in nodes], dtype=float).reshape(-1, 2),
        edge_ids=np.array([r["id"] for r in edges], dtype=np.int64),
        edge_u=np.array([index[r["source_node"]] for r in edges], dtype=np.int64),
        edge_v=np.array([index[r["target_node"]] for r in edges], dtype=np.int64),
        edge_length_m=np.array([r["length_m"] for r in edges], dtype=float),
        edge_highway=tuple(str(r["highway"]) for r in edges),
    )
    return streets, list(shapely.from_wkb([bytes(r["wkb"]) for r in edges]))


def _buildings(conn: psycopg.Connection[Any], tid: int, crs: int) -> gpd.GeoDataFrame:
    rows = conn.execute(
        "SELECT id, coalesce(residents_est, 0) AS residents, ST_AsBinary(ST_Transform(geom, %s)) AS wkb"
        " FROM twin.buildings WHERE territory_id = %s ORDER BY id",
        (crs, tid),
    ).fetchall()
    return gpd.GeoDataFrame(
        {"id": [r["id"] for r in rows], "residents": [r["residents"] for r in rows]},
        geometry=shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else [],
        crs=crs,
    )


def _serve(buildings: gpd.GeoDataFrame, junction_xy: np.ndarray) -> dict[str, np.ndarray]:
    """Each building to its nearest junction within the dependency model's service distance (ties: first)."""
    if len(buildings) == 0 or len(junction_xy) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return {"building": empty, "junction": empty, "residents": np.zeros(0)}
    tree = shapely.STRtree(shapely.points(junction_xy))
    (b, j), _ = tree.query_nearest(
        buildings.geometry.values, max_distance=DEFAULT_MAX_SERVICE_M, return_distance=True, all_matches=True
    )
    order = np.lexsort((j, b))
    b, j = b[order], j[order]
    first = np.ones(len(b), dtype=bool)
    first[1:] = b[1:] != b[:-1]
    b, j = b[first], j[first]
    return {"building": b, "junction": j, "residents": buildings["residents"].to_numpy(dtype=float)[b]}
