"""The state-and-outbox seam: what a poller commits and what a dispatcher consumes.

Two implementations pass one contract suite (``tests/test_store_contract.py``): ``memory://``
(embedded, lost on exit) and ``redis://`` / ``rediss://`` / ``unix://`` (durable, shared by
replicas). The promise both keep (invariant 2): ``commit`` writes a source's new state and the
events it implies in one atomic step, and refuses to write over a version it did not load.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from monitor.core.diff import Outcome
from monitor.core.errors import ConfigError
from monitor.core.models import SourceState
from monitor.core.secret import Secret

#: Seconds to wait before asking a store that failed again.
STORE_RETRY: Final = 1.0


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


class Store(Protocol):
    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""

    async def load(self, source: str) -> Loaded:
        """The committed state of ``source`` (empty, version 0, when there is none)."""

    async def commit(
        self, source: str, version: int, outcome: Outcome, fence: Fence | None = None
    ) -> int:
        """Write the changed parts of ``outcome.state`` and append its events, atomically.

        Raises ``StaleStateError`` (writing nothing) when the stored version is not ``version``,
        or when ``fence`` no longer holds the source's lease; returns the new version.
        """

    async def open_outbox(self, sinks: Sequence[str], sources: Sequence[str]) -> None:
        """Make every sink a consumer of every source's outbox, from now on.

        After this, the first ``read`` of a sink returns its deliveries that were in flight
        when the last process stopped, before any new entry.
        """

    async def read(self, sink: str, count: int, wait: float) -> list[OutboxEntry]:
        """Up to ``count`` entries for ``sink``, waiting at most ``wait`` seconds for one."""

    async def ack(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        """The sink has them: remove them from its outbox, with any retry state."""

    async def keep(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        """These entries are still being delivered here: do not hand them to another replica.

        Entries read by a consumer that then went quiet for long (a replaced pod) are handed to
        whoever reads next; ``keep`` is how a live consumer with a long retry says it is alive.
        """

    async def backlog(self, sink: str) -> int:
        """Entries committed for ``sink`` and not yet acknowledged."""

    async def trim(self) -> int:
        """Forget outbox entries that every sink has acknowledged; returns how many.

        Also forgets retry states whose entry is no longer pending for their sink (saved too
        late, or left by a crash, or the entry was trimmed), so they never pile up. Called on
        a slow beat (``app.TRIM_EVERY``); it costs nothing while nothing was delivered."""

    # What a sink's deliveries have been through: retries, dead letters, being disabled.

    async def retry_states(
        self, sink: str, entries: Sequence[OutboxEntry]
    ) -> dict[str, RetryState]:
        """The retry state of those ``entries`` that have one, by event id."""

    async def schedule_retry(
        self, sink: str, entries: Sequence[OutboxEntry], state: RetryState
    ) -> None:
        """Remember that these entries failed and when to try again (survives restarts)."""

    async def dead_letter(
        self, sink: str, entries: Sequence[OutboxEntry], reason: str, attempts: int
    ) -> None:
        """Move entries to the sink's dead-letter queue and out of its outbox."""

    async def dead_letters(self, sink: str) -> list[DeadLetter]:
        """The sink's dead-letter queue, oldest first."""

    async def count_dead(self, sink: str) -> int:
        """How many dead letters the sink has (cheaper than listing them)."""

    async def replay_dead(self, sink: str, event_ids: Collection[str] | None = None) -> int:
        """Deliver dead letters again (all, or those with ``event_ids``); returns how many."""

    async def purge_dead(self, sink: str) -> int:
        """Forget the sink's dead letters; returns how many."""

    async def adopt(self, sink: str) -> int:
        """Take over every entry of ``sink`` still pending with another consumer (this replica
        just took the sink's lease, so nobody else delivers for it); returns how many."""

    async def strays(self, sink: str) -> int:
        """How many of ``sink``'s entries are pending with another consumer: entries a former
        lease holder read after its lease had gone, which ``adopt`` takes back."""

    # Leases: which replica works on which source or sink (invariant 8).

    async def heartbeat(self, replica: str, nonce: str, epoch: int, ttl: float) -> Membership:
        """Say ``replica`` (the process ``nonce``) is alive, in ``epoch``, for ``ttl`` more
        seconds. When that epoch lapsed (or is 0: the process starts) it gets a new one, and
        every lease held in the old one is free to take."""

    async def acquire(
        self, names: Sequence[str], holder: str, view: Membership, force: Collection[str] = ()
    ) -> dict[str, int]:
        """Take each lease that is free, ``holder``'s own, or held by an epoch over in ``view``
        (those in ``force``: from anyone): a new fencing token for each one taken."""

    async def release(self, names: Sequence[str], holder: str) -> None:
        """Hand leases back (those ``holder`` holds), so another replica can take them at once."""

    async def leave(self, holder: str) -> None:
        """``holder`` stops: drop it from the live replicas, so its share moves at once."""

    async def members(self) -> tuple[int, dict[str, int]]:
        """The store's clock (ms) and each live member with the time its heartbeat lapses
        (ms): a member that keeps beating moves its time on (``LeaseKeeper.claim``)."""

    async def sink_disabled(self, sink: str) -> SinkDisabled | None:
        """Why the sink is disabled, or None while it is enabled."""

    async def disable_sink(self, sink: str, why: SinkDisabled) -> None: ...

    async def enable_sink(self, sink: str) -> None: ...

    async def close(self) -> None: ...


def open_store(url: Secret, *, consumer: str) -> Store:
    """The store a ``state_url`` names. ``consumer`` names this process among replicas."""
    scheme = url.reveal().partition(":")[0].lower()  # urlsplit rejects some lists of hosts
    if scheme == "memory":
        from monitor.store.memory import MemoryStore  # noqa: PLC0415 - only what is used

        return MemoryStore()
    if scheme in REDIS_SCHEMES:
        from monitor.config import redis_url  # noqa: PLC0415 - only what is used
        from monitor.store.redis import client as redis_client  # noqa: PLC0415 - only what is used
        from monitor.store.redis.store import RedisStore  # noqa: PLC0415 - only what is used

        where = redis_url.where(url.reveal())  # names every host of a Sentinel or Cluster
        return RedisStore(redis_client.connect(url), consumer=consumer, where=where)
    raise ConfigError("state_url", f"unsupported scheme {scheme!r}")


#: One server, a Sentinel group or a Cluster; ``rediss`` for TLS (``redis_client``).
REDIS_SCHEMES: Final = (
    *("redis", "rediss", "unix"),
    *("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"),
)
