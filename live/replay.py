"""Resume a client's stream from its last event id: replay what it missed, then where its sensors stand.

With ``since=n`` a client gets, in order: the logged events after ``n`` that it may see (read from
``live.events`` page by page, a pooled connection held only while a page is read), one or more
``sensors.snapshot`` messages (the current value of every visible sensor updated since the event ``n``,
minus a margin), then ``ready`` carrying the id the replay covered. When ``n`` cannot be resumed (the events
after it were pruned, or it is newer than anything this database ever logged) the client gets ``resync``
instead of the replay and the snapshot: it reloads its state through the REST API.

The caller subscribes to the hub *before* iterating, and drops the live events whose id is at most the one
``ready`` carries: no event is lost between the replay and the live stream, and none is sent twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from psycopg_pool import AsyncConnectionPool

from live.hub import Message, Subscriber, control, logged, sensor_values
from twin.live_events import SENSOR_TOPIC

#: Events read per page of a replay.
PAGE_SIZE = 500
#: Readings per ``sensors.snapshot`` message.
READINGS_PER_MESSAGE = 5000
#: The snapshot also covers sensors updated this long before the client's last event: a reading batch
#: stamps ``updated_at`` when its transaction starts and is seen only once it commits.
SNAPSHOT_MARGIN_S = 120.0

_PAGE_SQL = """
SELECT h.pruned_through, (SELECT coalesce(max(id), 0) FROM live.events) AS head,
       e.id, e.at, e.topic, e.audience, e.territory_id, e.payload::text
  FROM live.horizon h
  LEFT JOIN LATERAL (
        SELECT ev.* FROM live.events ev
         WHERE ev.id > %(after)s
           AND ev.audience = ANY(%(audiences)s)
           AND (%(topics)s::text[] IS NULL OR ev.topic = ANY(%(topics)s::text[]))
           AND (%(territory)s::integer IS NULL OR ev.territory_id IS NULL
                OR ev.territory_id = %(territory)s::integer)
         ORDER BY ev.id
         LIMIT %(page)s) e ON true
 ORDER BY e.id
"""

# Sensors updated since the client's last event; without that event (an id logged before any event, or
# 0), since the oldest event still kept.
_SNAPSHOT_SQL = """
SELECT l.sensor_id, (extract(epoch FROM l.observed_at) * 1000)::bigint, l.value
  FROM sensing.latest l
  JOIN twin.sensors s ON s.id = l.sensor_id
  LEFT JOIN sensing.kinds k ON k.kind = s.kind
 WHERE l.updated_at > coalesce(
           (SELECT at FROM live.events WHERE id = %(since)s),
           now() - make_interval(days => %(retention_days)s)) - make_interval(secs => %(margin_s)s)
   AND coalesce(k.visibility, 'internal') = ANY(%(audiences)s)
   AND (%(territory)s::integer IS NULL OR s.territory_id = %(territory)s::integer)
 ORDER BY l.sensor_id
"""


async def resume(
    pool: AsyncConnectionPool[Any], sub: Subscriber, since: int, *, live_last_id: int, retention_days: int
) -> AsyncIterator[Message]:
    """Yield the replay after ``since`` for ``sub``'s role and filters, the snapshot, then ``ready``.

    ``live_last_id`` is the hub's last published id, where a client that must resync starts.
    ``ready.id`` is the last id covered: live events up to it were replayed (or are not the client's).
    """
    params: dict[str, Any] = {
        "audiences": sorted(sub.audiences),
        "topics": sorted(sub.topics) if sub.topics is not None else None,
        "territory": sub.territory_id,
        "page": PAGE_SIZE,
        "after": since,
    }
    covered = since
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(_PAGE_SQL, params)
            rows = await cur.fetchall()
        pruned_through, head = int(rows[0][0]), int(rows[0][1])
        unknown = covered == since and since > max(head, pruned_through)
        if params["after"] < pruned_through or unknown:
            # The events after the client's id are gone (or it comes from another database): start afresh.
            reason = "unknown_id" if unknown else "pruned"
            yield control("resync", reason=reason, **_RESYNC_TEXT[reason])
            yield ready(live_last_id)
            return
        events = [row[2:] for row in rows if row[2] is not None]
        for event in events:
            yield logged(*event)
        if len(events) < PAGE_SIZE:
            covered = max(covered, head)
            break
        params["after"] = events[-1][0]
        covered = params["after"]
    if sub.topics is None or SENSOR_TOPIC in sub.topics:
        async for message in snapshot(pool, sub, since, retention_days=retention_days):
            yield message
    yield ready(covered)


async def snapshot(
    pool: AsyncConnectionPool[Any], sub: Subscriber, since: int, *, retention_days: int
) -> AsyncIterator[Message]:
    """The current value of every sensor ``sub`` may see that was updated since event ``since`` (at least
    one message, possibly with no readings)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            _SNAPSHOT_SQL,
            {
                "since": since,
                "retention_days": retention_days,
                "margin_s": SNAPSHOT_MARGIN_S,
                "audiences": sorted(sub.audiences),
                "territory": sub.territory_id,
            },
        )
        rows = [list(r) for r in await cur.fetchall()]
    for start in range(0, max(len(rows), 1), READINGS_PER_MESSAGE):
        yield sensor_values("sensors.snapshot", rows[start : start + READINGS_PER_MESSAGE])


def ready(last_id: int) -> Message:
    """``ready``: live events follow; ``last_id`` is where a later reconnection resumes from at the least.

    It carries the id so that an SSE client (``id:`` line) resumes from there even before its first event.
    """
    message = control("ready", last_id=last_id)
    message.id = last_id
    return message


_RESYNC_TEXT = {
    "pruned": {
        "detail_fr": "Les événements manqués ne sont plus conservés : rechargez l'état (API REST).",
        "detail_en": "The missed events are no longer kept: reload the state (REST API).",
    },
    "unknown_id": {
        "detail_fr": "Identifiant d'événement inconnu de ce serveur : rechargez l'état (API REST).",
        "detail_en": "This server never logged that event id: reload the state (REST API).",
    },
    "slow": {
        "detail_fr": "Connexion trop lente pour suivre le flux : reconnectez-vous (since = dernier id reçu).",
        "detail_en": "Too slow to keep up with the stream: reconnect (since = the last id received).",
    },
    "shutdown": {
        "detail_fr": "Le serveur s'arrête : reconnectez-vous (since = dernier id reçu).",
        "detail_en": "The server is stopping: reconnect (since = the last id received).",
    },
}


def resync(reason: str) -> Message:
    """The ``resync`` a dropped client gets (``slow`` or ``shutdown``) before its connection ends."""
    return control("resync", reason=reason, **_RESYNC_TEXT[reason])
