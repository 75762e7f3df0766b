"""The road network of one territory as numpy arrays, read from ``twin.road_edges``/``twin.road_nodes``.

This is the profile-independent part of the resident graph: one entry per stored directed arc (osmnx-style:
a two-way street is two arcs), with the OSM tags the profiles need, the geometries (WGS84 and projected in the
territory's CRS for snapping) and the turn restrictions of ``routing.turn_restrictions``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import pyproj
import shapely

from twin.errors import NotFound

# OSM tags the profiles read (routing.profiles); only these leave the database, not whole attribute documents.
PROFILE_TAGS = ("access", "motor_vehicle", "psv", "bus", "emergency", "service", "foot", "junction")

_EDGES_SQL = f"""
SELECT e.id, e.source_node, e.target_node, e.name, e.highway, e.oneway, e.length_m, e.speed_kph,
       e.travel_time_s, e.source_id,
       {", ".join(f"e.attributes->>'{tag}'" for tag in PROFILE_TAGS)},
       ST_AsBinary(e.geom)
  FROM twin.road_edges e
 WHERE e.territory_id = %s
 ORDER BY e.id
"""
_NODES_SQL = """
SELECT id, source_id, ST_X(geom), ST_Y(geom) FROM twin.road_nodes WHERE territory_id = %s ORDER BY id
"""
_RESTRICTIONS_SQL = """
SELECT relation_id, restriction, from_way, via_node, to_way, tags
  FROM routing.turn_restrictions WHERE territory_id = %s ORDER BY relation_id
