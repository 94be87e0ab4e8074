"""Leases (invariant 8): one replica per source and per sink, fencing, takeover, rebalancing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import pytest

from monitor.errors import StaleStateError
from monitor.leases import LeaseKeeper, owner
from monitor.metrics import Metrics
from monitor.store import Fence, Membership, Store, holder
from tests.delivery_helpers import StoreFactory, started
from tests.store_wrappers import PassThroughStore

NAMES = [f"source-{i}" for i in range(12)]


async def join(store: Store, replica: str, ttl: float = 5.0, epoch: int = 0) -> Membership:
    return await store.heartbeat(replica, epoch, ttl)


async def take(store: Store, name: str, view: Membership, replica: str) -> int | None:
    return (await store.acquire([name], holder(replica, view.epoch), view)).get(name)


async def test_a_free_lease_is_taken_with_a_rising_token(make_store: StoreFactory) -> None:
    store = make_store()
    a = await join(store, "a")
    b = await join(store, "b")
    first = await take(store, "main", a, "a")
    assert first is not None
    assert await take(store, "main", b, "b") is None  # held by a, alive
    again = await take(store, "main", a, "a")  # a takes its own lease again
    assert again is not None
    assert again > first  # every acquisition takes a new fencing token


async def test_one_heartbeat_keeps_every_lease_and_names_the_same_epoch(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    a = await join(store, "a", ttl=0.3)
    assert a.epoch > 0
    taken = await store.acquire(["main", "side"], holder("a", a.epoch), a)
    assert set(taken) == {"main", "side"}
    for _ in range(3):  # renewed past its ttl by heartbeats alone
        await asyncio.sleep(0.15)
        again = await join(store, "a", ttl=0.3, epoch=a.epoch)
        assert again.epoch == a.epoch
    b = await join(store, "b")
    assert await store.acquire(["main", "side"], holder("b", b.epoch), b) == {}
    assert b.live == (holder("a", a.epoch), holder("b", b.epoch))
    assert b.replicas == ["a", "b"]


async def test_a_silent_replicas_leases_are_taken_over(make_store: StoreFactory) -> None:
    store = make_store()
    a = await join(store, "a", ttl=0.2)
    assert await take(store, "main", a, "a") is not None
    await asyncio.sleep(0.3)  # a falls silent
    b = await join(store, "b")
    assert b.replicas == ["b"]
    assert await take(store, "main", b, "b") is not None
    await store.release("main", holder("a", a.epoch))  # not a's any more: nothing happens
    assert await take(store, "main", b, "b") is not None  # still b's


async def test_a_lapsed_replica_starts_a_new_epoch_and_competes_again(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    a = await join(store, "a", ttl=0.2)
    assert await take(store, "main", a, "a") is not None
    await asyncio.sleep(0.3)
    back = await join(store, "a", epoch=a.epoch)  # a wakes: its epoch is over for good
    assert back.epoch > a.epoch
    assert back.live == (holder("a", back.epoch),)
    b = await join(store, "b")
    # Either may take the lease left by a's old epoch; whoever is second finds it alive.
    assert await take(store, "main", back, "a") is not None
    assert await take(store, "main", b, "b") is None
    await store.release("main", holder("a", back.epoch))
    assert await take(store, "main", b, "b") is not None


async def test_a_holder_newer_than_the_view_is_left_alone(make_store: StoreFactory) -> None:
    """A view read before a replica (re)started cannot tell whether it is alive."""
    store = make_store()
    old = await join(store, "b")
    a = await join(store, "a")
    assert await take(store, "main", a, "a") is not None
    assert holder("a", a.epoch) not in old.live
    assert await take(store, "main", old, "b") is None


async def test_a_restarted_replica_retires_its_earlier_epoch(make_store: StoreFactory) -> None:
    store = make_store()
    before = await join(store, "a")
    assert await take(store, "main", before, "a") is not None
    await asyncio.sleep(0.01)
    after = await join(store, "a")  # the same name, a new process (epoch 0)
    assert after.epoch > before.epoch
    assert after.live == (holder("a", after.epoch),)
    assert await take(store, "main", after, "a") is not None  # at once, not after the ttl
    # The earlier process, should it wake, finds its name taken and holds nothing.
    woken = await join(store, "a", epoch=before.epoch)
    assert woken.epoch == 0
    assert woken.live == (holder("a", after.epoch),)


async def test_heartbeats_list_the_live_replicas(make_store: StoreFactory) -> None:
    store = make_store()
    await join(store, "b", ttl=0.2)
    assert (await join(store, "a")).replicas == ["a", "b"]
    await asyncio.sleep(0.3)
    a = await join(store, "a")
    assert a.replicas == ["a"]  # b fell silent
    await store.leave(holder("a", a.epoch))
    assert (await join(store, "c")).replicas == ["c"]


async def test_a_commit_under_a_lost_lease_is_refused(make_store: StoreFactory) -> None:
    """The fencing token: a replica paused past its lease cannot write stale state."""
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    a = await join(store, "a", ttl=0.2)
    paused = await take(store, "main", a, "a")
    assert paused is not None
    await asyncio.sleep(0.3)  # a is paused; its heartbeat lapses; b takes over
    b = await join(store, "b")
    current = await take(store, "main", b, "b")
    assert current is not None
    with pytest.raises(StaleStateError, match="fenced"):
        await store.commit("main", 0, started("main", 1), Fence(holder("a", a.epoch), paused))
    assert (await store.load("main")).version == 0  # nothing written
    assert await store.read("ops", 10, 0.05) == []  # no event
    fence = Fence(holder("b", b.epoch), current)
    assert await store.commit("main", 0, started("main", 1), fence) == 1


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


class CountingStore(PassThroughStore):
    """Counts the lease calls a keeper makes."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()

    async def heartbeat(self, replica: str, epoch: int, ttl: float) -> Membership:
        self.calls["heartbeat"] += 1
        return await super().heartbeat(replica, epoch, ttl)

    async def acquire(self, names: Sequence[str], holder: str, view: Membership) -> dict[str, int]:
        self.calls["acquire"] += 1
        return await super().acquire(names, holder, view)


