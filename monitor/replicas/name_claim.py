"""Before a replica's first heartbeat: is its name alive in the store under another process?

The heartbeat of a new process retires every other member of its name, taking it for a dead
predecessor (so a restart takes its work back at once). That is right only when the earlier
process is dead. A member of the same lock directory's ``machine`` tag is: this process holds
the name's lock (``identity``). Any other member is watched: it lapses (it was dead), or it
beats again or another member of the name appears (a live process). A live one refuses a
given name (exit 1) and moves a default name on to the next free one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping

import structlog

from monitor.core.aio import first
from monitor.core.errors import StoreError
from monitor.core.timings import PRODUCTION, Timings
from monitor.replicas import identity
from monitor.replicas.identity import Identity
from monitor.store.roles import LeaseStore
from monitor.store.values import member_parts

log = structlog.get_logger("monitor.replicas.name_claim")


def start_identity(url: str, replica: str | None) -> Identity:
    """The name to start under: ``replica`` if the caller gives one (tests; no lock file),
    any name for the memory store (nothing is shared with another process), else one of this
    machine's names for the store at ``url`` (``identity.claim``)."""
    if replica:
        return Identity(replica, secrets.token_hex(10), given=True)
    if url.startswith("memory:"):
        return Identity(identity.base_name(), secrets.token_hex(10), given=False)
    return identity.claim(scope=identity.store_scope(url))


async def settle(
    store: LeaseStore,
    me: Identity,
    lease_ttl: float,
    stop: asyncio.Event,
    *,
    url: str = "",
    environ: Mapping[str, str] = os.environ,
    timings: Timings = PRODUCTION,
) -> Identity | None:
    """The identity to run under (``me``, or the next free default name); None if ``stop``
    was set first. Raises ``ReplicaNameTakenError`` for a given name a live process has."""
    scope = identity.store_scope(url) if url else ""
    alive: list[str] = []
    while True:
        verdict = await _watch(
            store, me, lease_ttl / 24, stop, timings.store_retry
        )  # 8 looks per heartbeat
        if verdict is None or not verdict:
            return None if verdict is None else me
        if me.given:
            raise identity.taken(me.name)
        alive.append(me.name)
        me.release()
        me = identity.claim(environ, scope=scope, skip=alive)
        log.info("replica_renamed", replica=me.name, alive_elsewhere=alive)


async def _watch(
    store: LeaseStore, me: Identity, every: float, stop: asyncio.Event, retry: float
) -> bool | None:
    """Is another process alive under ``me.name``? None when stopped before it was known."""
    watched: dict[str, int] = {}  # member -> when it was to lapse, when first seen
    looked, failing = False, False
    while not stop.is_set():
        try:
            _, members = await store.members()
        except StoreError as exc:
            if not failing:
                log.warning("replica_claim_waiting", replica=me.name, error=str(exc))
            failing = True
            await first(asyncio.sleep(retry), stop.wait())
            continue
        rivals = {m: until for m, until in members.items() if _rival(m, me)}
        for member, until in rivals.items():
            appeared = looked and member not in watched
            if appeared or until > watched.setdefault(member, until):
                return True
        if not rivals:
            return False
        if not looked:
            log.warning("replica_name_in_use", replica=me.name, waiting_for=len(rivals))
        looked = True
        await first(asyncio.sleep(every), stop.wait())
    return None


def _rival(member: str, me: Identity) -> bool:
    parts = member_parts(member)
    if parts is None or parts[0] != me.name or parts[2] == me.nonce:
        return False
    return me.machine is None or not parts[2].startswith(me.machine)