"""


@dataclass(frozen=True)
class TurnRestriction:
    """A ``type=restriction`` relation mapped onto arcs: at node ``via`` (index), coming from one of
    ``from_arcs``, the ``to_arcs`` are forbidden (``no_*``) or the only ones allowed (``only_*``)."""

    relation_id: int
    kind: str
    via: int
    from_arcs: tuple[int, ...]
    to_arcs: tuple[int, ...]
    tags: dict[str, Any]

    @property
    def is_only(self) -> bool:
        return self.kind.startswith("only_")


@dataclass
class RoadNetwork:
    """Stored arcs and nodes of one territory (arc and node *indices* are positions in these arrays)."""

    territory_id: int
    name: str
    crs_epsg: int
    node_ids: np.ndarray  # int64 database ids, sorted
    node_lonlat: np.ndarray  # (n, 2) float64
    edge_ids: np.ndarray  # int64 database ids, sorted
    tail: np.ndarray  # int32 node index
    head: np.ndarray  # int32 node index
    length_m: np.ndarray
    speed_kph: np.ndarray
    travel_time_s: np.ndarray
    oneway: np.ndarray  # bool
    highway: np.ndarray  # object (str)
    street_name: np.ndarray  # object (str | None)
    tags: list[dict[str, str]]  # PROFILE_TAGS present on each arc
    geometry: np.ndarray  # shapely LineStrings, WGS84
    geometry_m: np.ndarray  # the same in the territory's CRS (metres)
    restrictions: list[TurnRestriction] = field(default_factory=list)
    unmapped_restrictions: int = 0

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_arcs(self) -> int:
        return len(self.edge_ids)

    def arcs_of_edge_ids(self, edge_ids: np.ndarray) -> np.ndarray:
        """Arc indices of the given database ids (ids of other territories are dropped)."""
        edge_ids = np.asarray(edge_ids, dtype=np.int64)
        pos = np.searchsorted(self.edge_ids, edge_ids)
        pos = np.clip(pos, 0, max(self.n_arcs - 1, 0))
        found = self.edge_ids[pos] == edge_ids if self.n_arcs else np.zeros(len(edge_ids), bool)
        return np.unique(pos[found])

    def bbox(self) -> tuple[float, float, float, float]:
        lon, lat = self.node_lonlat[:, 0], self.node_lonlat[:, 1]
        return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _osm_id(source_id: str | None, prefix: str) -> list[int]:
    """OSM ids of a ``source_id`` such as "way/12,34" or "node/5" (empty when it is not OSM)."""
    if not source_id or not source_id.startswith(prefix):
        return []
    try:
        return [int(part) for part in source_id[len(prefix) :].split(",")]
    except ValueError:
        return []


def road_network_from_db(conn: psycopg.Connection[Any], territory: int | str) -> RoadNetwork:
    """Read one territory's road graph (and its turn restrictions) into a :class:`RoadNetwork`.

    Parameters
    ----------
    conn
        A connection to a migrated database (tuple rows).
    territory
        The territory's id or name.

    Raises
    ------
    NotFound
        No such territory, or it has no road arc.
    """
    row = conn.execute(
        "SELECT id, name, crs_epsg FROM twin.territory WHERE id::text = %s OR name = %s ORDER BY id LIMIT 1",
        (str(territory), str(territory)),
    ).fetchone()
    if row is None:
        raise NotFound(f"no territory {territory!r}; import one first (hyperviseur import osm …)")
    tid, name, epsg = int(row[0]), str(row[1]), int(row[2])
    nodes = conn.execute(_NODES_SQL, (tid,)).fetchall()
    edges = conn.execute(_EDGES_SQL, (tid,)).fetchall()
    if not edges:
        raise NotFound(f"territory {name!r} has no road arcs to route on; import its streets first")
    node_ids = np.fromiter((r[0] for r in nodes), dtype=np.int64, count=len(nodes))
    node_lonlat = np.array([(r[2], r[3]) for r in nodes], dtype=np.float64).reshape(-1, 2)
    n_tags = len(PROFILE_TAGS)
    cols = list(zip(*edges, strict=True))
    geometry = shapely.from_wkb(np.array(cols[-1], dtype=object))
    transformer = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    geometry_m = shapely.transform(
        geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )
    tags = [
        {k: v for k, v in zip(PROFILE_TAGS, values, strict=True) if v is not None}
        for values in zip(*cols[10 : 10 + n_tags], strict=True)
    ]
    network = RoadNetwork(
        territory_id=tid,
        name=name,
        crs_epsg=epsg,
        node_ids=node_ids,
        node_lonlat=node_lonlat,
        edge_ids=np.asarray(cols[0], dtype=np.int64),
        tail=np.searchsorted(node_ids, np.asarray(cols[1], dtype=np.int64)).astype(np.int32),
        head=np.searchsorted(node_ids, np.asarray(cols[2], dtype=np.int64)).astype(np.int32),
        length_m=np.asarray(cols[6], dtype=np.float64),
        speed_kph=np.asarray(cols[7], dtype=np.float64),
        travel_time_s=np.asarray(cols[8], dtype=np.float64),
        oneway=np.asarray(cols[5], dtype=bool),
        highway=np.asarray(cols[4], dtype=object),
        street_name=np.asarray(cols[3], dtype=object),
        tags=tags,
        geometry=geometry,
        geometry_m=geometry_m,
    )
    _attach_restrictions(network, conn.execute(_RESTRICTIONS_SQL, (tid,)).fetchall(), cols[9], nodes)
    return network


def _attach_restrictions(
    network: RoadNetwork, rows: list[tuple[Any, ...]], edge_source_ids: tuple[Any, ...], nodes: list[Any]
) -> None:
    """Map each restriction's from-way, via-node and to-way (OSM ids) onto arcs of the network."""
    if not rows:
        return
    wanted_ways = {int(r[2]) for r in rows} | {int(r[4]) for r in rows}
    arcs_of_way: dict[int, list[int]] = defaultdict(list)
    for arc, source_id in enumerate(edge_source_ids):
        for way in _osm_id(source_id, "way/"):
            if way in wanted_ways:
                arcs_of_way[way].append(arc)
    node_of_osm = {}
    for index, node in enumerate(nodes):
        for osm in _osm_id(node[1], "node/"):
            node_of_osm[osm] = index
    for relation_id, kind, from_way, via_node, to_way, tags in rows:
        via = node_of_osm.get(int(via_node))
        if via is None:
            network.unmapped_restrictions += 1
            continue
        from_arcs = tuple(a for a in arcs_of_way.get(int(from_way), ()) if network.head[a] == via)
        to_arcs = tuple(a for a in arcs_of_way.get(int(to_way), ()) if network.tail[a] == via)
        if not from_arcs or not to_arcs:
            network.unmapped_restrictions += 1
            continue
        network.restrictions.append(
            TurnRestriction(int(relation_id), str(kind), via, from_arcs, to_arcs, dict(tags or {}))
        )
