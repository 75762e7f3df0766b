"""One incident's consequences, computed and stored with their live event (blocking: a worker thread's job).

Facts → inferred events → :func:`simulation.consequences.consequence_report` on the resident models → the row
(``done``, ``not_applicable`` with the reason, or ``failed`` with the error) and the live event
``{"kind": "incident_consequences", ...}`` (topic ``simulation``) in one transaction: the event is delivered at
commit, never for a result that was not stored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from incidents.model import audience_of
from simulation.consequences import consequence_report
from simulation.events import parse_events
from simulation.live_use import store
from simulation.live_use.facts import incident_facts, read_incident
from simulation.live_use.infer import IncidentFacts, Inference, infer_events
from simulation.propagation.context import crews_from_twin
from simulation.territory import TerritoryModels
from twin.errors import HyperviseurError, NotFound
from twin.live_events import emit

log = logging.getLogger(__name__)

TOPIC = "simulation"
KIND = "incident_consequences"


@dataclass(frozen=True)
class Outcome:
    """What one computation stored (``stored`` False: a newer request replaced it, or the incident is gone)."""

    incident_id: int
    status: str
    stored: bool
    duration_ms: float
    summary: dict[str, str] | None = None


def compute_and_store(
    database_url: str,
    incident_id: int,
    requested_at: datetime,
    models: TerritoryModels | None,
    *,
    prevailing_wind_from_deg: float | None = None,
) -> Outcome:
    """Infer, compute, store and announce the consequences of ``incident_id`` (``models``: None when the
    territory has no road network)."""
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        try:
            incident = read_incident(conn, incident_id)
        except NotFound:
            return Outcome(incident_id, "gone", False, 0.0)  # deleted meanwhile: the row went with it
        facts = incident_facts(conn, incident, models, prevailing_wind_from_deg=prevailing_wind_from_deg)
        conn.commit()  # reads done: the result is written in a transaction of its own below
        inference = _infer(facts, models)
        status, report, error = _report(database_url, inference, models)
        duration_ms = (time.perf_counter() - started) * 1000.0
        stored_report = {
            **(report or {}),
            "inference": {
                "basis": facts.basis(),
                "assumptions": list(inference.assumptions),
                "reason": inference.reason,
            },
        }
        summary = report["summary"] if report is not None else inference.reason
        with conn.transaction():
            stored = store.finish(
                conn,
                incident_id,
                requested_at,
                status=status,
                events=list(inference.events),
                report=stored_report,
                error=error,
                duration_ms=duration_ms,
            )
            if stored:
                emit(
                    conn,
                    TOPIC,
                    audience_of(incident["category"]),
                    {"kind": KIND, "incident_id": incident_id, "status": status, "summary": summary},
                    territory_id=int(incident["territory_id"]),
                )
    return Outcome(incident_id, status, stored, duration_ms, summary)


def _infer(facts: IncidentFacts, models: TerritoryModels | None) -> Inference:
    inference = infer_events(facts)
    if inference.status == "pending" and models is None:
        return Inference(
            "not_applicable",
            reason={
                "fr": "le territoire n'a pas de réseau routier : aucun modèle de conséquences",
                "en": "the territory has no road network: no consequence model",
            },
        )
    return inference


def _report(
    database_url: str, inference: Inference, models: TerritoryModels | None
) -> tuple[str, dict[str, Any] | None, str | None]:
    """(status, report JSON, error) for the inferred events."""
    if inference.status == "not_applicable" or models is None:
        return "not_applicable", None, None
    try:
        report = consequence_report(
            parse_events(list(inference.events)),
            access=models.access,
            dependencies=models.dependencies,
            water=models.segments,
            context=models.context,
            crews=crews_from_twin(database_url, models.territory_id),
        )
        return "done", report.as_json(), None
    except HyperviseurError as exc:  # e.g. an event kind the engine cannot propagate yet, a pipe renamed
        return "failed", None, str(exc)
    except Exception as exc:  # a fault in the engine must not stop the worker: stored and logged
        log.exception("simulation: consequences of an incident failed")
        return "failed", None, f"internal error / erreur interne: {type(exc).__name__}: {exc}"