async def test_a_settled_replica_keeps_its_leases_with_one_call_per_check(
    make_store: StoreFactory,
) -> None:
    store = CountingStore(make_store())
    a = keeper(store, "a")
    await a.check()
    assert all(a.holds(name) for name in NAMES)
    assert store.calls == Counter(heartbeat=1, acquire=1)  # all twelve in one call
    tokens = {name: a.fence(name) for name in NAMES}
    for _ in range(5):
        await a.check()
    assert store.calls == Counter(heartbeat=6, acquire=1)
    assert {name: a.fence(name) for name in NAMES} == tokens  # the same tokens, still good


async def test_a_replica_back_from_a_pause_has_lost_everything(make_store: StoreFactory) -> None:
    """Paused past its heartbeat, a replica's leases are taken over; when it wakes its epoch is
    over, it holds nothing at once, and what it thought it held cannot be committed."""
    store = make_store()
    await store.open_outbox(["ops"], NAMES)
    a, b = keeper(store, "a", ttl=0.6), keeper(store, "b", ttl=0.6)
    await a.check()
    stale = a.fence("source-0")
    assert stale is not None
    await asyncio.sleep(0.45)  # a's heartbeat (0.4 s) lapses
    assert not a.holds("source-0")  # a's own trust ran out before that
    await b.check()
    assert all(b.holds(name) for name in NAMES)
    await a.check()  # a wakes: a new epoch; every name is assigned anew, b's are left alone
    held = await holders(store, [a, b])
    assert all(len(who) == 1 for who in held.values()), held
    with pytest.raises(StaleStateError, match="fenced"):
        await store.commit("source-0", 0, started("source-0", 1), stale)


async def test_a_refused_commit_gives_the_lease_up_until_taken_again(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    a = keeper(store, "a")
    await a.check()
    before = a.fence("source-0")
    assert before is not None
    a.refused("source-0")
    assert not a.holds("source-0")
    await a.check()  # still a's to take: taken again with a newer token
    after = a.fence("source-0")
    assert after is not None
    assert after.token > before.token
