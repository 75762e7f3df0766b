"""OGC SensorThings API 1.1, read-only, under ``/sta/v1.1``: the sensor registry and readings for other tools.

Mapping: each sensor is a Thing (its asset or place), a Location (its point), a Sensor (the device) and a
Datastream (the sensor's one kind); the kind is the ObservedProperty (``urn:hyperviseur:kind:<kind>``, never
an external URL); each reading is an Observation with the stable id ``"<sensor id>-<epoch ms>"``. Kind
visibility applies as everywhere in sensing. Query options: ``$top`` (default 100, at most 10,000), ``$skip``,
``$count``, ``$orderby``, ``$filter`` (comparisons joined by ``and``/``or``, parentheses) and ``$select``;
``$expand`` and anything else is refused with 400. HistoricalLocations and FeaturesOfInterest are not served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from sensing.read_routes import NOT_FOUND, json_response, visibilities
from sensing.sta_query import (
    Options,
    Prop,
    filter_sql,
    options_from,
    order_sql,
    parse_observation_id,
    select_fields,
)
from twin.deps import Connection
from twin.errors import NotFound
from twin.security.deps import require
from twin.security.permissions import Group

PREFIX = "/sta/v1.1"
OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
]
BAD_OPTION: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "A query option that is malformed or not supported ($expand, functions in $filter…).",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}
Key = Annotated[str, Path(min_length=1, max_length=100, description="the entity's @iot.id")]

_VISIBLE = "coalesce(k.visibility, 'internal') = ANY(%(vis)s)"
_SENSORS = f"""
SELECT s.id, s.name, s.kind, s.unit, s.asset_layer, s.asset_id, t.name AS territory, k.title_fr, k.title_en,
       ST_AsGeoJSON(s.geom)::json AS geometry{{extra}}
FROM twin.sensors s JOIN twin.territory t ON t.id = s.territory_id LEFT JOIN sensing.kinds k ON k.kind = s.kind
{{join}} WHERE {_VISIBLE}"""
# The first reading through the primary key of each monthly partition, the last from sensing.latest: both
# cheap whatever the table's size.
_PHENOMENON = (
    ", f.observed_at AS first_at, l.observed_at AS last_at",
    "LEFT JOIN sensing.latest l ON l.sensor_id = s.id LEFT JOIN LATERAL (SELECT r.observed_at FROM"
    " sensing.readings r WHERE r.sensor_id = s.id ORDER BY r.observed_at LIMIT 1) f ON true",
)
_KINDS = f"""
SELECT kk.kind, coalesce(k.title_fr, kk.kind) AS title_fr, coalesce(k.title_en, kk.kind) AS title_en,
       k.unit, k.category
FROM (SELECT kind FROM sensing.kinds UNION SELECT kind FROM twin.sensors) kk
LEFT JOIN sensing.kinds k ON k.kind = kk.kind WHERE {_VISIBLE}"""
_OBSERVATIONS = f"""
SELECT r.sensor_id, r.observed_at, r.value FROM sensing.readings r
WHERE r.sensor_id IN (SELECT s.id FROM twin.sensors s LEFT JOIN sensing.kinds k ON k.kind = s.kind WHERE {_VISIBLE})"""


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``.

    Examples
    --------
    >>> iso(datetime(2019, 1, 1, 1, tzinfo=UTC))
    '2019-01-01T01:00:00Z'
    """
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def observation_id(sensor_id: int, observed_at: datetime) -> str:
    return f"{sensor_id}-{round(observed_at.timestamp() * 1000)}"


def _link(base: str, entity_set: str, key: Any) -> str:
    return f"{base}/{entity_set}({key})" if isinstance(key, int) else f"{base}/{entity_set}('{key}')"


def _thing(r: dict[str, Any], base: str) -> dict[str, Any]:
    self_link = _link(base, "Things", r["id"])
    return {
        "@iot.id": r["id"],
        "@iot.selfLink": self_link,
        "name": r["name"],
        "description": f"{r['title_fr'] or r['kind']} : {r['name']} ({r['territory']})",
        "properties": {
            "asset_layer": r["asset_layer"],
            "asset_id": r["asset_id"],
            "territory": r["territory"],
        },
        "Locations@iot.navigationLink": f"{self_link}/Locations",
        "Datastreams@iot.navigationLink": f"{self_link}/Datastreams",
    }


def _location(r: dict[str, Any], base: str) -> dict[str, Any]:
    self_link = _link(base, "Locations", r["id"])
    return {
        "@iot.id": r["id"],
        "@iot.selfLink": self_link,
        "name": r["name"],
        "description": f"Emplacement du capteur {r['name']}",
        "encodingType": "application/geo+json",
        "location": r["geometry"],
        "Things@iot.navigationLink": f"{self_link}/Things",
    }


