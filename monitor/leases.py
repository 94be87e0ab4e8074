"""Which sources and sinks this replica works on (invariant 8).

Every replica registers with a heartbeat. Each source and each sink is assigned to one live
replica by rendezvous hashing (the same answer on every replica, and only 1/n of the work moves
when a replica joins or leaves); the assigned replica takes the lease, renews it every third of
``ttl``, and hands it back when the assignment moves or the process stops, so the new owner
takes over at its next check. A replica that goes silent loses its leases and its place in the
membership after two thirds of ``ttl``; its work is taken over within ``ttl``.

A lease is trusted locally only until shortly before it could have expired in the store, so a
paused replica stops on its own, and the store's fencing refuses it if it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from monitor.aio import first
from monitor.errors import StoreError
from monitor.metrics import Metrics
from monitor.store import STORE_RETRY, Fence, Store

log = structlog.get_logger("monitor.leases")


def owner(name: str, replicas: Sequence[str]) -> str | None:
    """Rendezvous hashing: the replica with the highest score for ``name``."""
    return max(
        replicas,
        key=lambda replica: hashlib.sha256(f"{name}\x1f{replica}".encode()).digest(),
        default=None,
    )


@dataclass(slots=True)
class _Held:
    token: int
    trusted_until: float  # time.monotonic()


class LeaseKeeper:
    def __init__(
        self,
        store: Store,
        replica: str,
        names: Sequence[str],
        ttl: float,
        metrics: Metrics,
    ) -> None:
        self.replica = replica
        self._store = store
        self._names = list(names)
        self._ttl = ttl
        self._metrics = metrics
        self._held: dict[str, _Held] = {}
        self.replicas: list[str] = []
        self._changed = asyncio.Event()  # set, and replaced, whenever a lease is taken or lost

    @property
    def _lease_ttl(self) -> float:
        """How long the store keeps a lease (and a heartbeat) past its last renewal."""
        return self._ttl * 2 / 3

    @property
    def check_every(self) -> float:
        return self._ttl / 3

    def holds(self, name: str) -> bool:
        held = self._held.get(name)
        return held is not None and time.monotonic() < held.trusted_until

    def elsewhere(self, name: str) -> bool:
        """Is ``name`` another live replica's work (as of the last check)?"""
        assigned = owner(name, self.replicas)
        return not self.holds(name) and assigned is not None and assigned != self.replica

    def fence(self, name: str) -> Fence | None:
        held = self._held.get(name)
        return None if held is None or not self.holds(name) else Fence(self.replica, held.token)

    async def wait_for(self, name: str, stop: asyncio.Event) -> bool:
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
            pause = STORE_RETRY if failing else self.check_every
            await first(asyncio.sleep(pause), stop.wait())
        await self._release_all()

    async def check(self) -> None:
        """One round: heartbeat, renew what is held, hand back what moved, take what is ours."""
        started = time.monotonic()
        self.replicas = await self._store.heartbeat(self.replica, self._lease_ttl)
        self._metrics.replicas.set(len(self.replicas))
        tokens = {name: held.token for name, held in self._held.items()}
        for name in await self._store.renew(tokens, self.replica, self._lease_ttl):
            self._lose(name, "lost")
        for name in self._held:
            self._held[name].trusted_until = started + self._lease_ttl * 0.9
        mine = {name for name in self._names if owner(name, self.replicas) == self.replica}
        for name in [name for name in self._held if name not in mine]:
            await self._store.release(name, self.replica)
            self._lose(name, "released")
        for name in sorted(mine - self._held.keys()):
            token = await self._store.acquire(name, self.replica, self._lease_ttl)
            if token is not None:
                self._held[name] = _Held(token, started + self._lease_ttl * 0.9)
                self._transition(name, "acquired", token=token)

    def _drop_lapsed(self) -> None:
        for name in [name for name in self._held if not self.holds(name)]:
            self._lose(name, "lost")

    def _lose(self, name: str, how: str) -> None:
        if self._held.pop(name, None) is not None:
            self._transition(name, how)

    def _transition(self, name: str, how: str, **details: object) -> None:
        self._metrics.lease_transitions.labels(name, how).inc()
        self._metrics.set_leader(name, how == "acquired")
        log.info("lease_changed", lease=name, change=how, replica=self.replica, **details)
        self._changed.set()  # wakes whoever waits on this one; later waiters get a new one
        self._changed = asyncio.Event()

    async def _release_all(self) -> None:
        """On stop: leave, and hand every lease back, so the others take over at their next
        check, not after the ttl."""
        with contextlib.suppress(StoreError):  # else the heartbeat lapses on its own
            await self._store.leave(self.replica)
        for name in list(self._held):
            with contextlib.suppress(StoreError):  # else it lapses on its own
                await self._store.release(name, self.replica)
            self._lose(name, "released")
