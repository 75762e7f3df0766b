"""The hub alone: who gets a message (audience, topic, territory), the bounded queues, serialization once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.hub import LiveHub, Message, logged, sensor_values
from live.session import parse_topics
from twin.errors import InvalidInput
from twin.security.permissions import may_see_layer
from twin.security.roles import ACCOUNT_ROLES

AT = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)


def test_a_logged_event_is_serialized_once_with_its_payload_as_given() -> None:
    message = logged(41, AT, "incident", "restricted", 3, '{"action": "created", "title": "Fuite « rue »"}')
    assert json.loads(message.text) == {
        "id": 41,
        "topic": "incident",
        "at": "2026-11-26T08:30:00+00:00",
        "territory": 3,
        "payload": {"action": "created", "title": "Fuite « rue »"},
    }
    assert message.sse() is message.sse()  # built once, shared by every SSE client
    assert message.sse().startswith(b"id: 41\nevent: incident\ndata: {")


@given(
    audience=st.sampled_from(["public", "internal", "restricted"]),
    topic=st.sampled_from(["incident", "detection", "log", "sensors"]),
    territory=st.sampled_from([None, 1, 2]),
)
def test_every_subscriber_gets_exactly_what_its_role_and_filters_allow(
    audience: str, topic: str, territory: int | None
) -> None:
    async def scenario() -> None:
        hub = LiveHub()
        subs = []
        for role in ["anonymous", *(r.value for r in ACCOUNT_ROLES)]:
            for topics in (None, {"incident"}, {"sensors", "log"}):
                for wanted_territory in (None, 1):
                    subs.append(hub.subscribe(role, topics=topics, territory_id=wanted_territory))
        message = Message(topic, "{}", audience=audience, territory_id=territory)
        got = hub.publish(message)
        expected = [
            s
            for s in subs
            if may_see_layer(s.role, audience)
            and (s.topics is None or topic in s.topics)
            and (s.territory_id is None or territory is None or territory == s.territory_id)
        ]
        assert got == len(expected)
        for s in subs:
            assert s.queue.qsize() == (1 if s in expected else 0)
            if s in expected:
                assert s.queue.get_nowait() is message  # the same object: no copy per client

    asyncio.run(scenario())


def test_a_full_queue_drops_its_subscriber_only() -> None:
    async def scenario() -> None:
        hub = LiveHub(queue_size=3)
        slow, fast = hub.subscribe("operator"), hub.subscribe("operator")
        for i in range(1, 5):
            hub.publish(logged(i, AT, "log", "internal", None, "{}"))
            fast.queue.get_nowait()
        assert slow.dropped.is_set() and slow.reason == "slow" and not fast.dropped.is_set()
        assert len(hub) == 1 and hub.dropped_total == 1 and hub.last_id == 4
        hub.publish(sensor_values("sensors", [[1, 0, 2.5]], audience="internal", territory_id=1))
        assert fast.queue.qsize() == 1 and slow.queue.qsize() == 3
        hub.close_all()
        assert fast.dropped.is_set() and fast.reason == "shutdown" and len(hub) == 0

    asyncio.run(scenario())


def test_topics_are_checked() -> None:
    assert parse_topics(None) is None and parse_topics(" , ") is None
    assert parse_topics("incident,sensors") == {"incident", "sensors"}
    with pytest.raises(InvalidInput) as refused:
        parse_topics("incident,alerts")
    assert "'alerts'" in str(refused.value) and "incident, detection, log, simulation, sensors" in str(
        refused.value
    )
