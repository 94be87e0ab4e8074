"""One contract, two stores (memory and a real redis-server), for what a sink's deliveries go
through: retry states, dead letters (and their replay and purge), a disabled sink."""

from __future__ import annotations

import time

from monitor.core.secret import Secret
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.store.values import RetryState, SinkDisabled
from tests.support.delivery_helpers import StoreFactory, started
from tests.support.ledger_helpers import read_all, same_event


async def opened(factory: StoreFactory) -> Store:
    """A store (a restarted process, for the second call) with sinks ops and chat open."""
    store = factory()
    await store.open_outbox(["ops", "chat"], ["main"])
    return store


# retry states


async def test_retry_states_are_kept_per_sink_and_survive_a_restart(
    make_store: StoreFactory,
) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    assert await store.retry_states("ops", entries) == {}

    state = RetryState(2, 1_790_000_123.5, "HTTP 503")
    await store.schedule_retry("ops", entries[:2], state)
    expected = {entries[0].event_id: state, entries[1].event_id: state}
    assert await store.retry_states("ops", entries) == expected
    assert await store.retry_states("ops", entries[2:]) == {}
    assert await store.retry_states("ops", []) == {}
    assert await store.retry_states("chat", entries) == {}  # another sink's deliveries

    later = RetryState(3, 1_790_000_456.0, "timed out")
    await store.schedule_retry("ops", entries[:1], later)  # the next failure replaces it
    restarted = await opened(make_store)
    again = await read_all(restarted, "ops")
    assert await restarted.retry_states("ops", again) == {
        entries[0].event_id: later,
        entries[1].event_id: state,
    }


async def test_an_acknowledgement_or_a_dead_letter_clears_the_retry_state(
    make_store: StoreFactory,
) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    await store.schedule_retry("ops", entries, RetryState(1, time.time() + 60, "HTTP 500"))

    await store.ack("ops", entries[:1])
    await store.dead_letter("ops", entries[1:2], "rejected: HTTP 422", 2)

    states = await store.retry_states("ops", entries)
    assert list(states) == [entries[2].event_id]


async def test_retry_states_saved_after_their_entry_was_settled_are_forgotten_at_a_trim(
    make_store: StoreFactory,
) -> None:
    """A replica that lost the sink's lease saves a failure after the new holder acknowledged
    or dead-lettered the entry: the state outlives its entry. The next trim forgets it, and
    keeps the state of an entry still pending."""
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    await store.ack("ops", entries[:1])
    await store.dead_letter("ops", entries[1:2], "rejected: HTTP 422", 1)
    state = RetryState(1, time.time() + 60, "HTTP 503")
    await store.schedule_retry("ops", entries, state)  # too late for the first two

    await store.trim()
    assert await store.retry_states("ops", entries) == {entries[2].event_id: state}
    await store.trim()
    assert await store.retry_states("ops", entries) == {entries[2].event_id: state}


async def test_a_restarted_store_forgets_the_retry_states_a_crash_left(
    make_store: StoreFactory,
) -> None:
    """A process that crashed between acknowledging and forgetting (or wrote a late failure)
    left a retry state behind; whoever trims first after the restart forgets it, whether or
    not it delivers anything itself."""
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    await store.ack("ops", entries[:1])
    state = RetryState(2, time.time() + 300, "timed out")
    await store.schedule_retry("ops", entries, state)

    restarted = await opened(make_store)
    await restarted.trim()
    assert await restarted.retry_states("ops", entries) == {
        entries[1].event_id: state,
        entries[2].event_id: state,
    }
    again = await read_all(restarted, "ops")  # the two still pending come back with theirs
    assert [e.event_id for e in again] == [e.event_id for e in entries[1:]]
    assert set(await restarted.retry_states("ops", again)) == {e.event_id for e in again}


# dead letters


