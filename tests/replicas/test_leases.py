"""Leases (invariant 8): one replica per source and per sink, fencing, takeover, rebalancing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Sequence

import pytest
import redis.asyncio as aioredis

from monitor.core.errors import StaleStateError
from monitor.core.lease_name import LeaseName
from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.replicas.leases import LeaseKeeper, owner
from monitor.store.redis import keys
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.store.values import Fence, Membership, holder
from tests.support.delivery_helpers import StoreFactory, started
from tests.support.store_wrappers import PassThroughStore

NAMES = [f"source-{i}" for i in range(12)]
LEASES = [LeaseName.source(name) for name in NAMES]
FIRST = LEASES[0]  # source-0


async def join(
    store: Store, replica: str, ttl: float = 5.0, epoch: int = 0, nonce: str = "one"
) -> Membership:
    return await store.heartbeat(replica, nonce, epoch, ttl)


async def take(
    store: Store,
    name: str,
    view: Membership,
    replica: str,
    *,
    nonce: str = "one",
    force: bool = False,
) -> int | None:
    me = holder(replica, view.epoch, nonce)
    return (await store.acquire([name], me, view, {name} if force else ())).get(name)


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
    taken = await store.acquire(["main", "side"], holder("a", a.epoch, "one"), a)
    assert set(taken) == {"main", "side"}
    for _ in range(3):  # renewed past its ttl by heartbeats alone
        await asyncio.sleep(0.15)
        again = await join(store, "a", ttl=0.3, epoch=a.epoch)
        assert again.epoch == a.epoch
    b = await join(store, "b")
    assert await store.acquire(["main", "side"], holder("b", b.epoch, "one"), b) == {}
    assert b.live == (holder("a", a.epoch, "one"), holder("b", b.epoch, "one"))
    assert b.replicas == ["a", "b"]


async def test_a_silent_replicas_leases_are_taken_over(make_store: StoreFactory) -> None:
    store = make_store()
    a = await join(store, "a", ttl=0.2)
    assert await take(store, "main", a, "a") is not None
    await asyncio.sleep(0.3)  # a falls silent
    b = await join(store, "b")
    assert b.replicas == ["b"]
    assert await take(store, "main", b, "b") is not None
    await store.release(["main"], holder("a", a.epoch, "one"))  # not a's any more: no effect
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
    assert back.live == (holder("a", back.epoch, "one"),)
    b = await join(store, "b")
    # Either may take the lease left by a's old epoch; whoever is second finds it alive.
    assert await take(store, "main", back, "a") is not None
    assert await take(store, "main", b, "b") is None
    await store.release(["main"], holder("a", back.epoch, "one"))
    assert await take(store, "main", b, "b") is not None


async def test_a_lost_heartbeat_answer_is_not_mistaken_for_another_process(
    make_store: StoreFactory,
) -> None:
    """After a lapse the heartbeat that starts a new epoch may never answer; the next one, still
    naming the old epoch, must not read that orphan epoch as another process of its name."""
    store = make_store()
    a = await join(store, "a", ttl=0.2)
    await asyncio.sleep(0.3)
    orphan = await join(store, "a", epoch=a.epoch)  # its answer is "lost"
    await asyncio.sleep(0.01)
    again = await join(store, "a", epoch=a.epoch)
    assert again.epoch > orphan.epoch
    assert again.live == (holder("a", again.epoch, "one"),)  # the orphan retired


async def test_a_holder_newer_than_the_view_is_left_alone(make_store: StoreFactory) -> None:
    """A view read before a replica (re)started cannot tell whether it is alive."""
    store = make_store()
    old = await join(store, "b")
    await asyncio.sleep(0.01)
    a = await join(store, "a")
    assert await take(store, "main", a, "a") is not None
    assert holder("a", a.epoch, "one") not in old.live
    assert await take(store, "main", old, "b") is None


async def test_a_restarted_replica_retires_its_earlier_epoch(make_store: StoreFactory) -> None:
    store = make_store()
    before = await join(store, "a", nonce="first")
    assert await take(store, "main", before, "a", nonce="first") is not None
    await asyncio.sleep(0.01)
    after = await join(store, "a", nonce="second")  # the same name, a new process
    assert after.epoch > before.epoch
    assert after.live == (holder("a", after.epoch, "second"),)
    assert await take(store, "main", after, "a", nonce="second") is not None  # at once
    # The earlier process, should it wake, finds its name taken and holds nothing.
    woken = await join(store, "a", epoch=before.epoch, nonce="first")
    assert woken.epoch == 0
    assert woken.live == (holder("a", after.epoch, "second"),)
    assert await take(store, "main", woken, "a", nonce="first") is None


async def test_replica_names_may_hold_at_signs(make_store: StoreFactory) -> None:
    store = make_store()
    ax = await join(store, "a@x")
    a = await join(store, "a")
    assert a.replicas == ["a", "a@x"]
    renewed = await join(store, "a@x", epoch=ax.epoch)
    assert renewed.epoch == ax.epoch
    assert renewed.replicas == ["a", "a@x"]


async def test_a_forced_acquisition_takes_a_lease_from_a_live_holder(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    a = await join(store, "a")
    b = await join(store, "b")
    first = await take(store, "main", a, "a")
    assert first is not None
    assert await take(store, "main", b, "b") is None
    forced = await take(store, "main", b, "b", force=True)
    assert forced is not None
    assert forced > first
    assert await take(store, "main", a, "a") is None  # b's now, and b is alive


async def test_heartbeats_list_the_live_replicas(make_store: StoreFactory) -> None:
    store = make_store()
    await join(store, "b", ttl=0.2)
    assert (await join(store, "a")).replicas == ["a", "b"]
    await asyncio.sleep(0.3)
    a = await join(store, "a")
    assert a.replicas == ["a"]  # b fell silent
    await store.leave(holder("a", a.epoch, "one"))
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
    stale = Fence(holder("a", a.epoch, "one"), paused)
    with pytest.raises(StaleStateError, match="fenced"):
        await store.commit("main", 0, started("main", 1), stale)
    assert (await store.load("main")).version == 0  # nothing written
    assert await store.read("ops", 10, 0.05) == []  # no event
    fence = Fence(holder("b", b.epoch, "one"), current)
    assert await store.commit("main", 0, started("main", 1), fence) == 1


def test_lease_names_are_spelled_as_before() -> None:
    """Observable, and shared by every replica of a rolling upgrade: the Redis keys, the metric
    labels and the rendezvous scores spell a source's lease by its name, a sink's as
    ``sink:<name>``."""
    assert LeaseName.source("main").key == "main"
    assert LeaseName.sink("ops").key == "sink:ops"
    assert keys.lease(LeaseName.sink("ops").key) == "ccm:{sink:ops}:lease"
    assert keys.fence(LeaseName.source("main").key) == "ccm:{main}:fence"
    assert keys.sink_dead("ops") == "ccm:{sink:ops}:dead"  # the sink lease's hash tag
    metrics = Metrics(["main"], ["ops"])
    metrics.set_leader(LeaseName.sink("ops"), True)
    sample = metrics.registry.get_sample_value
    assert sample("conference_monitor_sink_leader", {"sink": "ops"}) == 1
    assert sample("conference_monitor_leader", {"source": "main"}) == 0
    for lease in ("main", "sink:ops"):
        labels = {"lease": lease, "change": "acquired"}
        assert sample("conference_monitor_lease_transitions_total", labels) == 0


def test_owners_are_spread_and_agree() -> None:
    replicas = ["pod-a", "pod-b", "pod-c"]
    owners = [owner(name, replicas) for name in LEASES]
    assert owners == [owner(name, list(reversed(replicas))) for name in LEASES]  # any order
    assert set(Counter(owners)) == set(replicas)  # nobody is left without work
    # A replica leaving moves only its own work.
    without_c = [owner(name, replicas[:2]) for name in LEASES]
    assert all(o == w for o, w in zip(owners, without_c, strict=True) if o != "pod-c")


def keeper(store: Store, replica: str, ttl: float = 1.5) -> LeaseKeeper:
    return LeaseKeeper(store, replica, LEASES, ttl, Metrics(NAMES, []))


async def holders(store: Store, keepers: list[LeaseKeeper]) -> dict[LeaseName, list[str]]:
    """Who holds each name, by each keeper's own belief (never two at once)."""
    return {name: [k.replica for k in keepers if k.holds(name)] for name in LEASES}


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
    assert a.fence(FIRST) is None or b.fence(FIRST) is None

    # b goes silent (killed): within the ttl its work is a's, never held twice meanwhile.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.5
    while not all(a.holds(name) for name in LEASES):
        assert loop.time() < deadline, await holders(store, [a, b])
        await a.check()
        assert all(len(who) <= 1 for who in (await holders(store, [a])).values())
        await asyncio.sleep(0.1)
    assert a.replicas == ["a"]


