"""Console-facing read API of sensing (kinds, sensors, readings, profiles, detections, data quality,
refusals) and the thresholds operators adjust. A kind's visibility filters everything: a role that may not
see it never sees its sensors, readings or detections (a single one answers 404, as if it did not exist).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from sensing.series import bucket_points, plan_series, raw_points
from twin.deps import Connection
from twin.errors import HyperviseurError, InvalidInput, NotFound
from twin.security.audit import aset_actor, client_addr_of, principal_of
from twin.security.deps import require, role_of
from twin.security.permissions import LAYER_VISIBILITY, Group, may_see_layer

THRESHOLDS_CHANNEL = "thresholds_changed"
MAX_QUALITY_SPAN = timedelta(days=366)
BIGINT = 2**63 - 1

SensorId = Annotated[int, Path(ge=1, le=BIGINT, description="twin.sensors.id")]
ThresholdId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Territory = Annotated[str | None, Query(max_length=200, description="territory id or name")]

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Unknown sensor, territory or threshold, or a sensor this role may not see.",
        "content": _PROBLEM,
    }
}
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "The threshold cannot be stored as sent: the detail says why.", "content": _PROBLEM},
    **NOT_FOUND,
}


class ThresholdRejected(HyperviseurError):
    """A threshold well-formed but impossible (no target, two targets, unknown kind, unreachable value)."""

    http_status = 422
    exit_code = 2


def visibilities(request: Request) -> list[str]:
    """The kind visibilities the caller's role may see (kinds without a row count as ``internal``)."""
    role = role_of(request)
    return [v for v in LAYER_VISIBILITY if may_see_layer(role, v)]


def json_response(content: Any, status_code: int = 200) -> Response:
    # orjson: a year of buckets or 50,000 raw points serialise in milliseconds (pydantic takes seconds).
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def utc(at: datetime, name: str) -> datetime:
    if at.tzinfo is None:
        raise InvalidInput(f"'{name}' {at.isoformat()} has no offset: add Z or +01:00")
    # Far dates would overflow the bucket arithmetic; no sensor reading is outside these years.
    if not 1900 <= at.year <= 2200:
        raise InvalidInput(f"'{name}' {at.isoformat()} is outside the years 1900 to 2200")
    return at.astimezone(UTC)


