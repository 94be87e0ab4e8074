"""The event history, one contract for both stores: newest first, cursors that page, bounds by
count and by age, a waiting read that wakes on a commit, shared by every store opened on one
backing (a restart, another replica), and a failed commit records nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from monitor.core.diff import Outcome, diff
from monitor.core.errors import StaleStateError
from monitor.core.models import SourceState
from monitor.core.secret import Secret
from monitor.store.memory import MemoryStore
from monitor.store.redis import keys
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.store.values import HistoryBounds
from tests.support.factories import NOW, conference, snapshot

Factory = Callable[[HistoryBounds], Store]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Stores on one backing: a second one is another replica (memory: the same object)."""
    opened: list[Store] = []
    memory: dict[str, MemoryStore] = {}

    def factory(bounds: HistoryBounds) -> Store:
        if request.param == "memory":
            return memory.setdefault("one", MemoryStore(bounds))
        url = request.getfixturevalue("redis_url")
        store = RedisStore.from_url(Secret(url), consumer="replica-a", history=bounds)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


def started(source: str, *ids: int) -> Outcome:
    previous = SourceState(baselined=True)
    return diff(source, previous, snapshot(*(conference(i) for i in ids)), {}, now=NOW)


async def test_history_is_newest_first_with_the_envelope_as_delivered(
    make_store: Factory,
) -> None:
    store = make_store(HistoryBounds())
    assert await store.history(10) == []
    assert await store.history_head() == "0-0"
    first, second = started("main", 1), started("other", 2)
    await store.commit("main", 0, first)
    await store.commit("other", 0, second)
    entries = await store.history(10)
    assert [e.event_id for e in entries] == [second.events[0].id, first.events[0].id]
    assert [e.source for e in entries] == ["other", "main"]
    assert entries[0].type == "conference.started"
    assert entries[0].body == second.events[0].body()
    assert json.loads(entries[1].body)["data"]["conference"]["id"] == 1
    assert await store.history_head() == entries[0].cursor


async def test_cursors_page_both_ways(make_store: Factory) -> None:
    store = make_store(HistoryBounds())
    await store.commit("main", 0, started("main", 1, 2, 3, 4))
    newest = await store.history(2)
    older = await store.history(10, before=newest[-1].cursor)
    assert len(older) == 2
    every = [*newest, *older]
    assert len({e.event_id for e in every}) == 4
    forward = await store.history_after("0-0", 10, 0)
    assert [e.cursor for e in forward] == [e.cursor for e in reversed(every)]
    assert await store.history_after(forward[1].cursor, 1, 0) == [forward[2]]
    assert await store.history_after(forward[-1].cursor, 10, 0) == []


async def test_bounded_by_count_across_sources(make_store: Factory) -> None:
    store = make_store(HistoryBounds(max_events=3))
    await store.commit("main", 0, started("main", 1, 2))
    await store.commit("other", 0, started("other", 3, 4))
    kept = await store.history(10)
    assert [json.loads(e.body)["data"]["conference"]["id"] for e in kept] == [4, 3, 2]


async def test_bounded_by_age(make_store: Factory) -> None:
    store = make_store(HistoryBounds(max_age=0.2))
    await store.commit("main", 0, started("main", 1))
    assert len(await store.history(10)) == 1
    await asyncio.sleep(0.3)  # the bound is an age: only time can pass it
    assert await store.history(10) == []
    assert await store.history_after("0-0", 10, 0) == []


async def test_a_waiting_read_wakes_on_another_replicas_commit(make_store: Factory) -> None:
    reader, writer = make_store(HistoryBounds()), make_store(HistoryBounds())
    head = await reader.history_head()
    waiting = asyncio.create_task(reader.history_after(head, 10, 5.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    outcome = started("main", 7)
    await writer.commit("main", 0, outcome)
    got = await asyncio.wait_for(waiting, 5)
    assert [e.event_id for e in got] == [outcome.events[0].id]


async def test_a_waiting_read_ends_after_its_wait(make_store: Factory) -> None:
    store = make_store(HistoryBounds())
    assert await store.history_after(await store.history_head(), 10, 0.05) == []


async def test_a_refused_commit_records_nothing(make_store: Factory) -> None:
    store = make_store(HistoryBounds())
    await store.commit("main", 0, started("main", 1))
    with pytest.raises(StaleStateError):
        await store.commit("main", 0, started("main", 2))
    assert len(await store.history(10)) == 1


async def test_an_event_is_found_by_its_id_until_it_is_trimmed(make_store: Factory) -> None:
    store = make_store(HistoryBounds(max_events=2))
    first, second, third = (started("main", i) for i in (1, 2, 3))
    await store.commit("main", 0, first)
    found = await store.history_entry(first.events[0].id)
    assert found is not None
    assert found.body == first.events[0].body()
    assert found == (await store.history(1))[0]
    await store.commit("other", 0, second)
    await store.commit("third", 0, third)  # the count bound drops the first
    assert await store.history_entry(first.events[0].id) is None
    assert await store.history_entry(third.events[0].id) is not None
    assert await store.history_entry("evt_never") is None


async def test_an_event_recorded_twice_is_found_at_its_newest(make_store: Factory) -> None:
    """A commit whose state write failed is made again with the same event ids (a duplicate,
    never a loss): the id then names the newer entry, and the older one's trim keeps it."""
    store = make_store(HistoryBounds(max_events=2))
    outcome = started("main", 1)
    await store.commit("main", 0, outcome)
    await store.commit("again", 0, outcome)  # the same event, recorded once more
    newest = (await store.history(1))[0]
    assert await store.history_entry(outcome.events[0].id) == newest
    await store.commit("other", 0, started("other", 2))  # trims the older copy
    assert await store.history_entry(outcome.events[0].id) == newest


async def test_found_by_id_only_within_the_age_bound(make_store: Factory) -> None:
    store = make_store(HistoryBounds(max_age=0.2))
    outcome = started("main", 1)
    await store.commit("main", 0, outcome)
    await asyncio.sleep(0.3)  # the bound is an age: only time can pass it
    assert await store.history_entry(outcome.events[0].id) is None
    await store.commit("other", 0, started("other", 2))  # trims it, and its id
    assert await store.history_entry(outcome.events[0].id) is None


async def test_the_redis_index_stays_as_small_as_the_history(
    redis_url: str, raw_redis: aioredis.Redis
) -> None:
    store = RedisStore.from_url(Secret(redis_url), consumer="a", history=HistoryBounds(3))
    try:
        for n in range(10):
            await store.commit(f"s{n}", 0, started(f"s{n}", 1, 2))
        assert await raw_redis.xlen(keys.history()) == 3
        assert await raw_redis.hlen(keys.history_ids()) == 3
    finally:
        await store.close()
