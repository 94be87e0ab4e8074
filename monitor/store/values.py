"""The values the store's roles trade in: what a load returns, a commit's fence, the outbox's
entries, a delivery's retry state, dead letters, the replicas' membership. Plain frozen data,
shared by the store, the pollers, the delivery and the sinks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitor.core.models import SourceState


@dataclass(frozen=True, slots=True)
class Loaded:
    """A source's committed state and the version a commit must name to replace it."""

    state: SourceState
    version: int
    # The store had events of this source once (its outbox says so), even if its state is gone.
    known: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Fence:
    """Who commits: the lease's holder (``holder``), with its fencing token."""

    replica: str
    token: int


@dataclass(frozen=True, slots=True)
class Membership:
    """A heartbeat's answer: this replica's epoch and the members alive at ``now``.

    An epoch is one unbroken run of heartbeats of one process; it begins at ``now`` of the
    heartbeat that started it (the store's clock, in ms) and, once it lapses, never comes back.
    So a lease held by an epoch that began before ``now`` and is not in ``live`` is free for
    good, whatever happens after this view was read."""

    epoch: int  # 0: another process took this replica's name; this one holds nothing
    now: int
    live: tuple[str, ...]  # ``holder``s, sorted

    @property
    def replicas(self) -> list[str]:
        """The live replicas' names."""
        return sorted({replica_of(member) for member in self.live})


_MEMBER = re.compile(r"(.*)@([0-9]+):([0-9A-Za-z]+)", re.DOTALL)  # as the scripts read it


def holder(replica: str, epoch: int, nonce: str) -> str:
    """A live member, and what a lease records as its holder: one process's run of heartbeats
    (``nonce`` names the process)."""
    return f"{replica}@{epoch}:{nonce}"


def member_parts(member: str) -> tuple[str, int, str] | None:
    """A member's replica, epoch and nonce (None for a member of another format)."""
    found = _MEMBER.fullmatch(member)
    return None if found is None else (found[1], int(found[2]), found[3])


def replica_of(member: str) -> str:
    parts = member_parts(member)
    return member if parts is None else parts[0]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One committed event waiting for one sink."""

    entry_id: str  # the store's own id (stream entry id); used to acknowledge
    source: str
    event_id: str  # the stable event id (``webhook-id``)
    type: str
    key: str  # ordering key: events with one key are delivered in order
    body: bytes  # the exact bytes to POST, the same on every attempt
    stream: str = field(default="", compare=False)  # where the store keeps it, if it says

    @property
    def ref(self) -> str:
        """Unique among everything a sink reads (entry ids are unique per stream only)."""
        return f"{self.stream or self.source}/{self.entry_id}"


@dataclass(frozen=True, slots=True)
class RetryState:
    """A delivery that failed and waits for its next attempt; kept so a restart resumes it."""

    attempts: int  # failed attempts so far
    due: float  # unix time of the next attempt
    error: str  # the last failure, for people


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a sink gave up on, kept until a person replays or purges it."""

    sink: str
    entry: OutboxEntry
    reason: str
    attempts: int
    dead_at: float  # unix time


@dataclass(frozen=True, slots=True)
class SinkDisabled:
    """Why a sink stopped sending. ``fingerprint`` identifies the endpoint it was about, so a
    corrected URL in the configuration enables the sink again."""

    reason: str
    at: float  # unix time
    fingerprint: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One committed event as the history keeps it: for people (the console, the events API),
    not for delivery."""

    cursor: str  # the store's position of it ("<ms>-<seq>"): later entries compare greater
    event_id: str  # the stable event id (``webhook-id``)
    type: str
    source: str
    body: bytes  # the envelope, exactly as delivered
    at: float  # unix time the store recorded it


@dataclass(frozen=True, slots=True)
class HistoryBounds:
    """How much history the store keeps: at most ``max_events`` entries (all sources
    together), none older than ``max_age`` seconds."""

    max_events: int = 10_000
    max_age: float = 604_800.0


def cursor_key(cursor: str) -> tuple[int, int]:
    """A cursor (``"<ms>-<seq>"``) as something that sorts like the entries it names."""
    ms, _, seq = cursor.partition("-")
    return int(ms), int(seq or 0)