async def test_a_dead_letter_leaves_the_outbox_and_keeps_why(make_store: StoreFactory) -> None:
    store = await opened(make_store)
    outcome = started("main", 1, 2, 3)
    await store.commit("main", 0, outcome)
    entries = await store.read("ops", 10, 0.1)
    assert await store.backlog("ops") == 3
    assert await store.count_dead("ops") == 0
    assert await store.dead_letters("ops") == []

    before = time.time()
    await store.dead_letter("ops", entries[:2], "retries exhausted after 4 attempts: HTTP 503", 4)
    after = time.time()

    assert await store.backlog("ops") == 1
    assert await store.count_dead("ops") == 2
    letters = await store.dead_letters("ops")
    assert [d.entry.event_id for d in letters] == [e.event_id for e in entries[:2]]
    for letter, entry in zip(letters, entries, strict=False):
        assert letter.sink == "ops"
        assert same_event(letter.entry, entry)
        assert letter.reason == "retries exhausted after 4 attempts: HTTP 503"
        assert letter.attempts == 4
        assert before - 1 <= letter.dead_at <= after + 1
    # Another sink's outbox and queue are its own.
    assert await store.backlog("chat") == 3
    assert await store.count_dead("chat") == 0

    # Dead letters are not read again, by this process or the next one.
    restarted = await opened(make_store)
    assert [e.event_id for e in await read_all(restarted, "ops")] == [entries[2].event_id]
    assert await restarted.count_dead("ops") == 2


async def test_dead_lettering_twice_keeps_one_letter(make_store: StoreFactory) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1))
    (entry,) = await store.read("ops", 10, 0.1)
    await store.dead_letter("ops", [entry], "sink disabled: HTTP 410: endpoint gone", 0)
    await store.dead_letter("ops", [entry], "sink disabled: HTTP 410: endpoint gone", 1)
    assert await store.count_dead("ops") == 1
    (letter,) = await store.dead_letters("ops")
    assert letter.entry.event_id == entry.event_id
    assert await store.backlog("ops") == 0


async def test_dead_letters_are_listed_oldest_first(make_store: StoreFactory) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    for entry in reversed(entries):  # buried last-first
        await store.dead_letter("ops", [entry], "rejected: HTTP 400", 1)
        time.sleep(0.002)  # noqa: ASYNC251 - distinct dead_at stamps, nothing else to await
    letters = await store.dead_letters("ops")
    assert [d.entry.event_id for d in letters] == [e.event_id for e in reversed(entries)]
    assert [d.dead_at for d in letters] == sorted(d.dead_at for d in letters)


async def test_replaying_every_dead_letter_delivers_it_again_to_that_sink_only(
    make_store: StoreFactory,
) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2))
    await store.ack("chat", await store.read("chat", 10, 0.1))
    entries = await store.read("ops", 10, 0.1)
    await store.dead_letter("ops", entries, "rejected: HTTP 404", 1)
    assert await store.backlog("ops") == 0

    assert await store.replay_dead("ops") == 2
    assert await store.count_dead("ops") == 0
    assert await store.backlog("ops") == 2
    assert await read_all(store, "chat") == []  # chat had its own copies: nothing new
    replayed = await read_all(store, "ops")
    assert len(replayed) == 2
    for again, entry in zip(replayed, entries, strict=True):
        assert same_event(again, entry)

    await store.ack("ops", replayed)
    assert await store.backlog("ops") == 0
    assert await read_all(store, "ops") == []
    restarted = await opened(make_store)  # acknowledged for good: not read after a restart
    assert await read_all(restarted, "ops") == []
    assert await restarted.backlog("ops") == 0
    assert await restarted.replay_dead("ops") == 0


async def test_replaying_chosen_dead_letters(make_store: StoreFactory) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    await store.dead_letter("ops", entries, "rejected: HTTP 400", 1)

    assert await store.replay_dead("ops", {"evt_nobody"}) == 0
    assert await store.replay_dead("chat", {entries[1].event_id}) == 0  # not chat's letter
    assert await store.replay_dead("ops", {entries[1].event_id}) == 1

    assert [d.entry.event_id for d in await store.dead_letters("ops")] == [
        entries[0].event_id,
        entries[2].event_id,
    ]
    (replayed,) = await read_all(store, "ops")
    assert same_event(replayed, entries[1])


