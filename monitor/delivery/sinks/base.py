"""The ``Sink`` seam: how outbox entries become requests, and what a receiver's answer means."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from monitor.store.values import OutboxEntry


class Verdict(StrEnum):
    """What an answer means for the message, and for the sink."""

    DELIVERED = "delivered"
    RETRY = "retry"  # a passing failure: try again on the retry schedule
    REJECTED = "rejected"  # the receiver will never take this message: dead-letter it
    DISABLED = "disabled"  # the endpoint is gone: stop sending, keep everything for a human


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went. ``failure`` is a ``delivery_failures_total`` reason label."""

    verdict: Verdict
    status: int | None = None
    failure: str | None = None
    retry_after: float | None = None  # the receiver asked us to wait this long
    detail: str = ""  # safe to log: never the URL

    @property
    def delivered(self) -> bool:
        return self.verdict is Verdict.DELIVERED

    @classmethod
    def ok(cls, status: int | None = None) -> Attempt:
        return cls(Verdict.DELIVERED, status)


@dataclass(frozen=True, slots=True)
class Message:
    """One request to a receiver, and the outbox entries it delivers when it succeeds."""

    entries: tuple[OutboxEntry, ...]
    body: bytes

    @property
    def id(self) -> str:
        """The event id for one event; for several, an id derived from all of theirs."""
        if len(self.entries) == 1:
            return self.entries[0].event_id
        joined = "\x1f".join(entry.event_id for entry in self.entries)
        return "dig_" + hashlib.sha256(joined.encode()).hexdigest()[:32]


class Sink(Protocol):
    name: str

    def render(self, entries: Sequence[OutboxEntry]) -> list[Message]:
        """The messages that deliver ``entries`` (in order), each covering one or more."""

    async def send(self, message: Message) -> Attempt:
        """One attempt to deliver ``message``; never raises for a receiver's failure."""
