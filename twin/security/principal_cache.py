"""Principals of recent session tokens, kept a few seconds so that a map's burst of tile requests does not
cost one database lookup each.

Never trusted longer than the database allows: every change that matters (sign-out, revocation, expiry,
scope, role, disabled account) fires ``NOTIFY auth_changed`` (migration 0008), on which every process clears
its cache; while the event bus is disconnected nothing is cached. Entries also end with their session.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from twin.security.roles import Principal


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    until: float  # time.monotonic() after which the entry is gone


class PrincipalCache:
    """Token digest → principal, for at most ``ttl_s`` and only while ``enabled``."""

    def __init__(self, *, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.enabled = False
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def get(self, digest: bytes) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None or not self.enabled:
            return None
        if time.monotonic() > entry.until:
            del self._entries[digest]
            return None
        return entry.principal

    def put(self, digest: bytes, principal: Principal, *, session_left_s: float) -> None:
        if not self.enabled or self.ttl_s <= 0:
            return
        self._entries[digest] = _Entry(principal, time.monotonic() + min(self.ttl_s, session_left_s))
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    async def on_change(self, _: str = "") -> None:
        self.clear()

    async def on_connect(self) -> None:
        self.clear()
        self.enabled = True

    async def on_disconnect(self) -> None:
        self.enabled = False
        self.clear()