async def test_a_joining_replica_gets_its_share_without_overlap(make_store: StoreFactory) -> None:
    store = make_store()
    a = keeper(store, "a")
    await a.check()
    assert all(a.holds(name) for name in LEASES)
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
    assert all(a.holds(name) for name in LEASES)
    stop.set()
    await task
    await b.check()  # a left and handed everything back: b takes it all at once
    assert b.replicas == ["b"]
    assert all(b.holds(name) for name in LEASES)  # at b's next check, not after a's 20 s


class CountingStore(PassThroughStore):
    """Counts the lease calls a keeper makes."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()

    async def heartbeat(self, replica: str, nonce: str, epoch: int, ttl: float) -> Membership:
        self.calls["heartbeat"] += 1
        return await self.inner.heartbeat(replica, nonce, epoch, ttl)

    async def acquire(
        self, names: Sequence[str], holder: str, view: Membership, force: Collection[str] = ()
    ) -> dict[str, int]:
        self.calls["acquire"] += 1
        return await self.inner.acquire(names, holder, view, force)


async def test_a_settled_replica_keeps_its_leases_with_one_call_per_check(
    make_store: StoreFactory,
) -> None:
    store = CountingStore(make_store())
    a = keeper(store, "a")
    await a.check()
    assert all(a.holds(name) for name in LEASES)
    assert store.calls == Counter(heartbeat=1, acquire=1)  # all twelve in one call
    tokens = {name: a.fence(name) for name in LEASES}
    for _ in range(5):
        await a.check()
    assert store.calls == Counter(heartbeat=6, acquire=1)
    assert {name: a.fence(name) for name in LEASES} == tokens  # the same tokens, still good


async def test_a_replica_back_from_a_pause_has_lost_everything(make_store: StoreFactory) -> None:
    """Paused past its heartbeat, a replica's leases are taken over; when it wakes its epoch is
    over, it holds nothing at once, and what it thought it held cannot be committed."""
    store = make_store()
    await store.open_outbox(["ops"], NAMES)
    a, b = keeper(store, "a", ttl=0.6), keeper(store, "b", ttl=0.6)
    await a.check()
    stale = a.fence(FIRST)
    assert stale is not None
    await asyncio.sleep(0.45)  # a's heartbeat (0.4 s) lapses
    assert not a.holds(FIRST)  # a's own trust ran out before that
    await b.check()
    assert all(b.holds(name) for name in LEASES)
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
    before = a.fence(FIRST)
    assert before is not None
    a.refused(FIRST)
    assert not a.holds(FIRST)
    await a.check()  # still a's to take: taken again with a newer token
    after = a.fence(FIRST)
    assert after is not None
    assert after.token > before.token


async def test_a_lease_its_live_holder_does_not_know_of_is_taken_within_two_checks(
    make_store: StoreFactory,
) -> None:
    """An acquisition whose answer never came back leaves a lease under a live epoch that its
    replica does not know it holds, so it never hands it back: the assigned replica takes it."""
    store = make_store()
    a, b = keeper(store, "a"), keeper(store, "b")
    for _ in range(2):
        await a.check()
        await b.check()
    name = next(name for name in LEASES if b.holds(name))
    b.refused(name)  # b gives it up; a takes it behind its own back (the answer "lost")
    assert await store.acquire([name.key], a.holder, Membership(0, 0, ()), {name.key}) != {}
    await a.check()
    assert not a.holds(name)  # a does not know
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3 * b.check_every + 0.5
    while not b.holds(name):
        assert loop.time() < deadline
        await a.check()  # a stays alive throughout
        await b.check()
        assert not a.holds(name)
        await asyncio.sleep(b.check_every / 2)


async def test_a_broken_lease_key_does_not_keep_the_others_from_being_taken(
    redis_url: str,
) -> None:
    raw = aioredis.Redis.from_url(redis_url)
    store = RedisStore.from_url(Secret(redis_url), consumer="a")
    try:
        await raw.hset(keys.lease("source-3"), "not", "a string")
        a = keeper(store, "a")
        await a.check()
        assert [name.key for name in LEASES if not a.holds(name)] == ["source-3"]
    finally:
        await store.close()
        await raw.aclose()


async def test_a_lease_of_an_epoch_from_a_clock_that_ran_ahead_is_free(redis_url: str) -> None:
    """Its epoch "began" after any view could be read, yet it is not alive: a Redis clock that
    stepped back (or a failover to a server whose clock is behind) must not lock it for hours."""
    raw = aioredis.Redis.from_url(redis_url)
    store = RedisStore.from_url(Secret(redis_url), consumer="a")
    try:
        seconds, micros = await raw.time()
        ahead = seconds * 1000 + micros // 1000 + 3_600_000
        await raw.set(keys.lease("source-0"), holder("gone", ahead, "abc"))
        a = keeper(store, "a")
        await a.check()
        assert a.holds(FIRST)
    finally:
        await store.close()
        await raw.aclose()
