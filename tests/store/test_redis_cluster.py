"""Redis Cluster (``redis+cluster://``): three primaries on loopback, the slots split among them.

A cluster refuses any command whose keys are in different slots. Each source's keys and each
sink's keys share a hash tag, so every multi-key step stays in one slot; reading the outboxes
of several sources (different slots, here different nodes) is one blocking read per stream.
The store contract suites run again here against the cluster; then what only a cluster shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import redis

from monitor.core.errors import StoreError
from monitor.core.secret import Secret
from monitor.core.timings import Timings
from monitor.simulator import Simulator
from monitor.store.base import open_store
from monitor.store.redis import keys
from monitor.store.roles import Store
from monitor.store.values import RetryState
from tests.store import test_ledger_contract, test_store_contract
from tests.support.delivery_helpers import StoreFactory, started, store_factory
from tests.support.ledger_helpers import read_all
from tests.support.receiver import Receiver
from tests.support.redis_topologies import PASSWORD, Cluster, cluster, contract_tests
from tests.support.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)

SOURCES = ["main", "third", "delta"]  # their outboxes hash to slots on three different nodes


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("cluster")) as started_cluster:
        yield started_cluster


@pytest.fixture
def redis_url(redis_cluster: Cluster) -> str:
    """The cluster, empty (this replaces the single server of ``conftest.py`` here)."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
async def make_store(redis_url: str) -> AsyncIterator[StoreFactory]:
    async with store_factory("redis", redis_url) as factory:
        yield factory


# The whole contract, as memory and a single server keep it.
globals().update(contract_tests(test_store_contract, test_ledger_contract))


async def opened(factory: StoreFactory, *sinks: str) -> Store:
    store = factory()
    await store.open_outbox(list(sinks) or ["ops", "chat"], SOURCES)
    return store


def test_the_sources_live_on_different_nodes(redis_cluster: Cluster) -> None:
    owners = {redis_cluster.owner(keys.outbox(source)) for source in SOURCES}
    assert len(owners) == 3


async def test_one_read_gathers_every_source_in_order(make_store: StoreFactory) -> None:
    store = await opened(make_store)
    outcomes = {source: started(source, 1, 2) for source in SOURCES}
    for source, outcome in outcomes.items():
        assert await store.commit(source, 0, outcome) == 1
        loaded = await store.load(source)
        assert (loaded.version, set(loaded.state.tracked)) == (1, {1, 2})
    for sink in ("ops", "chat"):
        entries = await store.read(sink, 10, 0.5)
        for source, outcome in outcomes.items():
            got = [e.event_id for e in entries if e.source == source]
            assert got == [e.id for e in outcome.events], (sink, source)
        assert await store.backlog(sink) == 6
        await store.ack(sink, entries)
        assert await store.backlog(sink) == 0
    assert await store.trim() == 6
    assert await store.read("ops", 10, 0.05) == []


async def test_a_waiting_read_wakes_at_a_commit_on_any_node(make_store: StoreFactory) -> None:
    store = await opened(make_store, "ops")
    assert await store.read("ops", 10, 0.05) == []  # every stream now has a read waiting
    for source in SOURCES:
        reading = asyncio.create_task(store.read("ops", 10, 3.0))
        await asyncio.sleep(0.2)
        committed = time.monotonic()
        version = (await store.load(source)).version
        await store.commit(source, version, started(source, 10 + version))
        entries = await reading
        assert time.monotonic() - committed < 0.5  # woken, not polled: the read blocks 3 s
        assert [e.source for e in entries] == [source]
        await store.ack("ops", entries)


async def test_waiting_reads_do_not_poll(redis_cluster: Cluster, make_store: StoreFactory) -> None:
    store = await opened(make_store, "ops")

    def reads() -> int:
        total = 0
        for node in redis_cluster.nodes:
            client = node.client()
            try:
                stats = client.info("commandstats").get("cmdstat_xreadgroup", {})
            finally:
                client.close()
            total += int(stats.get("calls", 0))
        return total

    before = reads()
    for _ in range(4):  # 2 s of waiting in slices of 0.5 s, as a sink runner does
        assert await store.read("ops", 10, 0.5) == []
    streams = len(SOURCES) + 1
    # Per stream: one look at what is pending (the first read), then in each slice one look
    # for something new and one read that waits.
    assert reads() - before <= streams * (1 + 2 * 4)


