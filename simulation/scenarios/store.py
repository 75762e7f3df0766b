"""SQL on ``simulation.scenarios`` and ``simulation.scenario_runs``: the API's reads and writes (async), and the
worker side's claim, progress and results (synchronous, from the worker processes).

Every change of a run's state emits a live event on topic ``simulation`` in the same transaction, so the console
sees exactly the committed states. Scenarios are audited by trigger (the API sets the actor); runs are not
(their progress writes would drown the audit trail).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from routing.closures import SELECT_SQL, closure_from_row
from simulation.scenarios.kpis import comparison
from simulation.scenarios.model import (
    ScenarioConflict,
    live_closure_json,
    parse_measures_list,
    validate_new_scenario,
    validate_patch,
)
from twin.errors import InvalidInput, NotFound

AsyncConn = AsyncConnection[dict[str, Any]]
TOPIC = "simulation"
AUDIENCE = "internal"
# Two-key advisory locks held by the worker process running a run: (this class, run id).
RUN_LOCK_CLASS = 0x5CE7

_SCENARIO_SELECT = """
SELECT s.id, s.territory_id, t.name AS territory_name, s.name, s.description, s.events, s.measures,
       s.forked_at, s.live_closures, s.version, s.created_by, s.created_at, s.updated_at
  FROM simulation.scenarios s JOIN twin.territory t ON t.id = s.territory_id"""
RUN_COLUMNS = """r.id, r.scenario_id, r.scenario_version, r.status, r.progress, r.stage, r.requested_by,
       r.queued_at, r.started_at, r.finished_at, r.error, r.kpis, r.baseline_kpis"""
_RUN_SELECT = f"""
SELECT {RUN_COLUMNS}, s.territory_id
  FROM simulation.scenario_runs r JOIN simulation.scenarios s ON s.id = r.scenario_id"""
_EMIT = "SELECT live.emit(%s, %s, %s, %s::jsonb)"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def run_json(row: dict[str, Any]) -> dict[str, Any]:
    """A run row as the API's Run (with the KPI comparison when both sides are there)."""
    kpis, baseline = row["kpis"], row["baseline_kpis"]
    return {
        "id": int(row["id"]),
        "scenario_id": int(row["scenario_id"]),
        "scenario_version": int(row["scenario_version"]),
        "status": row["status"],
        "progress": float(row["progress"]),
        "stage": row["stage"],
        "requested_by": row["requested_by"],
        "queued_at": _iso(row["queued_at"]),
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        "error": row["error"],
        "kpis": kpis,
        "baseline_kpis": baseline,
        "comparison": comparison(baseline, kpis) if kpis is not None and baseline is not None else [],
    }