def _sensor(r: dict[str, Any], base: str) -> dict[str, Any]:
    self_link = _link(base, "Sensors", r["id"])
    root = base.removesuffix(PREFIX)
    return {
        "@iot.id": r["id"],
        "@iot.selfLink": self_link,
        "name": r["name"],
        "description": f"{r['title_en'] or r['kind']} sensor {r['name']}",
        "encodingType": "application/json",
        "metadata": f"{root}/api/sensing/sensors/{r['id']}",
        "Datastreams@iot.navigationLink": f"{self_link}/Datastreams",
    }


def _datastream(r: dict[str, Any], base: str) -> dict[str, Any]:
    self_link = _link(base, "Datastreams", r["id"])
    first, last = r.get("first_at"), r.get("last_at")
    return {
        "@iot.id": r["id"],
        "@iot.selfLink": self_link,
        "name": f"{r['name']} — {r['kind']}",
        "description": f"{r['title_fr'] or r['kind']} mesuré par {r['name']}",
        "unitOfMeasurement": {
            "name": r["unit"],
            "symbol": r["unit"],
            "definition": f"urn:hyperviseur:unit:{r['unit']}",
        },
        "observationType": OM_MEASUREMENT,
        "phenomenonTime": f"{iso(first)}/{iso(last)}" if first and last else None,
        "Thing@iot.navigationLink": f"{self_link}/Thing",
        "Sensor@iot.navigationLink": f"{self_link}/Sensor",
        "ObservedProperty@iot.navigationLink": f"{self_link}/ObservedProperty",
        "Observations@iot.navigationLink": f"{self_link}/Observations",
    }


def _observed_property(r: dict[str, Any], base: str) -> dict[str, Any]:
    self_link = _link(base, "ObservedProperties", r["kind"])
    return {
        "@iot.id": r["kind"],
        "@iot.selfLink": self_link,
        "name": r["title_en"],
        "definition": f"urn:hyperviseur:kind:{r['kind']}",
        "description": r["title_fr"],
        "properties": {"unit": r["unit"], "category": r["category"], "title_fr": r["title_fr"]},
        "Datastreams@iot.navigationLink": f"{self_link}/Datastreams",
    }


def _observation(r: dict[str, Any], base: str) -> dict[str, Any]:
    key = observation_id(r["sensor_id"], r["observed_at"])
    self_link = _link(base, "Observations", key)
    return {
        "@iot.id": key,
        "@iot.selfLink": self_link,
        "phenomenonTime": iso(r["observed_at"]),
        "resultTime": iso(r["observed_at"]),
        "result": r["value"],
        "Datastream@iot.navigationLink": f"{self_link}/Datastream",
    }


@dataclass(frozen=True)
class EntitySet:
    name: str
    sql: str
    to_json: Callable[[dict[str, Any], str], dict[str, Any]]
    props: dict[str, Prop]
    #: $orderby key → SQL expression; the first key's expression ends every order (a stable page order).
    order: dict[str, str]


_SENSOR_PROPS = {"id": Prop("s.id", "int"), "name": Prop("s.name", "str")}
_SENSOR_ORDER = {"id": "s.id", "name": "s.name"}
_PLAIN = _SENSORS.format(extra="", join="")
SETS = {
    "Things": EntitySet("Things", _PLAIN, _thing, _SENSOR_PROPS, _SENSOR_ORDER),
    "Locations": EntitySet("Locations", _PLAIN, _location, _SENSOR_PROPS, _SENSOR_ORDER),
    "Sensors": EntitySet("Sensors", _PLAIN, _sensor, _SENSOR_PROPS, _SENSOR_ORDER),
    "Datastreams": EntitySet(
        "Datastreams",
        _SENSORS.format(extra=_PHENOMENON[0], join=_PHENOMENON[1]),
        _datastream,
        _SENSOR_PROPS,
        _SENSOR_ORDER,
    ),
    "ObservedProperties": EntitySet(
        "ObservedProperties",
        _KINDS,
        _observed_property,
        {"id": Prop("kk.kind", "str"), "name": Prop("coalesce(k.title_en, kk.kind)", "str")},
        {"id": "kk.kind", "name": "coalesce(k.title_en, kk.kind)"},
    ),
    "Observations": EntitySet(
        "Observations",
        _OBSERVATIONS,
        _observation,
        {
            "id": Prop("", "observation"),
            "phenomenonTime": Prop("r.observed_at", "time"),
            "resultTime": Prop("r.observed_at", "time"),
            "result": Prop("r.value", "num"),
        },
        {
            "id": "r.sensor_id, r.observed_at",
            "phenomenonTime": "r.observed_at",
            "resultTime": "r.observed_at",
            "result": "r.value",
        },
    ),
}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


