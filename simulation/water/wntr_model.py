"""Build the wntr hydraulic model of a territory from the twin's six water tables.

Everything EPANET needs is read from the columns and the ``attributes`` documents the writers leave
(``hyperviseur synthesize water`` stores all of it; the EPANET importer keeps what the tables can hold):

- junction demands from ``attributes.demands`` (base and pattern name per category), else the column;
- patterns from ``attributes.patterns`` of any reservoir or tank (``{"name": [multipliers…]}``, hourly);
  a demand whose pattern is not stored is constant (said in :attr:`TwinModel.notes`);
- pipe roughness (Hazen-Williams C), minor loss and check valve; valve type, setting, diameter;
- pumps: a head curve from ``attributes.head_curve`` (``[[flow_m3_s, head_m], …]``), else a constant power
  from ``attributes.power_kw``; a pump with neither cannot be modelled and is refused with a clear error.

Names are the twin's names, so the model and :func:`simulation.water.network.network_from_twin` agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twin.db import connect
from twin.errors import InvalidInput, NotFound

_TERRITORY_SQL = (
    "SELECT id, name, crs_epsg FROM twin.territory WHERE name = %(key)s OR id::text = %(key)s"
    " ORDER BY name = %(key)s DESC LIMIT 1"
)
_TABLE_SQL = {
    "junctions": "SELECT name, elevation_m, base_demand_m3_s, attributes, ST_X(p) AS x, ST_Y(p) AS y",
    "tanks": "SELECT name, elevation_m, init_level_m, min_level_m, max_level_m, diameter_m, attributes,"
    " ST_X(p) AS x, ST_Y(p) AS y",
    "reservoirs": "SELECT name, base_head_m, attributes, ST_X(p) AS x, ST_Y(p) AS y",
    "pipes": "SELECT name, start_node, end_node, length_m, diameter_m, roughness, status, attributes",
    "valves": "SELECT name, start_node, end_node, valve_type, diameter_m, setting, attributes",
    "pumps": "SELECT name, start_node, end_node, pump_type, attributes",
}


@dataclass
class TwinModel:
    """The wntr model and what could not be carried over from the twin."""

    wn: Any
    notes: list[str] = field(default_factory=list)


def wntr_model_from_twin(url: str, territory: int | str) -> TwinModel:
    """The wntr ``WaterNetworkModel`` of ``territory`` (its id or name), ready for EPANET.

    Raises
    ------
    NotFound
        No such territory, or it has no water network.
    InvalidInput
        A pump whose curve and power are both unknown, or a tank without its levels or diameter.
    """
    rows = _read(url, territory)
    import wntr

    wn = wntr.network.WaterNetworkModel()
    wn.options.hydraulic.headloss = "H-W"
    notes: list[str] = []
    for source in rows["reservoirs"] + rows["tanks"]:
        for name, multipliers in (source["attributes"].get("patterns") or {}).items():
            if name not in wn.pattern_name_list:
                wn.add_pattern(name, [float(x) for x in multipliers])
    for r in rows["junctions"]:
        demands = r["attributes"].get("demands") or [{"base_m3_s": r["base_demand_m3_s"] or 0.0}]
        first, *more = demands
        wn.add_junction(
            r["name"],
            base_demand=float(first.get("base_m3_s") or 0.0),
            demand_pattern=_pattern(wn, first.get("pattern"), notes),
            elevation=float(r["elevation_m"] or 0.0),
            coordinates=(r["x"], r["y"]),
        )
        junction = wn.get_node(r["name"])
        for extra in more:
            junction.add_demand(
                float(extra.get("base_m3_s") or 0.0),
                _pattern(wn, extra.get("pattern"), notes),
                extra.get("category"),
            )
    for r in rows["tanks"]:
        missing = [c for c in ("init_level_m", "min_level_m", "max_level_m", "diameter_m") if r[c] is None]
        if missing:
            raise InvalidInput(f"tank {r['name']!r} has no {', '.join(missing)}: EPANET cannot model it")
        wn.add_tank(
            r["name"],
            elevation=float(r["elevation_m"] or 0.0),
            init_level=float(r["init_level_m"]),
            min_level=float(r["min_level_m"]),
            max_level=float(r["max_level_m"]),
            diameter=float(r["diameter_m"]),
            coordinates=(r["x"], r["y"]),
        )
    for r in rows["reservoirs"]:
        wn.add_reservoir(r["name"], base_head=float(r["base_head_m"] or 0.0), coordinates=(r["x"], r["y"]))
    for r in rows["pipes"]:
        a = r["attributes"]
        wn.add_pipe(
            r["name"],
            r["start_node"],
            r["end_node"],
            length=float(r["length_m"] or 1.0),
            diameter=float(r["diameter_m"] or 0.1),
            roughness=float(r["roughness"] or 100.0),
            minor_loss=float(a.get("minor_loss") or 0.0),
            initial_status=(r["status"] or "OPEN").upper(),
            check_valve=bool(a.get("check_valve")),
        )
    for r in rows["valves"]:
        wn.add_valve(
            r["name"],
            r["start_node"],
            r["end_node"],
            diameter=float(r["diameter_m"] or 0.1),
            valve_type=r["valve_type"] or "TCV",
            minor_loss=float(r["attributes"].get("minor_loss") or 0.0),
            initial_setting=float(r["setting"] or 0.0),
            initial_status=(r["attributes"].get("status") or "ACTIVE").upper(),
        )
    for r in rows["pumps"]:
        _add_pump(wn, r)
    return TwinModel(wn, notes)


def _add_pump(wn: Any, r: dict[str, Any]) -> None:
    a = r["attributes"]
    status = (a.get("status") or "OPEN").upper()
    if a.get("head_curve"):
        curve = f"{r['name']}_curve"
        wn.add_curve(curve, "HEAD", [(float(q), float(h)) for q, h in a["head_curve"]])
        wn.add_pump(r["name"], r["start_node"], r["end_node"], "HEAD", curve, initial_status=status)
    elif a.get("power_kw"):
        wn.add_pump(
            r["name"],
            r["start_node"],
            r["end_node"],
            "POWER",
            float(a["power_kw"]) * 1000.0,
            initial_status=status,
        )
    else:
        raise InvalidInput(
            f"pump {r['name']!r} has neither a head curve (attributes.head_curve) nor a power (attributes.power_kw)"
            " in the twin: EPANET cannot model it — re-import the network / la pompe n'a ni courbe ni puissance"
        )


def _pattern(wn: Any, name: str | None, notes: list[str]) -> str | None:
    if name is None or name in wn.pattern_name_list:
        return name
    note = f"pattern {name!r} is not stored in the twin: its demands are constant"
    if note not in notes:
        notes.append(note)
    return None


def _read(url: str, territory: int | str) -> dict[str, list[dict[str, Any]]]:
    with connect(url) as conn:
        row = conn.execute(_TERRITORY_SQL, {"key": str(territory)}).fetchone()
        if row is None:
            raise NotFound(f"no territory {territory!r} / aucun territoire {territory!r}")
        params = {"t": row["id"], "crs": row["crs_epsg"]}  # coordinates in metres, as EPANET expects
        rows = {
            table: conn.execute(
                f"{columns} FROM twin.water_{table}"
                f"{' CROSS JOIN LATERAL ST_Transform(geom, %(crs)s) AS p' if ' AS x' in columns else ''}"
                " WHERE territory_id = %(t)s ORDER BY name",
                params,
            ).fetchall()
            for table, columns in _TABLE_SQL.items()
        }
    if not (rows["junctions"] or rows["tanks"] or rows["reservoirs"]):
        raise NotFound(
            f"territory {row['name']!r} has no water network: import one (`hyperviseur import epanet`) or lay a "
            f"synthetic one (`hyperviseur synthesize water`) / le territoire n'a pas de réseau d'eau"
        )
    return rows
