"""The ``Sink`` seam and the result of one delivery attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from monitor.store import OutboxEntry


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went. ``failure`` is a ``delivery_failures_total`` reason label."""

    delivered: bool
    status: int | None = None
    failure: str | None = None
    retry_after: float | None = None  # the receiver asked us to wait this long
    detail: str = ""  # safe to log: never the URL

    @classmethod
    def ok(cls, status: int | None = None) -> Attempt:
        return cls(True, status)


class Sink(Protocol):
    name: str

    async def send(self, entry: OutboxEntry) -> Attempt:
        """One attempt to deliver ``entry``; never raises for a receiver's failure."""