def scenario_json(row: dict[str, Any], last_run: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "territory": {"id": int(row["territory_id"]), "name": row["territory_name"]},
        "name": row["name"],
        "description": row["description"],
        "events": row["events"],
        "measures": row["measures"],
        "forked_at": _iso(row["forked_at"]),
        "live_closures": row["live_closures"],
        "version": int(row["version"]),
        "created_by": row["created_by"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "last_run": last_run,
    }


def run_event(row: dict[str, Any]) -> dict[str, Any]:
    """The live payload of a run's state (topic ``simulation``)."""
    return {
        "kind": "run",
        "run_id": int(row["id"]),
        "scenario_id": int(row["scenario_id"]),
        "territory": int(row["territory_id"]),
        "status": row["status"],
        "progress": float(row["progress"]),
        "stage": row["stage"],
    }


# ---------------------------------------------------------------------------------------------- API (async)


async def territory_id_of(conn: AsyncConn, key: str | int) -> int:
    """The id of territory ``key`` (a name or an id)."""
    text = str(key)
    number = int(text) if text.isdigit() and len(text) <= 9 else None
    cur = await conn.execute(
        "SELECT id FROM twin.territory WHERE name = %(k)s OR id = %(i)s ORDER BY name = %(k)s DESC LIMIT 1",
        {"k": text, "i": number},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no territory {key!r} / territoire inconnu : list them with GET /api/territories")
    return int(row["id"])


async def _last_runs(conn: AsyncConn, scenario_ids: list[int]) -> dict[int, dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT DISTINCT ON (r.scenario_id) {RUN_COLUMNS} FROM simulation.scenario_runs r"
        " WHERE r.scenario_id = ANY(%s) ORDER BY r.scenario_id, r.id DESC",
        (scenario_ids,),
    )
    return {int(r["scenario_id"]): run_json(r) for r in await cur.fetchall()}


async def list_scenarios(conn: AsyncConn, territory_id: int | None) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"{_SCENARIO_SELECT} WHERE (%(t)s::integer IS NULL OR s.territory_id = %(t)s)"
        " ORDER BY s.updated_at DESC, s.id DESC LIMIT 500",
        {"t": territory_id},
    )
    rows = await cur.fetchall()
    last = await _last_runs(conn, [int(r["id"]) for r in rows])
    return [scenario_json(r, last.get(int(r["id"]))) for r in rows]


async def scenario_row(conn: AsyncConn, scenario_id: int, *, lock: bool = False) -> dict[str, Any]:
    cur = await conn.execute(
        f"{_SCENARIO_SELECT} WHERE s.id = %s" + (" FOR UPDATE OF s" if lock else ""), (scenario_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(
            f"no scenario {scenario_id} / scénario inconnu: GET /api/simulation/scenarios lists them"
        )
    return row


async def get_scenario(conn: AsyncConn, scenario_id: int) -> dict[str, Any]:
    row = await scenario_row(conn, scenario_id)
    return scenario_json(row, (await _last_runs(conn, [scenario_id])).get(scenario_id))


async def create_scenario(conn: AsyncConn, body: Any, author: str) -> int:
    """Validate ``body``, fork the territory's live closures now, store; inside the caller's transaction."""
    values = validate_new_scenario(body)
    territory_id = await territory_id_of(conn, values["territory"])
    cur = await conn.execute(
        SELECT_SQL + " WHERE territory_id = %s AND valid_from <= now()"
        " AND (valid_until IS NULL OR valid_until > now()) ORDER BY id",
        (territory_id,),
    )
    live = [live_closure_json(closure_from_row(r)) for r in await cur.fetchall()]
    measures = parse_measures_list(values["measures_raw"], n_events=len(values["events"]), live_closures=live)
    cur = await conn.execute(
        "INSERT INTO simulation.scenarios (territory_id, name, description, events, measures, forked_at,"
        " live_closures, created_by) VALUES (%s, %s, %s, %s, %s, now(), %s, %s) RETURNING id",
        (
            territory_id,
            values["name"],
            values["description"],
            Jsonb(values["events"]),
            Jsonb(measures),
            Jsonb(live),
            author,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def patch_scenario(conn: AsyncConn, scenario_id: int, body: Any) -> None:
    """Apply a PATCH (optimistic concurrency on ``version``); inside the caller's transaction."""
    current = await scenario_row(conn, scenario_id, lock=True)
    version = body.get("version") if isinstance(body, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version != current["version"]:
        raise ScenarioConflict(
            f"version {version} is not the current one ({current['version']}): someone changed the"
            " scenario since you read it; reload it and apply your change again / le scénario a été"
            " modifié entre-temps : rechargez-le"
        )
    changes = validate_patch(body, current)
    sets = [f"{column} = %({column})s" for column in changes]
    params = {k: Jsonb(v) if k in ("events", "measures") else v for k, v in changes.items()}
    await conn.execute(
        f"UPDATE simulation.scenarios SET {', '.join([*sets, 'version = version + 1', 'updated_at = now()'])}"
        " WHERE id = %(id)s",
        {**params, "id": scenario_id},
    )


async def copy_scenario(conn: AsyncConn, scenario_id: int, body: Any, author: str) -> int:
    """A variant: same fork (instant and live closures), events and measures; a new name."""
    if body is None:
        body = {}
    if not isinstance(body, dict) or set(body) - {"name"}:
        raise InvalidInput(
            "send a JSON object {name?} (the copy's name; default: the original's + ' (copie)')"
        )
    source = await scenario_row(conn, scenario_id)
    name = body.get("name", f"{source['name'][:190]} (copie)")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise InvalidInput(f"name must be a non-empty text of at most 200 characters, not {name!r}")
    cur = await conn.execute(
        "INSERT INTO simulation.scenarios (territory_id, name, description, events, measures, forked_at,"
        " live_closures, created_by) SELECT territory_id, %s, description, events, measures, forked_at,"
        " live_closures, %s FROM simulation.scenarios WHERE id = %s RETURNING id",
        (name.strip(), author, scenario_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def delete_scenario(conn: AsyncConn, scenario_id: int) -> None:
    cur = await conn.execute("DELETE FROM simulation.scenarios WHERE id = %s RETURNING id", (scenario_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"no scenario {scenario_id} / scénario inconnu")


async def list_runs(conn: AsyncConn, scenario_id: int) -> list[dict[str, Any]]:
    await scenario_row(conn, scenario_id)
    cur = await conn.execute(
        f"SELECT {RUN_COLUMNS} FROM simulation.scenario_runs r WHERE r.scenario_id = %s ORDER BY r.id DESC"
        " LIMIT 200",
        (scenario_id,),
    )
    return [run_json(r) for r in await cur.fetchall()]


async def run_row(conn: AsyncConn, run_id: int, *, report: bool = False) -> dict[str, Any]:
    """A run with its territory id (and its stored report when asked)."""
    extra = "r.report, " if report else ""
    cur = await conn.execute(
        f"SELECT {extra}{RUN_COLUMNS}, s.territory_id FROM simulation.scenario_runs r"
        " JOIN simulation.scenarios s ON s.id = r.scenario_id WHERE r.id = %s",
        (run_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(
            f"no run {run_id} / exécution inconnue: GET /api/simulation/scenarios/{{id}}/runs lists them"
        )
    return row


async def queue_run(conn: AsyncConn, scenario_id: int, author: str) -> dict[str, Any]:
    """Queue a run of the scenario as it is now (400 when it has neither event nor measure)."""
    scenario = await scenario_row(conn, scenario_id)
    if not scenario["events"] and not scenario["measures"]:
        raise InvalidInput(
            "the scenario has no event and no measure: add some before running it / ajoutez au moins un"
            " événement ou une mesure"
        )
    cur = await conn.execute(
        "INSERT INTO simulation.scenario_runs (scenario_id, scenario_version, stage, requested_by)"
        " VALUES (%s, %s, 'En file d''attente', %s) RETURNING id",
        (scenario_id, scenario["version"], author),
    )
    new = await cur.fetchone()
    assert new is not None
    row = await run_row(conn, int(new["id"]))
    await conn.execute(_EMIT, (TOPIC, AUDIENCE, row["territory_id"], orjson.dumps(run_event(row)).decode()))
    return row


async def cancel_run(conn: AsyncConn, run_id: int) -> dict[str, Any]:
    """Cancel a queued or running run (the worker stops at its next stage); 409 once finished."""
    row = await run_row(conn, run_id)
    cur = await conn.execute(
        "UPDATE simulation.scenario_runs SET status = 'cancelled', finished_at = now(), stage = 'Annulé'"
        " WHERE id = %s AND status IN ('queued', 'running') RETURNING id",
        (run_id,),
    )
    if await cur.fetchone() is None:
        raise ScenarioConflict(
            f"run {run_id} is already {row['status']}: only a queued or running run can be cancelled /"
            " exécution déjà terminée"
        )
    row = await run_row(conn, run_id)
    await conn.execute(_EMIT, (TOPIC, AUDIENCE, row["territory_id"], orjson.dumps(run_event(row)).decode()))
    return row


# ---------------------------------------------------------------------------------------------- workers (sync)


def claim_runs(url: str, limit: int) -> list[int]:
    """Mark up to ``limit`` queued runs running (oldest first; runs other servers claimed are skipped)."""
    if limit <= 0:
        return []
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "UPDATE simulation.scenario_runs SET status = 'running', started_at = now(),"
            " stage = 'Démarrage' WHERE id IN (SELECT id FROM simulation.scenario_runs WHERE status = 'queued'"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
            (limit,),
        ).fetchall()
    return sorted(int(r[0]) for r in rows)


def requeue_orphans(url: str, *, older_than_s: float = 0.0) -> list[int]:
    """Runs left ``running`` by a dead process (no worker holds their advisory lock) go back to the queue."""
    requeued: list[int] = []
    with psycopg.connect(url, autocommit=True) as conn:
        running = conn.execute(
            "SELECT id FROM simulation.scenario_runs WHERE status = 'running'"
            " AND started_at < now() - make_interval(secs => %s)",
            (older_than_s,),
        ).fetchall()
        for (run_id,) in running:
            key = (RUN_LOCK_CLASS, int(run_id) % 2**31)
            if not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0]:  # type: ignore[index]
                continue  # a live worker holds it
            try:
                with conn.transaction():
                    row = conn.execute(
                        "UPDATE simulation.scenario_runs SET status = 'queued', progress = 0, started_at = NULL,"
                        " stage = 'Remis en file après l''arrêt du serveur' WHERE id = %s AND status = 'running'"
                        " RETURNING id",
                        (run_id,),
                    ).fetchone()
                    if row is not None:
                        requeued.append(int(run_id))
                        _emit_sync(conn, int(run_id))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    return requeued


def _emit_sync(conn: psycopg.Connection[Any], run_id: int) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(_RUN_SELECT + " WHERE r.id = %s", (run_id,)).fetchone()
    if row is not None:
        cur.execute(_EMIT, (TOPIC, AUDIENCE, row["territory_id"], orjson.dumps(run_event(row)).decode()))
    return row


class RunHandle:
    """The worker's hold on one run: its advisory lock, and the writes of its progress and result.

    Every write is conditional on the run still being ``running``: a cancellation (or a deleted scenario)
    makes :meth:`progress` return False and the result writes do nothing.
    """

    def __init__(self, url: str, run_id: int) -> None:
        self.run_id = run_id
        self.conn = psycopg.connect(url, autocommit=True)
        key = (RUN_LOCK_CLASS, run_id % 2**31)
        self.conn.execute("SELECT pg_advisory_lock(%s, %s)", key)

    def close(self) -> None:
        self.conn.close()  # releases the advisory lock

    def scenario(self) -> dict[str, Any] | None:
        """The run's scenario as it is now, the run's version updated to it (None: no longer running)."""
        with self.conn.transaction():
            cur = self.conn.cursor(row_factory=dict_row)
            row = cur.execute(
                "UPDATE simulation.scenario_runs r SET scenario_version = s.version FROM simulation.scenarios s"
                " WHERE r.id = %s AND s.id = r.scenario_id AND r.status = 'running'"
                " RETURNING s.id, s.territory_id, s.events, s.measures, s.forked_at, s.live_closures, s.version",
                (self.run_id,),
            ).fetchone()
        return row

    def progress(self, stage: str, progress: float) -> bool:
        """Record a stage; False when the run was cancelled (or its scenario deleted) meanwhile."""
        with self.conn.transaction():
            row = self.conn.execute(
                "UPDATE simulation.scenario_runs SET stage = %s, progress = %s WHERE id = %s AND status = 'running'"
                " RETURNING id",
                (stage[:200], min(max(progress, 0.0), 1.0), self.run_id),
            ).fetchone()
            if row is not None:
                _emit_sync(self.conn, self.run_id)
        return row is not None

    def finish(self, baseline_kpis: dict[str, Any], kpis: dict[str, Any], report: dict[str, Any]) -> bool:
        with self.conn.transaction():
            row = self.conn.execute(
                "UPDATE simulation.scenario_runs SET status = 'done', progress = 1, stage = 'Terminé',"
                " finished_at = now(), baseline_kpis = %s, kpis = %s, report = %s, error = NULL"
                " WHERE id = %s AND status = 'running' RETURNING id",
                (Jsonb(baseline_kpis), Jsonb(kpis), Jsonb(report), self.run_id),
            ).fetchone()
            if row is not None:
                _emit_sync(self.conn, self.run_id)
        return row is not None

    def fail(self, error: str) -> bool:
        with self.conn.transaction():
            row = self.conn.execute(
                "UPDATE simulation.scenario_runs SET status = 'failed', stage = 'Échec', finished_at = now(),"
                " error = %s WHERE id = %s AND status = 'running' RETURNING id",
                (error[:4000] or "failed", self.run_id),
            ).fetchone()
            if row is not None:
                _emit_sync(self.conn, self.run_id)
        return row is not None
