"""Leases (invariant 8): one replica per source and per sink, fencing, takeover, rebalancing."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from monitor.errors import StaleStateError
from monitor.leases import LeaseKeeper, owner
from monitor.metrics import Metrics
from monitor.store import Fence, Store
from tests.delivery_helpers import StoreFactory, started

NAMES = [f"source-{i}" for i in range(12)]


async def test_a_free_lease_is_taken_with_a_rising_token(make_store: StoreFactory) -> None:
    store = make_store()
    first = await store.acquire("main", "a", 5.0)
    assert first is not None
    assert await store.acquire("main", "b", 5.0) is None  # held by a
    again = await store.acquire("main", "a", 5.0)  # a restarted a takes its own lease back
    assert again is not None
    assert again > first  # every acquisition takes a new fencing token


async def test_renewal_keeps_only_what_is_still_ours(make_store: StoreFactory) -> None:
    store = make_store()
    token = await store.acquire("main", "a", 5.0)
    other = await store.acquire("side", "a", 5.0)
    assert token is not None
    assert other is not None
    assert await store.renew({"main": token, "side": other}, "a", 5.0) == set()
    assert await store.renew({"main": token + 1}, "a", 5.0) == {"main"}  # a stale token
    assert await store.renew({"main": token}, "b", 5.0) == {"main"}  # not b's


async def test_a_lease_lapses_and_can_be_handed_back(make_store: StoreFactory) -> None:
    store = make_store()
    assert await store.acquire("main", "a", 0.2) is not None
    await asyncio.sleep(0.3)
    assert await store.acquire("main", "b", 5.0) is not None  # a went silent
    await store.release("main", "a")  # not a's any more: nothing happens
    assert await store.acquire("main", "a", 5.0) is None
    await store.release("main", "b")
    assert await store.acquire("main", "a", 5.0) is not None


async def test_heartbeats_list_the_live_replicas(make_store: StoreFactory) -> None:
    store = make_store()
    await store.heartbeat("b", 0.2)
    assert await store.heartbeat("a", 5.0) == ["a", "b"]
    await asyncio.sleep(0.3)
    assert await store.heartbeat("a", 5.0) == ["a"]  # b fell silent


async def test_a_commit_under_a_lost_lease_is_refused(make_store: StoreFactory) -> None:
    """The fencing token: a replica paused past its lease cannot write stale state."""
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    paused = await store.acquire("main", "a", 0.2)
    assert paused is not None
    await asyncio.sleep(0.3)  # a is paused; its lease lapses; b takes over
    current = await store.acquire("main", "b", 5.0)
    assert current is not None
    with pytest.raises(StaleStateError, match="fenced"):
        await store.commit("main", 0, started("main", 1), Fence("a", paused))
    assert (await store.load("main")).version == 0  # nothing written
    assert await store.read("ops", 10, 0.05) == []  # no event
    assert await store.commit("main", 0, started("main", 1), Fence("b", current)) == 1


def test_owners_are_spread_and_agree() -> None:
    replicas = ["pod-a", "pod-b", "pod-c"]
    owners = [owner(name, replicas) for name in NAMES]
    assert owners == [owner(name, list(reversed(replicas))) for name in NAMES]  # any order
    assert set(Counter(owners)) == set(replicas)  # nobody is left without work
    # A replica leaving moves only its own work.
    without_c = [owner(name, replicas[:2]) for name in NAMES]
    assert all(o == w for o, w in zip(owners, without_c, strict=True) if o != "pod-c")


def keeper(store: Store, replica: str, ttl: float = 1.5) -> LeaseKeeper:
    return LeaseKeeper(store, replica, NAMES, ttl, Metrics(NAMES, []))


async def holders(store: Store, keepers: list[LeaseKeeper]) -> dict[str, list[str]]:
    """Who holds each name, by each keeper's own belief (never two at once)."""
    return {name: [k.replica for k in keepers if k.holds(name)] for name in NAMES}


async def test_replicas_share_the_work_and_take_over_from_a_silent_one(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    a, b = keeper(store, "a"), keeper(store, "b")
    for _ in range(3):  # join, then settle
        await a.check()
        await b.check()
    held = await holders(store, [a, b])
    assert all(len(who) == 1 for who in held.values()), held
    assert {who[0] for who in held.values()} == {"a", "b"}
    assert a.fence("source-0") is None or b.fence("source-0") is None

    # b goes silent (killed): within the ttl its work is a's, never held twice meanwhile.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.5
    while not all(a.holds(name) for name in NAMES):
        assert loop.time() < deadline, await holders(store, [a, b])
        await a.check()
        assert all(len(who) <= 1 for who in (await holders(store, [a])).values())
        await asyncio.sleep(0.1)
    assert a.replicas == ["a"]


async def test_a_joining_replica_gets_its_share_without_overlap(make_store: StoreFactory) -> None:
    store = make_store()
    a = keeper(store, "a")
    await a.check()
    assert all(a.holds(name) for name in NAMES)
    c = keeper(store, "c")
    for _ in range(3):
        await c.check()  # c registers; its names are still a's
        await a.check()  # a sees c and hands them back
        held = await holders(store, [a, c])
        assert all(len(who) <= 1 for who in held.values()), held
    await c.check()
    held = await holders(store, [a, c])
    assert all(len(who) == 1 for who in held.values()), held
    assert {who[0] for who in held.values()} == {"a", "c"}


async def test_stopping_hands_leases_back_at_once(make_store: StoreFactory) -> None:
    store = make_store()
    a, b = keeper(store, "a", ttl=30.0), keeper(store, "b", ttl=30.0)
    stop = asyncio.Event()
    task = asyncio.create_task(a.run(stop))
    await asyncio.sleep(0.1)
    assert all(a.holds(name) for name in NAMES)
    stop.set()
    await task
    await b.check()  # a left and handed everything back: b takes it all at once
    assert b.replicas == ["b"]
    assert all(b.holds(name) for name in NAMES)  # at b's next check, not after a's 20 s
