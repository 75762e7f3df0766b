"""Fan-out of live messages to the connected clients of one process, filtered by role, topic and territory.

Each message is serialized once (when it enters the hub); every subscriber whose role may see its audience
gets a reference to the same object in a bounded queue. A client whose queue is full is *dropped*: it gets
one ``resync`` (if it can still take it) and is disconnected, then reconnects and resumes from its last
event id, instead of holding an unbounded backlog in the server's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from twin.security.permissions import LAYER_VISIBILITY, may_see_layer

#: Messages a client may lag behind before it is dropped (references to shared messages: cheap).
QUEUE_SIZE = 1000
VISIBILITIES = tuple(LAYER_VISIBILITY)


@dataclass(slots=True)
class Message:
    """One message of the stream, already serialized (``text``: the JSON of a WebSocket text frame).

    ``id`` is set for logged events only (what a client resumes from); ``audience`` is a layer visibility;
    ``territory_id`` None concerns every territory.

    Examples
    --------
    >>> m = control("ready", last_id=41)
    >>> m.text, m.sse()
    ('{"topic":"ready","last_id":41}', b'event: ready\\ndata: {"topic":"ready","last_id":41}\\n\\n')
    """

    topic: str
    text: str
    id: int | None = None
    audience: str = "public"
    territory_id: int | None = None
    _sse: bytes | None = field(default=None, repr=False)

    def sse(self) -> bytes:
        """The Server-Sent Events frame (``id:`` line for logged events), built once per message."""
        if self._sse is None:
            head = f"id: {self.id}\n" if self.id is not None else ""
            self._sse = f"{head}event: {self.topic}\ndata: {self.text}\n\n".encode()
        return self._sse


def control(topic: str, **fields: object) -> Message:
    """A message of the stream itself (ready, resync, ping), for everyone who gets it."""
    return Message(topic, orjson.dumps({"topic": topic, **fields}).decode())


class Subscriber:
    """One connected client: what it asked for, its queue, and whether it was dropped."""

    __slots__ = ("audiences", "dropped", "queue", "reason", "role", "territory_id", "topics")

    def __init__(
        self, role: str, *, topics: frozenset[str] | None, territory_id: int | None, queue_size: int
    ) -> None:
        self.role = role
        self.audiences = frozenset(v for v in VISIBILITIES if may_see_layer(role, v))
        self.topics = topics
        self.territory_id = territory_id
        self.queue: asyncio.Queue[Message] = asyncio.Queue(queue_size)
        self.dropped = asyncio.Event()
        #: Why it was dropped: ``slow`` (its queue filled up) or ``shutdown`` (the server is stopping).
        self.reason = ""

    def wants(self, message: Message) -> bool:
        """Whether the message passes this client's topic and territory filters (audience aside)."""
        if self.topics is not None and message.topic not in self.topics:
            return False
        return (
            self.territory_id is None
            or message.territory_id is None
            or message.territory_id == self.territory_id
        )


class LiveHub:
    """The process's subscribers, indexed by the audiences they may see (publishing skips the others).

    ``last_id`` is the highest logged event id published so far (None until the feed's first catch-up,
    when ``ready`` is set): a client that connects without resuming starts after it.
    """

    def __init__(self, *, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._by_audience: dict[str, set[Subscriber]] = {v: set() for v in VISIBILITIES}
        self._all: set[Subscriber] = set()
        self.last_id: int | None = None
        self.ready = asyncio.Event()
        self.dropped_total = 0
        self.published_total = 0

    def __len__(self) -> int:
        return len(self._all)

    def subscribe(
        self, role: str, *, topics: Iterable[str] | None = None, territory_id: int | None = None
    ) -> Subscriber:
        sub = Subscriber(
            role,
            topics=frozenset(topics) if topics is not None else None,
            territory_id=territory_id,
            queue_size=self.queue_size,
        )
        self._all.add(sub)
        for audience in sub.audiences:
            self._by_audience[audience].add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._all.discard(sub)
        for audience in sub.audiences:
            self._by_audience[audience].discard(sub)

    def publish(self, message: Message) -> int:
        """Queue ``message`` for every subscriber that may and wants to see it; return how many got it.

        Never waits: a subscriber whose queue is full is dropped (unsubscribed, ``dropped`` set).
        """
        got = 0
        full: list[Subscriber] = []
        for sub in self._by_audience.get(message.audience, ()):
            if not sub.wants(message):
                continue
            try:
                sub.queue.put_nowait(message)
                got += 1
            except asyncio.QueueFull:
                full.append(sub)
        for sub in full:
            self.drop(sub, reason="slow")
        if message.id is not None and (self.last_id is None or message.id > self.last_id):
            self.last_id = message.id
        self.published_total += 1
        return got

    def drop(self, sub: Subscriber, *, reason: str) -> None:
        """Disconnect a subscriber (``slow``, or ``shutdown``): its connection ends soon."""
        self.unsubscribe(sub)
        if not sub.dropped.is_set():
            sub.reason = reason
            sub.dropped.set()
            if reason == "slow":
                self.dropped_total += 1

    def close_all(self) -> None:
        """End every connection (the server is stopping): clients reconnect elsewhere or later and resume."""
        for sub in list(self._all):
            self.drop(sub, reason="shutdown")


def logged(
    event_id: int, at: datetime, topic: str, audience: str, territory_id: int | None, payload_json: str
) -> Message:
    """The message of a row of ``live.events`` (its payload inserted as the JSON text PostgreSQL gave)."""
    text = orjson.dumps(
        {
            "id": event_id,
            "topic": topic,
            "at": at,
            "territory": territory_id,
            "payload": orjson.Fragment(payload_json),
        }
    ).decode()
    return Message(topic, text, id=event_id, audience=audience, territory_id=territory_id)


def sensor_values(
    topic: str, readings: list[Any], *, audience: str = "public", territory_id: int | None = None
) -> Message:
    """A ``sensors`` (live) or ``sensors.snapshot`` message: ``readings`` are [sensor_id, epoch_ms, value]."""
    body: dict[str, Any] = {"topic": topic}
    if territory_id is not None:
        body["territory"] = territory_id
    body["readings"] = readings
    return Message(topic, orjson.dumps(body).decode(), audience=audience, territory_id=territory_id)