async def test_a_replayed_entry_not_yet_acknowledged_comes_back_after_a_restart(
    make_store: StoreFactory,
) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1))
    entries = await store.read("ops", 10, 0.1)
    await store.dead_letter("ops", entries, "rejected: HTTP 400", 1)
    await store.replay_dead("ops")
    assert len(await read_all(store, "ops")) == 1  # read, then the process dies

    restarted = await opened(make_store)
    (again,) = await read_all(restarted, "ops")
    assert same_event(again, entries[0])
    await restarted.ack("ops", [again])
    assert await restarted.backlog("ops") == 0


async def test_purging_forgets_dead_letters_only(make_store: StoreFactory) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    await store.dead_letter("ops", entries[:2], "rejected: HTTP 400", 1)
    await store.dead_letter("chat", await store.read("chat", 1, 0.1), "rejected: HTTP 400", 1)

    assert await store.purge_dead("ops") == 2
    assert await store.count_dead("ops") == 0
    assert await store.dead_letters("ops") == []
    assert await store.replay_dead("ops") == 0
    assert await store.purge_dead("ops") == 0
    assert await store.backlog("ops") == 1  # the outbox keeps what was not dead
    assert await store.count_dead("chat") == 1  # another sink's letters stay


async def test_purging_by_id_forgets_only_those(make_store: StoreFactory) -> None:
    store = await opened(make_store)
    await store.commit("main", 0, started("main", 1, 2, 3))
    entries = await store.read("ops", 10, 0.1)
    await store.dead_letter("ops", entries, "rejected: HTTP 400", 1)
    first, second, third = (e.event_id for e in entries)

    assert await store.purge_dead("ops", [first, third, "evt_unknown", first]) == 2
    assert [d.entry.event_id for d in await store.dead_letters("ops")] == [second]
    assert await store.purge_dead("ops", []) == 0
    assert await store.purge_dead("ops", [first]) == 0  # already gone
    assert await store.count_dead("ops") == 1


# disabling


async def test_disable_and_enable_round_trip(make_store: StoreFactory) -> None:
    store = await opened(make_store)
    assert await store.sink_disabled("ops") is None
    why = SinkDisabled("HTTP 410: endpoint gone", 1_790_000_000.25, "0123456789abcdef")
    await store.disable_sink("ops", why)
    assert await store.sink_disabled("ops") == why
    assert await store.sink_disabled("chat") is None

    restarted = await opened(make_store)
    assert await restarted.sink_disabled("ops") == why
    await restarted.enable_sink("ops")
    assert await restarted.sink_disabled("ops") is None
    await restarted.enable_sink("ops")  # enabling an enabled sink is harmless
    assert await store.sink_disabled("ops") is None


# Redis only: what another process (the dlq command) does while the service is away


async def test_letters_replayed_before_the_service_starts_are_read_when_it_does(
    redis_url: str,
) -> None:
    service = RedisStore.from_url(Secret(redis_url), consumer="pod-a")
    command = RedisStore.from_url(Secret(redis_url), consumer="dlq")
    later = RedisStore.from_url(Secret(redis_url), consumer="pod-a")
    try:
        await service.open_outbox(["ops"], ["main"])
        await service.commit("main", 0, started("main", 1))
        entries = await service.read("ops", 10, 0.1)
        await service.dead_letter("ops", entries, "rejected: HTTP 400", 1)
        await service.close()

        assert await command.count_dead("ops") == 1  # the dlq command sees them ...
        assert await command.replay_dead("ops") == 1  # ... and sends them back

        await later.open_outbox(["ops"], ["main"])  # the service starts again
        (again,) = await read_all(later, "ops")
        assert same_event(again, entries[0])
        assert await later.backlog("ops") == 1
    finally:
        await command.close()
        await later.close()
