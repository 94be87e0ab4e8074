"""The store's roles, each a protocol its callers can name: a poller needs ``StateStore``, a
sink's delivery ``Outbox`` and ``Ledger``, the replicas ``LeaseStore``; ``Store`` is all of
them, as both implementations (memory, Redis) are.

Two implementations pass one contract suite per role (``tests/store/test_store_contract.py``,
``tests/store/test_ledger_contract.py``, ``tests/replicas/test_leases.py``,
``tests/store/test_watch_store_contract.py``). ``WatchStore`` keeps what an institution-wide
watch knows between runs. The promise they keep
(invariant 2): ``commit`` writes a source's new state and the events it implies in one atomic
step, and refuses to write over a version it did not load.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from monitor.core.diff import Outcome
from monitor.store.values import (
    DeadLetter,
    Fence,
    HistoryEntry,
    Loaded,
    Membership,
    OutboxEntry,
    RetryState,
    SinkDisabled,
)


class StateStore(Protocol):
    """Each source's committed state, and the commit of a poll (state and events at once)."""

    async def load(self, source: str) -> Loaded:
        """The committed state of ``source`` (empty, version 0, when there is none)."""

    async def commit(
        self, source: str, version: int, outcome: Outcome, fence: Fence | None = None
    ) -> int:
        """Write the changed parts of ``outcome.state`` and append its events, atomically.

        Raises ``StaleStateError`` (writing nothing) when the stored version is not ``version``,
        or when ``fence`` no longer holds the source's lease; returns the new version.
        """


class Outbox(Protocol):
    """The committed events, one consumer group per sink."""

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
        a slow beat (``Timings.trim_every``); it costs nothing while nothing was delivered."""

    async def adopt(self, sink: str) -> int:
        """Take over every entry of ``sink`` still pending with another consumer (this replica
        just took the sink's lease, so nobody else delivers for it); returns how many."""

    async def strays(self, sink: str) -> int:
        """How many of ``sink``'s entries are pending with another consumer: entries a former
        lease holder read after its lease had gone, which ``adopt`` takes back."""


class Ledger(Protocol):
    """What a sink's deliveries have been through: retries, dead letters, being disabled."""

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

    async def purge_dead(self, sink: str, event_ids: Collection[str] | None = None) -> int:
        """Forget the sink's dead letters (all, or those with ``event_ids``); returns how many."""

    async def sink_disabled(self, sink: str) -> SinkDisabled | None:
        """Why the sink is disabled, or None while it is enabled."""

    async def disable_sink(self, sink: str, why: SinkDisabled) -> None: ...

    async def enable_sink(self, sink: str) -> None: ...


class LeaseStore(Protocol):
    """Leases: which replica works on which source or sink (invariant 8)."""

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
        (ms): a member that keeps beating moves its time on (``name_claim``)."""


class WatchStore(Protocol):
    """What a source that watches an institution keeps between runs and shares with replicas:
    its baseline moment, the courses its accounts hold, and what it knows of each context.

    Written after the commit of what they describe, never before, so a crash between the two
    costs at most a context read once more as if for the first time (which announces nothing
    already tracked). The values are the watch's own encoding; the store keeps them as given.
    """

    async def baseline_at(self, source: str, now: datetime) -> datetime:
        """When ``source`` was first watched: the stored moment, or ``now`` (then stored)."""

    async def directory(self, source: str) -> bytes | None:
        """The last complete discovery of ``source``'s accounts, as saved."""

    async def save_directory(self, source: str, directory: bytes) -> None: ...

    async def context_marks(self, source: str) -> dict[str, str]:
        """What the watch noted per context (``"Course:101"``: a tier letter)."""

    async def mark_contexts(self, source: str, marks: Mapping[str, str]) -> None:
        """Note these contexts (an empty value forgets one)."""


class History(Protocol):
    """The recent events of every source, for people: bounded by count and age
    (``HistoryBounds``), shared by replicas; what ``/api/v1/events`` and its stream read.

    ``commit`` records its events here; a commit that fails records nothing. Entries come back
    in commit order (cursors grow), with what is past the bounds left out.
    """

    async def history(self, limit: int, before: str | None = None) -> list[HistoryEntry]:
        """Up to ``limit`` entries, newest first; only those older than cursor ``before``."""

    async def history_after(self, cursor: str, count: int, wait: float) -> list[HistoryEntry]:
        """Up to ``count`` entries newer than ``cursor``, oldest first, waiting at most
        ``wait`` seconds for one (``"0-0"``: from the oldest kept)."""

    async def history_entry(self, event_id: str) -> HistoryEntry | None:
        """The (newest) entry of ``event_id``, if the history still has it: where a client
        that saw it resumes. One look-up, however long the history."""

    async def history_head(self) -> str:
        """The cursor of the newest entry (``"0-0"`` when there is none): where a reader
        that wants only what comes next starts."""


class Deliveries(Outbox, Ledger, Protocol):
    """What a sink's delivery needs: its outbox and its ledger."""


class Store(StateStore, WatchStore, Outbox, Ledger, LeaseStore, History, Protocol):
    """Every role: what ``open_store`` returns.

    Store errors raise ``StoreError``."""

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""

    async def close(self) -> None: ...
