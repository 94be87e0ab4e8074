"""Which sources and sinks this replica works on (invariant 8).

Every replica registers with a heartbeat. Each source and each sink is assigned to one live
replica by rendezvous hashing (the same answer on every replica, and only 1/n of the work moves
when a replica joins or leaves); the assigned replica takes the lease and hands it back when the
assignment moves or the process stops, so the new owner takes over at its next check.

A lease names its holder's *epoch* (one unbroken run of heartbeats) and is valid while that
epoch lives, so the heartbeat every third of ``ttl`` is the only renewal: one store call per
check, however many leases are held. A replica that goes silent drops out of the membership
after two thirds of ``ttl``, its epoch is over for good, and its work is taken over within
``ttl``. Should it come back, it starts a new epoch and takes its leases again like anyone else,
raising their fencing tokens.

A lease is trusted locally only until shortly before the heartbeat that vouches for it could
have lapsed in the store, so a paused replica stops on its own, and the store's fencing refuses
it if it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import Sequence

import structlog

from monitor.core.aio import first
from monitor.core.errors import StoreError
from monitor.core.lease_name import LeaseName
from monitor.core.timings import PRODUCTION, Timings
from monitor.observe.metrics import Metrics
from monitor.replicas.identity import NAME_HINT
from monitor.store.roles import LeaseStore
from monitor.store.values import Fence, Membership, holder

log = structlog.get_logger("monitor.replicas.leases")


def owner(lease: LeaseName, replicas: Sequence[str]) -> str | None:
    """Rendezvous hashing: the replica with the highest score for ``lease`` (scored by its
    key, so every replica, of any version, gives the same answer)."""
    return max(
        replicas,
        key=lambda replica: hashlib.sha256(f"{lease.key}\x1f{replica}".encode()).digest(),
        default=None,
    )


class LeaseKeeper:
    def __init__(
        self,
        store: LeaseStore,
        replica: str,
        names: Sequence[LeaseName],
        ttl: float,
        metrics: Metrics,
        *,
        nonce: str | None = None,
        timings: Timings = PRODUCTION,
    ) -> None:
        """``nonce`` names this process among processes of the same name (``identity``)."""
        self.replica = replica
        self._retry = timings.store_retry
        self._store = store
        self._names = list(names)
        self._ttl = ttl
        self._metrics = metrics
        self._held: dict[LeaseName, int] = {}  # lease -> fencing token
        self._waiting: dict[LeaseName, float] = {}  # lease -> since when (monotonic) it is ours
        self._nonce = nonce or secrets.token_hex(6)
        self._epoch = 0  # none yet
        self._trusted_until = 0.0  # time.monotonic(): the last heartbeat's validity, with margin
        self._superseded = False
        self.name_taken = asyncio.Event()  # set when another process took this name: stop
        self.replicas: list[str] = []
        self._standby: tuple[str, ...] | None = None  # the replicas doing the work, if not us
        self._changed = asyncio.Event()  # set, and replaced, whenever a lease is taken or lost

    @property
    def _lease_ttl(self) -> float:
        """How long the store keeps a lease (and a heartbeat) past its last renewal."""
        return self._ttl * 2 / 3

    @property
    def check_every(self) -> float:
        return self._ttl / 3

    @property
    def holder(self) -> str:
        """What this replica's leases record: its name and current epoch."""
        return holder(self.replica, self._epoch, self._nonce)

    def holds(self, name: LeaseName) -> bool:
        return name in self._held and time.monotonic() < self._trusted_until

    def elsewhere(self, name: LeaseName) -> bool:
        """Is ``name`` another live replica's work (as of the last check)?"""
        assigned = owner(name, self.replicas)
        return not self.holds(name) and assigned is not None and assigned != self.replica

    def fence(self, name: LeaseName) -> Fence | None:
        return Fence(self.holder, self._held[name]) if self.holds(name) else None

    def refused(self, name: LeaseName) -> None:
        """The store refused a commit under ``name``'s lease: it is not ours any more (another
        replica took it, or the store lost it). Forget it; the next check takes it again if it
        is still ours to take."""
        self._lose(name, "lost")

    async def wait_for(self, name: LeaseName, stop: asyncio.Event) -> bool:
        """Until this replica holds ``name`` (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            if self.holds(name):
                return True
            changed = self._changed
            await first(changed.wait(), stop.wait(), asyncio.sleep(self.check_every))
        return False

    async def run(self, stop: asyncio.Event) -> None:
        failing = False
        while not stop.is_set():
            try:
                await self.check()
            except StoreError as exc:  # leases lapse on their own once they can't be renewed
                if not failing:
                    log.warning("lease_check_failed", replica=self.replica, error=str(exc))
                failing = True
                self._drop_lapsed()
            else:
                if failing:
                    log.info("lease_check_recovered", replica=self.replica)
                failing = False
            # An unreachable store is asked again soon, so work resumes soon after it returns.
            pause = self._retry if failing else self.check_every
            await first(asyncio.sleep(pause), stop.wait())
        await self._release_all()

    async def check(self) -> None:
        """One round: heartbeat, hand back what moved, take what is ours."""
        started = time.monotonic()
        view = await self._store.heartbeat(self.replica, self._nonce, self._epoch, self._lease_ttl)
        self._metrics.replicas.set(len(view.replicas))
        if view.epoch != self._epoch:
            self._new_epoch(view)
        if self._superseded:
            return
        self._trusted_until = started + self._lease_ttl * 0.9
        before, self.replicas = self.replicas, view.replicas
        mine = {name for name in self._names if owner(name, self.replicas) == self.replica}
        moved = [name for name in self._held if name not in mine]
        await self._store.release([name.key for name in moved], self.holder)
        for name in moved:
            self._lose(name, "released")
        self._note_standby(mine)
        await self._take(sorted(mine - self._held.keys(), key=str), view, started, before)

    async def _take(
        self, wanted: list[LeaseName], view: Membership, now: float, before: Sequence[str]
    ) -> None:
        """Take what is ours and not held. A live holder hands a lease back at its next check
        once it sees it is not its own; one that still has it two checks on does not know it
        holds it (an answer lost on the way, a release a failover lost), so it is taken from it:
        its fencing token stops any write it might still attempt."""
        self._waiting = {name: self._waiting.get(name, now) for name in wanted}
        if not wanted:
            return
        overdue = {
            name for name, since in self._waiting.items() if now - since >= 2 * self.check_every
        }
        by_key = {name.key: name for name in wanted}
        taken = await self._store.acquire(list(by_key), self.holder, view, {n.key for n in overdue})
        for key, token in taken.items():
            name = by_key[key]
            del self._waiting[name]
            self._held[name] = token
            previous = owner(name, before)
            if previous not in (None, self.replica):  # its replica left, lapsed or handed it on
                log.info("takeover", lease=name.key, replica=self.replica, previous=previous)
            self._transition(name, "acquired", token=token, forced=name in overdue)

    def _note_standby(self, mine: set[LeaseName]) -> None:
        """Log once when this replica has nothing to do: the others have it all."""
        others = tuple(r for r in self.replicas if r != self.replica)
        standby = others if not mine and not self._held and others else None
        if standby is not None and self._standby is None:
            log.info("standby", replica=self.replica, active=list(standby))
        self._standby = standby

    def standby(self) -> tuple[str, ...] | None:
        """The replicas that poll every source and deliver every sink, when this one is a
        standby; None while it works on anything."""
        return self._standby

    def _new_epoch(self, view: Membership) -> None:
        """The heartbeat lapsed (or this is the first): every lease held so far belongs to an
        epoch that is over, so none is ours until taken again."""
        self._lose_all("lost")
        superseded = view.epoch == 0
        if superseded and not self._superseded:
            log.error("replica_name_taken", replica=self.replica, hint=NAME_HINT)
            self.name_taken.set()
        elif not superseded:
            if self._epoch:
                log.warning("heartbeat_lapsed", replica=self.replica, epoch=view.epoch)
            self._epoch = view.epoch
        self._superseded = superseded

    def _drop_lapsed(self) -> None:
        if time.monotonic() >= self._trusted_until:
            self._lose_all("lost")

    def _lose_all(self, how: str) -> None:
        for name in list(self._held):
            self._lose(name, how)

    def _lose(self, name: LeaseName, how: str) -> None:
        if self._held.pop(name, None) is not None:
            self._transition(name, how)

    def _transition(self, name: LeaseName, how: str, **details: object) -> None:
        self._metrics.lease_transitions.labels(name.key, how).inc()
        self._metrics.set_leader(name, how == "acquired")
        log.info("lease_changed", lease=name.key, change=how, replica=self.replica, **details)
        self._changed.set()  # wakes whoever waits on this one; later waiters get a new one
        self._changed = asyncio.Event()

    async def _release_all(self) -> None:
        """On stop: hand every lease back and leave, so the others take over at their next
        check, not after the ttl."""
        with contextlib.suppress(StoreError):  # else they lapse with the heartbeat
            await self._store.release([name.key for name in self._held], self.holder)
        self._lose_all("released")
        with contextlib.suppress(StoreError):  # else the heartbeat lapses on its own
            await self._store.leave(self.holder)