async def _collection(
    request: Request,
    conn: Connection,
    entity: EntitySet,
    scope: str = "",
    scope_params: dict[str, Any] | None = None,
) -> Response:
    opts = options_from(request.query_params, entity.props, entity.order)
    params: dict[str, Any] = {"vis": visibilities(request), **(scope_params or {})}
    where, filter_params = filter_sql(opts.filter, entity.props)
    params.update(filter_params)
    body = f"{entity.sql} {scope} {'AND ' + where if where else ''}"
    out: dict[str, Any] = {}
    if opts.count:
        cur = await conn.execute(f"SELECT count(*) AS n FROM ({body}) AS c", params)
        row = await cur.fetchone()
        out["@iot.count"] = int(row["n"]) if row else 0
    order = order_sql(opts.orderby, entity.order)
    cur = await conn.execute(
        f"{body} ORDER BY {order} LIMIT %(top)s OFFSET %(skip)s",
        {**params, "top": opts.top + 1, "skip": opts.skip},
    )
    rows = await cur.fetchall()
    base = _base(request)
    out["value"] = [select_fields(entity.to_json(r, base), opts.select) for r in rows[: opts.top]]
    if len(rows) > opts.top:
        out["@iot.nextLink"] = str(request.url.include_query_params(**{"$skip": opts.skip + opts.top}))
    return json_response(out)


async def _fetch_one(
    request: Request, conn: Connection, entity: EntitySet, scope: str, scope_params: dict[str, Any], what: str
) -> dict[str, Any]:
    """The entity's row, or 404 when it does not exist or the caller's role may not see it."""
    params = {"vis": visibilities(request), **scope_params}
    cur = await conn.execute(f"{entity.sql} {scope} LIMIT 1", params)
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no {what}: it does not exist or your role may not see it")
    return row


async def _single(
    request: Request, conn: Connection, entity: EntitySet, scope: str, scope_params: dict[str, Any], what: str
) -> Response:
    opts: Options = options_from(request.query_params, entity.props, entity.order, single=True)
    row = await _fetch_one(request, conn, entity, scope, scope_params, what)
    return json_response(select_fields(entity.to_json(row, _base(request)), opts.select))


def _int_key(entity_set: str, key: str) -> int:
    # isascii: str.isdigit() also accepts "²" and other digits int() refuses.
    if not (key.isascii() and key.isdigit()) or len(key) > 18:
        raise NotFound(f"no {entity_set}({key}): {entity_set} ids are whole numbers, e.g. {entity_set}(1)")
    return int(key)


