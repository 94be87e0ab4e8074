"""One contract, two stores: memory and a real redis-server must behave the same."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from monitor.core.diff import Answer, Confirmation, Outcome, diff
from monitor.core.errors import StaleStateError
from monitor.core.models import SourceState
from monitor.core.secret import Secret
from monitor.store.memory import MemoryStore
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from tests.support.factories import NOW, conference, snapshot

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Opens stores on one shared backing: a new instance is what a restarted process sees."""
    opened: list[Store] = []
    if request.param == "memory":
        backing = MemoryStore()

        def factory() -> Store:
            return backing
    else:
        url = request.getfixturevalue("redis_url")

        def factory() -> Store:
            store = RedisStore.from_url(Secret(url), consumer="replica-a")
            opened.append(store)
            return store

    yield factory
    for store in opened:
        await store.close()


def started(source: str, *ids: int) -> Outcome:
    """The outcome of a poll that sees ``ids`` live after an (already taken) baseline."""
    previous = SourceState(baselined=True)
    return diff(source, previous, snapshot(*(conference(i) for i in ids)), {}, now=NOW)


async def test_unknown_source_loads_empty(make_store: StoreFactory) -> None:
    loaded = await make_store().load("nowhere")
    assert loaded.version == 0
    assert loaded.state == SourceState()


async def test_commit_round_trips_state(make_store: StoreFactory) -> None:
    store = make_store()
    first = started("main", 1, 2)
    assert await store.commit("main", 0, first) == 1

    # Conference 1 ends (confirmed), 2 stays: one tracked entry and one tombstone change.
    ended = conference(1, ended_at=NOW + timedelta(minutes=1))
    later = NOW + timedelta(minutes=2)
    second = diff(
        "main",
        first.state,
        snapshot(conference(2)),
        {1: Confirmation(Answer.FOUND, ended)},
        now=later,
    )
    assert await store.commit("main", 1, second) == 2

    loaded = await make_store().load("main")
    assert loaded.version == 2
    assert loaded.state.baselined
    assert set(loaded.state.tracked) == {2}
    assert loaded.state.tracked[2] == second.state.tracked[2]
    assert loaded.state.tracked[2].conference.raw == conference(2).raw
    assert loaded.state.tombstones == {1: second.state.tombstones[1]}


async def test_stored_texts_come_back_byte_for_byte(make_store: StoreFactory) -> None:
    """Titles with quotes, backslashes, escapes and non-ASCII text: the Redis store carries
    them inside one JSON argument (``codec.commit_args``); the bodies and the Canvas text must
    come back exactly, since signatures cover the body byte for byte."""
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    title = 'Biologie "1" \\ caf\u00e9 \u2014 \U0001f600 \n\t\x00 </script>'
    live = snapshot(conference(7, title=title, description="\\u00e9 \\\\"))
    outcome = diff("main", SourceState(baselined=True), live, {}, now=NOW)
    await store.commit("main", 0, outcome)
    (entry,) = await store.read("ops", 10, 0.1)
    assert entry.body == outcome.events[0].body()
    loaded = await make_store().load("main")
    assert loaded.state.tracked[7].conference.data == outcome.state.tracked[7].conference.data
    assert loaded.state.tracked[7].conference.raw["title"] == title


async def test_stale_commit_writes_nothing(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    await store.commit("main", 0, started("main", 1))
    with pytest.raises(StaleStateError):
        await store.commit("main", 0, started("main", 1, 2))
    loaded = await store.load("main")
    assert loaded.version == 1
    assert set(loaded.state.tracked) == {1}
    assert [e.event_id for e in await store.read("ops", 10, 0.05)] == [
        started("main", 1).events[0].id
    ]
    assert await store.read("ops", 10, 0.05) == []


async def test_every_sink_reads_every_event_in_order(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open_outbox(["ops", "chat"], ["main", "other"])
    first = started("main", 1, 2)
    await store.commit("main", 0, first)
    await store.commit("other", 0, started("other", 9))
    for sink in ("ops", "chat"):
        entries = await store.read(sink, 10, 0.1)
        by_source = {s: [e.event_id for e in entries if e.source == s] for s in ("main", "other")}
        assert by_source["main"] == [e.id for e in first.events]
        assert len(by_source["other"]) == 1
        assert entries[0].body == first.events[0].body()
        assert await store.backlog(sink) == 3
        await store.ack(sink, entries)
        assert await store.backlog(sink) == 0


async def test_read_waits_then_returns_nothing(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    assert await store.read("ops", 10, 0.05) == []


async def test_unacknowledged_entries_come_back_after_restart(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    await store.ack("ops", entries[:1])  # the process dies with two deliveries in flight

    restarted = make_store()
    await restarted.open_outbox(["ops"], ["main"])
    again = await restarted.read("ops", 10, 0.1)
    assert [e.event_id for e in again] == [e.event_id for e in entries[1:]]
    await restarted.ack("ops", again)
    assert await restarted.read("ops", 10, 0.05) == []
    assert await restarted.backlog("ops") == 0


async def test_replay_pages_through_many_pending_entries(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    await store.commit("main", 0, started("main", *range(1, 26)))
    first = await store.read("ops", 100, 0.1)
    assert len(first) == 25

    restarted = make_store()
    await restarted.open_outbox(["ops"], ["main"])
    replayed = []
    while batch := await restarted.read("ops", 10, 0.05):
        replayed.extend(batch)
    assert [e.event_id for e in replayed] == [e.event_id for e in first]


async def test_a_new_sink_starts_from_now(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    await store.commit("main", 0, started("main", 1))
    await store.open_outbox(["ops", "late"], ["main"])
    assert await store.read("late", 10, 0.05) == []
    assert len(await store.read("ops", 10, 0.05)) == 1
