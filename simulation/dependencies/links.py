"""One asset's stored links (with their row ids), the territory's counts, and editing links by hand.

Read and written on synchronous connections (the API runs these in worker threads, the CLI directly). An
edited row wins over the derived one of the same dependent and kind; the table is too large for the audit
triggers, so every edit is recorded with :func:`twin.security.audit.record_event` in its own transaction.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from simulation.dependencies.derive import provider_table
from simulation.dependencies.model import (
    ASSET_TABLES,
    DEPENDENT_LAYERS,
    FEEDER_LAYER,
    LINK_KINDS,
    check_link_layers,
)
from simulation.dependencies.store import STATED_BY
from twin.errors import HyperviseurError, InvalidInput, NotFound
from twin.security.audit import record_event

LAYERS: tuple[str, ...] = (*ASSET_TABLES, "sensors", FEEDER_LAYER)
# Layers whose rows have a name worth showing beside the id.
_NAMED = frozenset(LAYERS) - {"street_lights"}
AUDIT_OBJECT = "simulation.dependency_links"
_LINK_COLUMNS = (
    "id, kind, dependent_layer, dependent_id, provider_layer, provider_id, position, distance_m, origin, note,"
    " updated_by, updated_at"
)
# Rows that count: edited ones, and derived ones no edited row of the same dependent and kind replaces.
_EFFECTIVE = """(l.origin = 'edited' OR NOT EXISTS (
    SELECT 1 FROM simulation.dependency_links e
     WHERE e.territory_id = l.territory_id AND e.kind = l.kind AND e.dependent_layer = l.dependent_layer
       AND e.dependent_id = l.dependent_id AND e.origin = 'edited'))"""


class LinkConflict(HyperviseurError):
    """The link cannot be changed that way (a derived link is edited, not deleted)."""

    http_status = 409
    exit_code = 2


def _table(layer: str) -> sql.Composable:
    check_layer(layer)
    if layer == "sensors":
        return sql.Identifier("twin", "sensors")
    schema, _, name = provider_table(layer).partition(".")
    return sql.Identifier(schema, name)


def _rows(conn: psycopg.Connection[Any]) -> psycopg.Cursor[dict[str, Any]]:
    """A cursor with dict rows, whatever the connection's row factory."""
    return conn.cursor(row_factory=dict_row)


def check_layer(layer: str, field: str = "layer") -> None:
    if layer not in LAYERS:
        raise InvalidInput(f"{field} {layer!r} is not one of {', '.join(LAYERS)} / couche inconnue")


def asset_name(conn: psycopg.Connection[Any], territory_id: int, layer: str, asset_id: int) -> str | None:
    """The asset's name (None when unnamed); NotFound when it is not a feature of the territory."""
    check_layer(layer)
    column = sql.SQL("name") if layer in _NAMED else sql.SQL("NULL::text")
    row = (
        _rows(conn)
        .execute(
            sql.SQL("SELECT {} AS name FROM {} WHERE territory_id = %s AND id = %s").format(
                column, _table(layer)
            ),
            (territory_id, asset_id),
        )
        .fetchone()
    )
    if row is None:
        raise NotFound(
            f"no {layer} feature with id {asset_id} in this territory / aucun objet {layer} d'id {asset_id}"
        )
    return row["name"] if isinstance(row, dict) else row[0]


def _names(
    conn: psycopg.Connection[Any], territory_id: int, layer: str, ids: set[int]
) -> dict[int, str | None]:
    if layer not in _NAMED or not ids:
        return {}
    rows = (
        _rows(conn)
        .execute(
            sql.SQL("SELECT id, name FROM {} WHERE territory_id = %s AND id = ANY(%s)").format(_table(layer)),
            (territory_id, sorted(ids)),
        )
        .fetchall()
    )
    return {int(r["id"]): r["name"] for r in rows}