async def territory_id_of(conn: Connection, key: str) -> int:
    number = int(key) if key.isascii() and key.isdigit() and len(key) <= 9 else None
    cur = await conn.execute(
        "SELECT id FROM twin.territory WHERE name = %(k)s OR id = %(i)s ORDER BY name = %(k)s DESC LIMIT 1",
        {"k": key, "i": number},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no territory {key!r}: list them with GET /api/territories")
    return int(row["id"])


SENSOR_SQL = """
SELECT s.id, s.territory_id, t.name AS territory, s.name, s.kind, s.unit, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
       s.asset_layer, s.asset_id, l.observed_at, l.value, k.expected_interval_s,
       extract(epoch FROM now() - l.observed_at)::float8 AS age_s,
       (SELECT count(*) FROM sensing.detections d WHERE d.sensor_id = s.id AND d.ended_at IS NULL) AS open_detections
FROM twin.sensors s JOIN twin.territory t ON t.id = s.territory_id
LEFT JOIN sensing.kinds k ON k.kind = s.kind LEFT JOIN sensing.latest l ON l.sensor_id = s.id
WHERE coalesce(k.visibility, 'internal') = ANY(%(vis)s)
  AND (%(territory)s::integer IS NULL OR s.territory_id = %(territory)s)
  AND (%(kind)s::text IS NULL OR s.kind = %(kind)s)
  AND (%(sensor)s::bigint IS NULL OR s.id = %(sensor)s)
ORDER BY s.id"""


def status_of(row: dict[str, Any]) -> str:
    """``never`` (no reading), ``silent`` (> 6× the expected interval), ``late`` (> 2×) or ``ok``.

    Examples
    --------
    >>> status_of({"observed_at": None}), status_of({"observed_at": 1, "age_s": 700, "expected_interval_s": 300})
    ('never', 'late')
    """
    if row["observed_at"] is None:
        return "never"
    interval, age = row.get("expected_interval_s"), row.get("age_s") or 0.0
    if not interval:
        return "ok"
    return "silent" if age > 6 * interval else "late" if age > 2 * interval else "ok"


def sensor_json(row: dict[str, Any]) -> dict[str, Any]:
    latest = (
        None if row["observed_at"] is None else {"observed_at": row["observed_at"], "value": row["value"]}
    )
    keys = ("id", "territory_id", "name", "kind", "unit", "lon", "lat", "asset_layer", "asset_id")
    return {
        **{k: row[k] for k in keys},
        "latest": latest,
        "status": status_of(row),
        "open_detections": int(row["open_detections"]),
    }


async def sensor_rows(
    conn: Connection,
    request: Request,
    *,
    territory: int | None = None,
    kind: str | None = None,
    sensor: int | None = None,
) -> list[dict[str, Any]]:
    params = {"vis": visibilities(request), "territory": territory, "kind": kind, "sensor": sensor}
    cur = await conn.execute(SENSOR_SQL, params)
    return await cur.fetchall()


async def visible_sensor(conn: Connection, request: Request, sensor_id: int) -> dict[str, Any]:
    """The sensor's row, or 404 when it does not exist or its kind is hidden from the caller."""
    rows = await sensor_rows(conn, request, sensor=sensor_id)
    if not rows:
        raise NotFound(f"no sensor {sensor_id}: list them with GET /api/sensing/sensors")
    return rows[0]


KIND_COLUMNS = (
    "kind, unit, title_fr, title_en, valid_min, valid_max, expected_interval_s, visibility, category"
)
THRESHOLD_COLUMNS = (
    "id, kind, sensor_id, severity, direction, value, averaging_s, sustained_s, label_fr, label_en, source"
)


class ThresholdIn(BaseModel):
    """A detection threshold: for every sensor of a kind (``kind``) or for one sensor (``sensor``)."""

    model_config = ConfigDict(extra="forbid")
    kind: str | None = Field(default=None, min_length=1, max_length=63)
    sensor: StrictInt | None = Field(default=None, ge=1, le=BIGINT)
    severity: Literal["info", "warning", "alert", "critical"]
    direction: Literal["above", "below"]
    value: float = Field(allow_inf_nan=False)
    averaging_s: StrictInt = Field(default=0, ge=0, le=31_536_000, description="mean over this window first")
    sustained_s: StrictInt = Field(default=0, ge=0, le=31_536_000, description="must hold this long")
    label_fr: str = Field(min_length=1, max_length=200)
    label_en: str = Field(min_length=1, max_length=200)
    source: str = Field(default="local", min_length=1, max_length=500)


class ThresholdPatch(BaseModel):
    """Fields to change (the target, kind or sensor, does not change: delete and create instead)."""

    model_config = ConfigDict(extra="forbid")
    severity: Literal["info", "warning", "alert", "critical"] | None = None
    direction: Literal["above", "below"] | None = None
    value: float | None = Field(default=None, allow_inf_nan=False)
    averaging_s: StrictInt | None = Field(default=None, ge=0, le=31_536_000)
    sustained_s: StrictInt | None = Field(default=None, ge=0, le=31_536_000)
    label_fr: str | None = Field(default=None, min_length=1, max_length=200)
    label_en: str | None = Field(default=None, min_length=1, max_length=200)
    source: str | None = Field(default=None, min_length=1, max_length=500)


_THRESHOLD_EXAMPLE = {
    "sensor": 1,
    "severity": "warning",
    "direction": "above",
    "value": 150.0,
    "averaging_s": 3600,
    "label_fr": "Seuil local NO2",
    "label_en": "Local NO2 threshold",
}


async def _kind_range(conn: Connection, body: ThresholdIn) -> tuple[str, float | None, float | None]:
    """The kind the threshold applies to and its physical range; 422 when the target is unusable."""
    if (body.kind is None) == (body.sensor is None):
        raise ThresholdRejected(
            "send exactly one of 'kind' (a default for every sensor of the kind) and 'sensor' (an override)"
        )
    if body.kind is not None:
        cur = await conn.execute(
            "SELECT kind, valid_min, valid_max FROM sensing.kinds WHERE kind = %s", (body.kind,)
        )
        missing = f"unknown kind {body.kind!r}: GET /api/sensing/kinds lists them"
    else:
        cur = await conn.execute(
            "SELECT s.kind, k.valid_min, k.valid_max FROM twin.sensors s"
            " LEFT JOIN sensing.kinds k ON k.kind = s.kind WHERE s.id = %s",
            (body.sensor,),
        )
        missing = f"unknown sensor {body.sensor}: GET /api/sensing/sensors lists them"
    row = await cur.fetchone()
    if row is None:
        raise ThresholdRejected(missing)
    return row["kind"], row["valid_min"], row["valid_max"]


def _check_reachable(value: float, kind: str, lo: float | None, hi: float | None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ThresholdRejected(
            f"value {value} is outside what a {kind} sensor reports ({lo} to {hi}): no reading could cross it"
        )


async def _notify_thresholds(conn: Connection, op: str, row: dict[str, Any]) -> None:
    payload = {"op": op, "id": row["id"], "kind": row["kind"], "sensor_id": row["sensor_id"]}
    await conn.execute("SELECT pg_notify(%s, %s)", (THRESHOLDS_CHANNEL, orjson.dumps(payload).decode()))


async def _threshold(conn: Connection, threshold_id: int) -> dict[str, Any]:
    cur = await conn.execute(
        f"SELECT {THRESHOLD_COLUMNS} FROM sensing.thresholds WHERE id = %s", (threshold_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no threshold {threshold_id}: list them with GET /api/sensing/thresholds")
    return row


def read_router() -> APIRouter:
    router = APIRouter(prefix="/api/sensing", tags=["sensing"])
    readers = [Depends(require(Group.SENSING))]
    admins = [Depends(require(Group.SENSING_ADMIN))]

    @router.get(
        "/kinds", summary="Types de capteurs (unité, plage, intervalle attendu)", dependencies=readers
    )
    async def list_kinds(conn: Connection, request: Request) -> Response:
        cur = await conn.execute(
            f"SELECT {KIND_COLUMNS} FROM sensing.kinds WHERE visibility = ANY(%s) ORDER BY kind",
            (visibilities(request),),
        )
        return json_response(await cur.fetchall())

    @router.get(
        "/sensors",
        summary="Capteurs visibles, dernière mesure et état",
        dependencies=readers,
        responses=NOT_FOUND,
    )
    async def list_sensors(
        conn: Connection,
        request: Request,
        territory: Territory = None,
        kind: Annotated[str | None, Query(max_length=63)] = None,
    ) -> Response:
        tid = await territory_id_of(conn, territory) if territory else None
        rows = await sensor_rows(conn, request, territory=tid, kind=kind)
        return json_response({"sensors": [sensor_json(r) for r in rows]})

    @router.get(
        "/sensors/{sensor_id}",
        summary="Un capteur, son type et ses seuils",
        dependencies=readers,
        responses=NOT_FOUND,
    )
    async def get_sensor(sensor_id: SensorId, conn: Connection, request: Request) -> Response:
        row = await visible_sensor(conn, request, sensor_id)
        cur = await conn.execute(f"SELECT {KIND_COLUMNS} FROM sensing.kinds WHERE kind = %s", (row["kind"],))
        kind = await cur.fetchone()
        cur = await conn.execute(
            f"SELECT {THRESHOLD_COLUMNS} FROM sensing.thresholds WHERE kind = %s OR sensor_id = %s"
            " ORDER BY sensor_id NULLS FIRST, id",
            (row["kind"], sensor_id),
        )
        thresholds = await cur.fetchall()
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM sensing.profiles WHERE sensor_id = %s)", (sensor_id,)
        )
        profile = await cur.fetchone()
        return json_response(
            {
                **sensor_json(row),
                "territory": row["territory"],
                "kind_info": kind,
                "thresholds": thresholds,
                "has_profile": bool(profile and profile["exists"]),
            }
        )

    @router.get(
        "/sensors/{sensor_id}/readings",
        summary="Série d'un capteur : mesures brutes ou agrégats (moyenne, min, max, nombre)",
        description=(
            "step=raw: [[epoch_ms, value]] (at most 50,000 readings, else 400). step=auto: a step giving at"
            " most ~1,500 buckets, read from the hourly/daily rollups when it is a multiple of an hour or a day."
            " step=<seconds>: that step (at most 10,000 buckets). Buckets: [[epoch_ms, mean, min, max, count]],"
            " aligned on multiples of the step since 1970-01-01 UTC. Default range: the last 24 hours."
        ),
        dependencies=readers,
        responses=NOT_FOUND,
    )
    async def get_readings(
        sensor_id: SensorId,
        conn: Connection,
        request: Request,
        start: Annotated[datetime | None, Query(alias="from", description="ISO 8601 with offset")] = None,
        end: Annotated[datetime | None, Query(alias="to", description="ISO 8601 with offset")] = None,
        step: Annotated[str, Query(max_length=12, description="raw, auto or seconds")] = "auto",
    ) -> Response:
        row = await visible_sensor(conn, request, sensor_id)
        to = utc(end, "to") if end else datetime.now(UTC)
        since = utc(start, "from") if start else to - timedelta(days=1)
        plan = plan_series(since, to, step)
        base = {"sensor_id": sensor_id, "unit": row["unit"]}
        if plan is None:
            points = await raw_points(conn, sensor_id, since, to)
            return json_response(
                {**base, "step_s": None, "source": "raw", "from": since, "to": to, "points": points}
            )
        points = await bucket_points(conn, sensor_id, plan)
        return json_response(
            {
                **base,
                "step_s": plan.step_s,
                "source": plan.source,
                "from": plan.start,
                "to": plan.end,
                "points": points,
            }
        )

    @router.get(
        "/sensors/{sensor_id}/profile",
        summary="Profil hebdomadaire appris",
        dependencies=readers,
        responses=NOT_FOUND,
    )
    async def get_profile(sensor_id: SensorId, conn: Connection, request: Request) -> Response:
        await visible_sensor(conn, request, sensor_id)
        cur = await conn.execute(
            "SELECT slot, slot_s, timezone, median, mad, samples, learned_from, learned_to"
            " FROM sensing.profiles WHERE sensor_id = %s ORDER BY slot",
            (sensor_id,),
        )
        rows = await cur.fetchall()
        if not rows:
            raise NotFound(f"sensor {sensor_id} has no learned profile yet")
        return json_response(
            {
                "sensor_id": sensor_id,
                "slot_s": rows[0]["slot_s"],
                "timezone": rows[0]["timezone"],
                "learned_from": rows[0]["learned_from"],
                "learned_to": rows[0]["learned_to"],
                "slots": [[r["slot"], r["median"], r["mad"], r["samples"]] for r in rows],
            }
        )

    @router.get(
        "/detections",
        summary="Détections (seuils, anomalies…) expliquées",
        dependencies=readers,
        responses=NOT_FOUND,
    )
    async def list_detections(
        conn: Connection,
        request: Request,
        territory: Territory = None,
        sensor: Annotated[int | None, Query(ge=1, le=BIGINT)] = None,
        open: Annotated[bool | None, Query(description="true: still holding; false: ended")] = None,  # noqa: A002
        since: Annotated[
            datetime | None, Query(description="started at or after (ISO 8601 with offset)")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        tid = await territory_id_of(conn, territory) if territory else None
        cur = await conn.execute(
            "SELECT d.id, d.sensor_id, s.name AS sensor_name, s.kind, s.territory_id, d.rule, d.severity,"
            " d.started_at, d.ended_at, d.detected_at, d.value, d.expected, d.score, d.confidence,"
            " d.explanation_fr, d.explanation_en, d.details, d.threshold_id, d.h3_cell, d.incident_id"
            " FROM sensing.detections d JOIN twin.sensors s ON s.id = d.sensor_id"
            " LEFT JOIN sensing.kinds k ON k.kind = s.kind"
            " WHERE coalesce(k.visibility, 'internal') = ANY(%(vis)s)"
            " AND (%(t)s::integer IS NULL OR s.territory_id = %(t)s)"
            " AND (%(s)s::bigint IS NULL OR d.sensor_id = %(s)s)"
            " AND (%(open)s::boolean IS NULL OR (d.ended_at IS NULL) = %(open)s)"
            " AND (%(since)s::timestamptz IS NULL OR d.started_at >= %(since)s)"
            " ORDER BY d.started_at DESC, d.id DESC LIMIT %(limit)s",
            {
                "vis": visibilities(request),
                "t": tid,
                "s": sensor,
                "open": open,
                "since": utc(since, "since") if since else None,
                "limit": limit,
            },
        )
        return json_response({"detections": await cur.fetchall()})

    @router.get(
        "/quality",
        summary="Qualité des données par capteur : taux de réception, trous, refus",
        description="Gaps are silences longer than 3× the kind's expected interval, the range's ends included.",
        dependencies=readers,
        responses=NOT_FOUND,
    )
    async def get_quality(
        conn: Connection,
        request: Request,
        territory: Territory = None,
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
    ) -> Response:
        tid = await territory_id_of(conn, territory) if territory else None
        to = utc(end, "to") if end else datetime.now(UTC)
        since = utc(start, "from") if start else to - timedelta(days=1)
        if to <= since or to - since > MAX_QUALITY_SPAN:
            raise InvalidInput("'to' must be after 'from', and the range at most 366 days")
        sensors = await sensor_rows(conn, request, territory=tid)
        return json_response({"from": since, "to": to, "sensors": await _quality(conn, sensors, since, to)})

    @router.get("/rejected", summary="Mesures refusées récemment, avec la raison", dependencies=admins)
    async def list_rejected(
        conn: Connection,
        since: Annotated[datetime | None, Query(description="received at or after")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        cur = await conn.execute(
            "SELECT id, received_at, source, origin, sensor_id, payload, reason FROM sensing.rejected"
            " WHERE (%(since)s::timestamptz IS NULL OR received_at >= %(since)s) ORDER BY id DESC LIMIT %(limit)s",
            {"since": utc(since, "since") if since else None, "limit": limit},
        )
        return json_response({"rejected": await cur.fetchall()})

    _threshold_routes(router, readers, admins)
    return router


async def _quality(
    conn: Connection, sensors: list[dict[str, Any]], since: datetime, to: datetime
) -> list[dict[str, Any]]:
    ids = [s["id"] for s in sensors]
    cur = await conn.execute(
        "WITH ids AS (SELECT unnest(%(ids)s::bigint[]) AS sensor_id),"
        " pts AS (SELECT sensor_id, observed_at AS t FROM sensing.readings"
        "   WHERE sensor_id = ANY(%(ids)s) AND observed_at >= %(from)s AND observed_at < %(to)s"
        "   UNION ALL SELECT sensor_id, %(from)s FROM ids UNION ALL SELECT sensor_id, %(to)s FROM ids),"
        " d AS (SELECT sensor_id, extract(epoch FROM t - lag(t) OVER (PARTITION BY sensor_id ORDER BY t))::float8 AS dt"
        "   FROM pts)"
        " SELECT d.sensor_id, count(dt) - 1 AS received,"
        "  count(*) FILTER (WHERE dt > 3 * coalesce(k.expected_interval_s, 3600)) AS gaps,"
        "  max(dt) FILTER (WHERE dt > 3 * coalesce(k.expected_interval_s, 3600)) AS longest_gap_s"
        " FROM d JOIN twin.sensors s ON s.id = d.sensor_id LEFT JOIN sensing.kinds k ON k.kind = s.kind"
        " GROUP BY d.sensor_id",
        {"ids": ids, "from": since, "to": to},
    )
    stats = {r["sensor_id"]: r for r in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT sensor_id, count(*) AS n FROM sensing.rejected WHERE sensor_id = ANY(%s)"
        " AND received_at >= %s AND received_at < %s GROUP BY sensor_id",
        (ids, since, to),
    )
    rejected = {r["sensor_id"]: int(r["n"]) for r in await cur.fetchall()}
    span_s = (to - since).total_seconds()
    out = []
    for s in sensors:
        st = stats.get(s["id"], {"received": 0, "gaps": 1, "longest_gap_s": span_s})
        expected = int(span_s // (s["expected_interval_s"] or 3600))
        received = int(st["received"])
        uptime = None if expected == 0 else round(min(100.0, 100.0 * received / expected), 1)
        longest = st["longest_gap_s"]
        out.append(
            {
                "sensor_id": s["id"],
                "name": s["name"],
                "kind": s["kind"],
                "expected_interval_s": s["expected_interval_s"],
                "expected": expected,
                "received": received,
                "uptime_pct": uptime,
                "gaps": int(st["gaps"]),
                "longest_gap_s": None if longest is None else math.floor(longest),
                "rejected": rejected.get(s["id"], 0),
            }
        )
    return out


def _threshold_routes(router: APIRouter, readers: list[Any], admins: list[Any]) -> None:
    @router.get(
        "/thresholds",
        summary="Seuils de détection (par type et par capteur)",
        dependencies=readers,
        responses=NOT_FOUND,
    )
    async def list_thresholds(
        conn: Connection,
        request: Request,
        kind: Annotated[str | None, Query(max_length=63)] = None,
        sensor: Annotated[int | None, Query(ge=1, le=BIGINT, description="thresholds applying to it")] = None,
    ) -> Response:
        sensor_kind = (await visible_sensor(conn, request, sensor))["kind"] if sensor else None
        cur = await conn.execute(
            f"SELECT {', '.join('t.' + c for c in THRESHOLD_COLUMNS.split(', '))}"
            " FROM sensing.thresholds t LEFT JOIN twin.sensors s ON s.id = t.sensor_id"
            " LEFT JOIN sensing.kinds k ON k.kind = coalesce(t.kind, s.kind)"
            " WHERE coalesce(k.visibility, 'internal') = ANY(%(vis)s)"
            " AND (%(kind)s::text IS NULL OR coalesce(t.kind, s.kind) = %(kind)s)"
            " AND (%(sensor)s::bigint IS NULL OR t.sensor_id = %(sensor)s OR t.kind = %(skind)s)"
            " ORDER BY t.id",
            {"vis": visibilities(request), "kind": kind, "sensor": sensor, "skind": sensor_kind},
        )
        return json_response({"thresholds": await cur.fetchall()})

    @router.post(
        "/thresholds", summary="Créer un seuil", status_code=201, dependencies=admins, responses=REFUSED
    )
    async def create_threshold(
        conn: Connection,
        request: Request,
        body: Annotated[ThresholdIn, Body(openapi_examples={"override": {"value": _THRESHOLD_EXAMPLE}})],
    ) -> Response:
        kind, lo, hi = await _kind_range(conn, body)
        _check_reachable(body.value, kind, lo, hi)
        fields = body.model_dump()
        fields["sensor_id"] = fields.pop("sensor")
        async with conn.transaction():
            await aset_actor(conn, principal_of(request), client_addr_of(request))
            cur = await conn.execute(
                "INSERT INTO sensing.thresholds (kind, sensor_id, severity, direction, value, averaging_s,"
                " sustained_s, label_fr, label_en, source) VALUES (%(kind)s, %(sensor_id)s, %(severity)s,"
                " %(direction)s, %(value)s, %(averaging_s)s, %(sustained_s)s, %(label_fr)s, %(label_en)s,"
                f" %(source)s) RETURNING {THRESHOLD_COLUMNS}",
                fields,
            )
            row = await cur.fetchone()
            assert row is not None
            await _notify_thresholds(conn, "insert", row)
        return json_response(row, status_code=201)

    @router.patch(
        "/thresholds/{threshold_id}", summary="Modifier un seuil", dependencies=admins, responses=REFUSED
    )
    async def patch_threshold(
        threshold_id: ThresholdId, body: ThresholdPatch, conn: Connection, request: Request
    ) -> Response:
        current = await _threshold(conn, threshold_id)
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        if not changes:
            raise ThresholdRejected(
                "nothing to change: send at least one field (severity, direction, value…)"
            )
        if "value" in changes:
            probe = ThresholdIn.model_construct(kind=current["kind"], sensor=current["sensor_id"])
            kind, lo, hi = await _kind_range(conn, probe)
            _check_reachable(changes["value"], kind, lo, hi)
        assignments = ", ".join(f"{k} = %({k})s" for k in changes)  # keys are ThresholdPatch's field names
        async with conn.transaction():
            await aset_actor(conn, principal_of(request), client_addr_of(request))
            cur = await conn.execute(
                f"UPDATE sensing.thresholds SET {assignments} WHERE id = %(id)s RETURNING {THRESHOLD_COLUMNS}",
                {**changes, "id": threshold_id},
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no threshold {threshold_id}: list them with GET /api/sensing/thresholds")
            await _notify_thresholds(conn, "update", row)
        return json_response(row)

    @router.delete(
        "/thresholds/{threshold_id}",
        summary="Supprimer un seuil",
        status_code=204,
        dependencies=admins,
        responses=NOT_FOUND,
    )
    async def delete_threshold(threshold_id: ThresholdId, conn: Connection, request: Request) -> Response:
        async with conn.transaction():
            await aset_actor(conn, principal_of(request), client_addr_of(request))
            cur = await conn.execute(
                f"DELETE FROM sensing.thresholds WHERE id = %s RETURNING {THRESHOLD_COLUMNS}", (threshold_id,)
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no threshold {threshold_id}: list them with GET /api/sensing/thresholds")
            await _notify_thresholds(conn, "delete", row)
        return Response(status_code=204)