def _kind_key(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def _observation_scope(key: str) -> tuple[str, dict[str, Any]]:
    sensor, at = parse_observation_id(key)
    return "AND r.sensor_id = %(sid)s AND r.observed_at >= %(at)s AND r.observed_at < %(until)s", {
        "sid": sensor,
        "at": at,
        "until": at + timedelta(milliseconds=1),
    }


def sta_router() -> APIRouter:
    router = APIRouter(
        prefix=PREFIX,
        tags=["sensorthings"],
        dependencies=[Depends(require(Group.SENSING))],
        responses=BAD_OPTION,
    )
    by_sensor = "AND s.id = %(sid)s"

    @router.get("", summary="SensorThings service root: entity sets and conformance")
    async def service_root(request: Request) -> Response:
        base = _base(request)
        return json_response(
            {
                "value": [{"name": name, "url": f"{base}/{name}"} for name in SETS],
                "serverSettings": {"conformance": CONFORMANCE},
            }
        )

    for name in ("Things", "Locations", "Sensors", "Datastreams"):
        _sensor_set_routes(router, SETS[name], by_sensor)

    @router.get("/ObservedProperties", summary="ObservedProperties: the kinds")
    async def observed_properties(request: Request, conn: Connection) -> Response:
        return await _collection(request, conn, SETS["ObservedProperties"])

    @router.get(
        "/ObservedProperties({key})",
        summary="One ObservedProperty (a kind: ObservedProperties('no2'))",
        responses=NOT_FOUND,
    )
    async def observed_property(key: Key, request: Request, conn: Connection) -> Response:
        kind = _kind_key(key)
        return await _single(
            request,
            conn,
            SETS["ObservedProperties"],
            "AND kk.kind = %(kind)s",
            {"kind": kind},
            f"ObservedProperty '{kind}'",
        )

    @router.get(
        "/ObservedProperties({key})/Datastreams", summary="Datastreams of a kind", responses=NOT_FOUND
    )
    async def observed_property_datastreams(key: Key, request: Request, conn: Connection) -> Response:
        kind = _kind_key(key)
        await _fetch_one(
            request,
            conn,
            SETS["ObservedProperties"],
            "AND kk.kind = %(kind)s",
            {"kind": kind},
            f"ObservedProperty '{kind}'",
        )
        return await _collection(request, conn, SETS["Datastreams"], "AND s.kind = %(kind)s", {"kind": kind})

    @router.get("/Observations", summary="Observations: the readings of every visible sensor")
    async def observations(request: Request, conn: Connection) -> Response:
        return await _collection(request, conn, SETS["Observations"])

    @router.get(
        "/Observations({key})",
        summary="One Observation (Observations('12-1546300800000'))",
        responses=NOT_FOUND,
    )
    async def observation(key: Key, request: Request, conn: Connection) -> Response:
        scope, params = _observation_scope(key)
        return await _single(request, conn, SETS["Observations"], scope, params, f"Observation {key}")

    @router.get(
        "/Observations({key})/Datastream", summary="The Datastream of an Observation", responses=NOT_FOUND
    )
    async def observation_datastream(key: Key, request: Request, conn: Connection) -> Response:
        scope, params = _observation_scope(key)
        await _fetch_one(request, conn, SETS["Observations"], scope, params, f"Observation {key}")
        return await _single(request, conn, SETS["Datastreams"], by_sensor, params, f"Datastream of {key}")

    @router.get(
        "/Datastreams({key})/Observations", summary="Observations of a Datastream", responses=NOT_FOUND
    )
    async def datastream_observations(key: Key, request: Request, conn: Connection) -> Response:
        sid = _int_key("Datastreams", key)
        await _fetch_one(request, conn, SETS["Datastreams"], by_sensor, {"sid": sid}, f"Datastream {sid}")
        return await _collection(
            request, conn, SETS["Observations"], "AND r.sensor_id = %(sid)s", {"sid": sid}
        )

    return router


# Navigation from one sensor-based entity to another: every pair is the same sensor.
_NAVIGATION = {
    "Things": [("Locations", "Locations"), ("Datastreams", "Datastreams")],
    "Locations": [("Things", "Things")],
    "Sensors": [("Datastreams", "Datastreams")],
    "Datastreams": [("Thing", "Things"), ("Sensor", "Sensors")],
}
_SINGULAR = {"Thing", "Sensor"}


def _sensor_set_routes(router: APIRouter, entity: EntitySet, by_sensor: str) -> None:
    name = entity.name

    async def collection(request: Request, conn: Connection) -> Response:
        return await _collection(request, conn, entity)

    async def single(key: Key, request: Request, conn: Connection) -> Response:
        sid = _int_key(name, key)
        return await _single(request, conn, entity, by_sensor, {"sid": sid}, f"{name}({sid})")

    router.add_api_route(f"/{name}", collection, methods=["GET"], summary=f"{name} (one per visible sensor)")
    router.add_api_route(
        f"/{name}({{key}})", single, methods=["GET"], summary=f"One of {name}", responses=NOT_FOUND
    )
    for nav, target_name in _NAVIGATION[name]:
        router.add_api_route(
            f"/{name}({{key}})/{nav}",
            _navigation(entity, SETS[target_name], nav in _SINGULAR, by_sensor),
            methods=["GET"],
            summary=f"{nav} of one of {name}",
            responses=NOT_FOUND,
        )
    if name == "Datastreams":

        async def observed_property(key: Key, request: Request, conn: Connection) -> Response:
            sid = _int_key(name, key)
            kinds = SETS["ObservedProperties"]
            scope = "AND kk.kind = (SELECT kind FROM twin.sensors WHERE id = %(sid)s)"
            return await _single(
                request, conn, kinds, scope, {"sid": sid}, f"ObservedProperty of Datastreams({sid})"
            )

        router.add_api_route(
            f"/{name}({{key}})/ObservedProperty",
            observed_property,
            methods=["GET"],
            summary="The ObservedProperty (kind) of a Datastream",
            responses=NOT_FOUND,
        )


def _navigation(source: EntitySet, target: EntitySet, singular: bool, by_sensor: str) -> Callable[..., Any]:
    async def navigate(key: Key, request: Request, conn: Connection) -> Response:
        sid = _int_key(source.name, key)
        what = f"{source.name}({sid})"
        await _fetch_one(request, conn, source, by_sensor, {"sid": sid}, what)
        if singular:
            return await _single(request, conn, target, by_sensor, {"sid": sid}, what)
        return await _collection(request, conn, target, by_sensor, {"sid": sid})

    return navigate