def _link_json(row: dict[str, Any], names: dict[tuple[str, int], str | None]) -> dict[str, Any]:
    dependent = {"layer": row["dependent_layer"], "id": int(row["dependent_id"])}
    if names.get((row["dependent_layer"], int(row["dependent_id"]))):
        dependent["name"] = names[(row["dependent_layer"], int(row["dependent_id"]))]
    provider: dict[str, Any] | None = None
    if row["provider_id"] is not None:
        provider = {"layer": row["provider_layer"], "id": int(row["provider_id"])}
        if names.get((row["provider_layer"], int(row["provider_id"]))):
            provider["name"] = names[(row["provider_layer"], int(row["provider_id"]))]
    return {
        "id": int(row["id"]),
        "kind": row["kind"],
        "dependent": dependent,
        "provider": provider,
        "provider_layer": row["provider_layer"],
        "distance_m": None if row["distance_m"] is None else round(float(row["distance_m"]), 2),
        "position": None if row["position"] is None else round(float(row["position"]), 6),
        "origin": row["origin"],
        "stated": row["updated_by"] == STATED_BY,
        "note": row["note"],
        "updated_by": row["updated_by"],
        "updated_at": row["updated_at"].isoformat(),
    }


def links_json(
    conn: psycopg.Connection[Any], territory_id: int, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Rows of ``simulation.dependency_links`` as the API's Link objects, with the assets' names."""
    wanted: dict[str, set[int]] = {}
    for r in rows:
        wanted.setdefault(r["dependent_layer"], set()).add(int(r["dependent_id"]))
        if r["provider_id"] is not None:
            wanted.setdefault(r["provider_layer"], set()).add(int(r["provider_id"]))
    names = {
        (layer, i): name
        for layer, ids in wanted.items()
        for i, name in _names(conn, territory_id, layer, ids).items()
    }
    return [_link_json(r, names) for r in rows]


def asset_links(
    conn: psycopg.Connection[Any], territory_id: int, layer: str, asset_id: int
) -> dict[str, Any]:
    """``{"providers": [...], "dependents": [...]}``: the links that count, from and to one asset."""
    providers = (
        _rows(conn)
        .execute(
            f"SELECT {_LINK_COLUMNS} FROM simulation.dependency_links l WHERE l.territory_id = %s"
            f" AND l.dependent_layer = %s AND l.dependent_id = %s AND {_EFFECTIVE} ORDER BY l.kind, l.id",
            (territory_id, layer, asset_id),
        )
        .fetchall()
    )
    dependents = (
        _rows(conn)
        .execute(
            f"SELECT {_LINK_COLUMNS} FROM simulation.dependency_links l WHERE l.territory_id = %s"
            f" AND l.provider_layer = %s AND l.provider_id = %s AND {_EFFECTIVE}"
            " ORDER BY l.kind, l.dependent_layer, l.dependent_id",
            (territory_id, layer, asset_id),
        )
        .fetchall()
    )
    return {
        "providers": links_json(conn, territory_id, providers),
        "dependents": links_json(conn, territory_id, dependents),
    }


def stored_summary(conn: psycopg.Connection[Any], territory_id: int) -> list[dict[str, Any]]:
    """Counts per kind and dependent layer: derived and edited rows, "no provider" edits, links that count,
    dependents, and dependents without any link of that kind (unlinked)."""
    counts = (
        _rows(conn)
        .execute(
            "SELECT kind, dependent_layer,"
            " count(*) FILTER (WHERE origin = 'derived') AS derived,"
            " count(*) FILTER (WHERE origin = 'edited' AND updated_by <> %(stated)s) AS edited,"
            " count(*) FILTER (WHERE origin = 'edited' AND updated_by = %(stated)s) AS stated,"
            " count(*) FILTER (WHERE origin = 'edited' AND provider_id IS NULL) AS no_provider,"
            f" count(*) FILTER (WHERE provider_id IS NOT NULL AND {_EFFECTIVE}) AS links,"
            " array_agg(DISTINCT provider_layer) AS provider_layers,"
            " max(updated_at) FILTER (WHERE origin = 'derived') AS derived_at"
            " FROM simulation.dependency_links l WHERE territory_id = %(t)s GROUP BY kind, dependent_layer",
            {"t": territory_id, "stated": STATED_BY},
        )
        .fetchall()
    )
    by_key = {(r["kind"], r["dependent_layer"]): r for r in counts}
    out = []
    dependents: dict[str, int] = {}
    for kind in LINK_KINDS:
        for layer in DEPENDENT_LAYERS[kind]:
            r = by_key.get((kind, layer))
            if r is None and kind == "power_feed":
                continue  # feeders unknown: no power-feed counts to give
            if layer not in dependents:
                row = (
                    _rows(conn)
                    .execute(
                        sql.SQL("SELECT count(*) AS n FROM {} WHERE territory_id = %s").format(_table(layer)),
                        (territory_id,),
                    )
                    .fetchone()
                )
                dependents[layer] = int(row["n"]) if row else 0
            linked = int(r["links"]) if r else 0
            none = int(r["no_provider"]) if r else 0
            out.append(
                {
                    "kind": kind,
                    "dependent_layer": layer,
                    "provider_layers": sorted(r["provider_layers"]) if r else [],
                    "derived": int(r["derived"]) if r else 0,
                    "edited": int(r["edited"]) if r else 0,
                    "stated": int(r["stated"]) if r else 0,
                    "no_provider": none,
                    "links": linked,
                    "dependents": dependents[layer],
                    "unlinked": max(dependents[layer] - linked - none, 0),
                    "derived_at": r["derived_at"].isoformat() if r and r["derived_at"] else None,
                }
            )
    return out


def _measure(
    conn: psycopg.Connection[Any],
    territory_id: int,
    crs: int,
    dependent: tuple[str, int],
    provider: tuple[str, int],
) -> tuple[float | None, float | None]:
    """Distance (m, in the territory's CRS) from dependent to provider, and the position along a road arc."""
    position = (
        sql.SQL("ST_LineLocatePoint(p.g, ST_ClosestPoint(p.g, d.g))")
        if provider[0] == "road_edges"
        else sql.SQL("NULL::double precision")
    )
    row = (
        _rows(conn)
        .execute(
            sql.SQL(
                "SELECT ST_Distance(d.g, p.g) AS distance_m, {} AS position"
                " FROM (SELECT ST_Transform(geom, %(crs)s) AS g FROM {} WHERE territory_id = %(t)s AND id = %(d)s) d,"
                " (SELECT ST_Transform(geom, %(crs)s) AS g FROM {} WHERE territory_id = %(t)s AND id = %(p)s) p"
            ).format(position, _table(dependent[0]), _table(provider[0])),
            {"crs": crs, "t": territory_id, "d": dependent[1], "p": provider[1]},
        )
        .fetchone()
    )
    if row is None:
        return None, None
    return row["distance_m"], row["position"]


def put_edited_link(
    conn: psycopg.Connection[Any],
    territory: tuple[int, str, int],
    *,
    kind: str,
    dependent_layer: str,
    dependent_id: int,
    provider_layer: str,
    provider_id: int | None,
    note: str = "",
    actor: str,
    client_addr: str | None = None,
    drivable: Any = None,
) -> dict[str, Any]:
    """Create or replace the edited link of ``(kind, dependent)`` (in the caller's transaction), audited.

    ``drivable``: ids of the road arcs vehicles may use (a road-access link to another arc is refused).

    Raises
    ------
    InvalidInput
        A kind, layer or id that does not fit (the message names the field).
    """
    tid, _, crs = territory
    check_link_layers(kind, dependent_layer, provider_layer)
    if len(note) > 2000:
        raise InvalidInput(f"note: at most 2000 characters, not {len(note)} / note trop longue")
    try:
        dependent_name = asset_name(conn, tid, dependent_layer, dependent_id)
    except NotFound:
        raise InvalidInput(
            f"dependent_id {dependent_id} is not a {dependent_layer} feature of this territory"
            f" / aucun objet {dependent_layer} d'id {dependent_id}"
        ) from None
    distance_m = position = None
    if provider_id is not None:
        try:
            asset_name(conn, tid, provider_layer, provider_id)
        except NotFound:
            raise InvalidInput(
                f"provider_id {provider_id} is not a {provider_layer} feature of this territory"
                f" / aucun objet {provider_layer} d'id {provider_id}"
            ) from None
        if kind == "road_access" and drivable is not None and provider_id not in set(drivable.tolist()):
            raise InvalidInput(
                f"provider_id {provider_id}: emergency vehicles may not use this road arc; link the"
                " building to a street they can drive / arc non carrossable"
            )
        distance_m, position = _measure(
            conn, tid, crs, (dependent_layer, dependent_id), (provider_layer, provider_id)
        )
    before = (
        _rows(conn)
        .execute(
            f"SELECT {_LINK_COLUMNS} FROM simulation.dependency_links WHERE territory_id = %s AND kind = %s"
            " AND dependent_layer = %s AND dependent_id = %s ORDER BY origin = 'edited' DESC LIMIT 1",
            (tid, kind, dependent_layer, dependent_id),
        )
        .fetchone()
    )
    row = (
        _rows(conn)
        .execute(
            "INSERT INTO simulation.dependency_links AS l (territory_id, kind, dependent_layer, dependent_id,"
            " provider_layer, provider_id, position, distance_m, origin, note, updated_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'edited', %s, %s)"
            " ON CONFLICT (territory_id, kind, dependent_layer, dependent_id, origin) DO UPDATE SET"
            " provider_layer = EXCLUDED.provider_layer, provider_id = EXCLUDED.provider_id,"
            " position = EXCLUDED.position, distance_m = EXCLUDED.distance_m, note = EXCLUDED.note,"
            f" updated_by = EXCLUDED.updated_by, updated_at = now() RETURNING {_LINK_COLUMNS}",
            (
                tid,
                kind,
                dependent_layer,
                dependent_id,
                provider_layer,
                provider_id,
                position,
                distance_m,
                note,
                actor,
            ),
        )
        .fetchone()
    )
    assert row is not None
    link = links_json(conn, tid, [row])[0]
    if dependent_name:
        link["dependent"]["name"] = dependent_name
    record_event(
        conn,
        actor=actor,
        action="DEPENDENCY_EDIT",
        object=AUDIT_OBJECT,
        object_id=str(link["id"]),
        details={"before": None if before is None else links_json(conn, tid, [before])[0], "after": link},
        client_addr=client_addr,
    )
    return link


def delete_edited_link(
    conn: psycopg.Connection[Any], link_id: int, *, actor: str, client_addr: str | None = None
) -> dict[str, Any]:
    """Delete an edited link (the derived one counts again), audited; returns the deleted Link.

    Raises
    ------
    NotFound
        No such link.
    LinkConflict
        A derived link, or one stated in ``twin.sensors``: edit it instead.
    """
    row = (
        _rows(conn)
        .execute(
            f"SELECT territory_id, {_LINK_COLUMNS} FROM simulation.dependency_links WHERE id = %s FOR UPDATE",
            (link_id,),
        )
        .fetchone()
    )
    if row is None:
        raise NotFound(
            f"no dependency link {link_id}; GET /api/simulation/dependencies?territory=…&layer=…&id=…"
        )
    if row["origin"] == "derived":
        raise LinkConflict(
            f"link {link_id} is derived: edit it instead (PUT /api/simulation/dependencies) / lien calculé :"
            " corrigez-le plutôt que de le supprimer"
        )
    if row["updated_by"] == STATED_BY:
        raise LinkConflict(
            f"link {link_id} is stated by the sensor's asset_layer/asset_id in twin.sensors: change the sensor,"
            " or edit the link / lien déclaré par le capteur"
        )
    link = links_json(conn, int(row["territory_id"]), [row])[0]
    _rows(conn).execute("DELETE FROM simulation.dependency_links WHERE id = %s", (link_id,))
    record_event(
        conn,
        actor=actor,
        action="DEPENDENCY_DELETE",
        object=AUDIT_OBJECT,
        object_id=str(link_id),
        details={"before": link},
        client_addr=client_addr,
    )
    return link