async def test_dead_letters_replay_beside_the_outboxes(make_store: StoreFactory) -> None:
    store = await opened(make_store, "ops")
    for source in SOURCES:
        await store.commit(source, 0, started(source, 1))
    entries = await read_all(store, "ops")
    assert {e.source for e in entries} == set(SOURCES)
    await store.dead_letter("ops", entries, "receiver said 410", 3)
    assert await store.count_dead("ops") == 3
    assert await store.backlog("ops") == 0
    assert await store.replay_dead("ops", {entries[0].event_id}) == 1
    await store.commit("delta", 1, started("delta", 1, 2))  # new work beside the replay
    again = await read_all(store, "ops")
    assert {e.event_id for e in again} >= {entries[0].event_id}
    replayed = next(e for e in again if e.event_id == entries[0].event_id)
    assert replayed.stream == keys.sink_replay("ops")
    await store.ack("ops", again)
    assert await store.backlog("ops") == 0
    assert await store.purge_dead("ops") == 2
    assert await store.trim() >= 3


async def test_retry_states_of_entries_on_every_node_are_swept(make_store: StoreFactory) -> None:
    """The sweep asks each state's stream, on whichever node holds it, in one pipeline."""
    store = await opened(make_store, "ops")
    for source in SOURCES:
        await store.commit(source, 0, started(source, 1, 2))
    entries = await read_all(store, "ops")
    await store.ack("ops", [e for e in entries if e.key.endswith(":1")])
    await store.schedule_retry("ops", entries, RetryState(1, time.time() + 60, "HTTP 503"))
    await store.trim()
    waiting = [e for e in entries if not e.key.endswith(":1")]
    assert set(await store.retry_states("ops", entries)) == {e.event_id for e in waiting}


async def test_entries_of_a_silent_consumer_are_taken_over(redis_url: str) -> None:
    first = open_store(Secret(redis_url), consumer="pod-a")
    # pod-b takes over what has been idle for no time at all (60 s in production)
    second = open_store(Secret(redis_url), consumer="pod-b", timings=Timings(claim_idle=0.0))
    try:
        await first.open_outbox(["ops"], SOURCES)
        for source in SOURCES:
            await first.commit(source, 0, started(source, 1, 2))
        taken = await read_all(first, "ops")
        assert len(taken) == 6
        await first.keep("ops", taken)  # pod-a says it is alive; then it goes quiet
        await second.open_outbox(["ops"], SOURCES)
        claimed = await read_all(second, "ops")
        assert sorted(e.ref for e in claimed) == sorted(e.ref for e in taken)
        await second.ack("ops", claimed)
        assert await second.backlog("ops") == 0
    finally:
        await first.close()
        await second.close()


async def test_errors_name_the_nodes_and_never_the_password(redis_cluster: Cluster) -> None:
    node = redis_cluster.nodes[0].port
    store = open_store(
        Secret(f"redis+cluster://:wrong-{PASSWORD}@127.0.0.1:{node}"), consumer="pod-a"
    )
    try:
        with pytest.raises(StoreError) as info:
            await store.ping()
    finally:
        await store.close()
    assert f"redis+cluster://127.0.0.1:{node}" in str(info.value)
    assert PASSWORD not in str(info.value)


async def test_the_service_delivers_through_the_cluster(
    redis_url: str, redis_cluster: Cluster
) -> None:
    async with Simulator() as sim, Receiver() as hook:
        settings = settings_for(
            (source_config(sim.url),), (webhook_config(hook.url),), state_url=redis_url
        )
        async with running(settings) as service, aiohttp.ClientSession() as http:
            conf = sim.world.create_conference(title="Cluster algebra")
            await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
            sim.world.start(conf.id)
            (started_event,) = await hook.wait_for(1)
            sim.world.end(conf.id)
            _, ended_event = await hook.wait_for(2)
    assert started_event.json["type"] == "conference.started"
    assert started_event.json["data"]["conference"]["title"] == "Cluster algebra"
    assert ended_event.json["type"] == "conference.ended"
    assert ended_event.event_id != started_event.event_id
    client = redis.RedisCluster("127.0.0.1", redis_cluster.nodes[0].port, password=PASSWORD)
    try:
        assert int(client.hget(keys.meta("main"), "version") or 0) >= 2  # committed there
    finally:
        client.close()


async def test_the_history_gathers_the_sources_of_every_node(make_store: StoreFactory) -> None:
    """One stream of its own: the sources' commits on three nodes, read and followed there."""
    store = await opened(make_store, "ops")
    head = await store.history_head()
    following = asyncio.create_task(store.history_after(head, 10, 3.0))
    outcomes = [started(source, 1) for source in SOURCES]
    for source, outcome in zip(SOURCES, outcomes, strict=True):
        await store.commit(source, 0, outcome)
    ids = [outcome.events[0].id for outcome in outcomes]
    assert [e.event_id for e in await asyncio.wait_for(following, 5)][:1] == ids[:1]
    assert [e.event_id for e in await store.history(10)] == list(reversed(ids))
    assert [e.source for e in await store.history_after(head, 10, 0)] == SOURCES
