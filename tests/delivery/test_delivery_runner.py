"""SinkRunner on a real store (memory and redis-server) and a real receiver: at-least-once
delivery (invariant 2), stable ids across restarts (invariant 3), order per conference, retries,
Retry-After, event filters and graceful stop."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from monitor.core.models import EventType
from monitor.core.timings import Timings
from tests.support.delivery_helpers import (
    Harness,
    JitteryReceiver,
    StoreFactory,
    WrappedStore,
    backlog_is,
    ended,
    eventually,
    fast_config,
    open_outbox,
    running_sink,
    started,
)
from tests.support.receiver import Receiver
from tests.support.timings import QUICK

FAILURES = "conference_monitor_delivery_failures_total"
DELIVERIES = "conference_monitor_deliveries_total"
#: Production's read wait (a stop cuts it short).
REAL_READS = Timings.for_tests(read_wait=Timings().read_wait)
QUICK_READ = QUICK.read_wait


def failing(run: Harness) -> str | None:
    """The runner's current failure (read through a function: it changes under our feet)."""
    return run.runner.failing


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


async def test_committed_events_are_delivered(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    outcome = started("main", 1, 2, 3)
    await store.commit("main", 0, outcome)

    async with running_sink(fast_config(hook.url), store, http) as run:
        delivered = await hook.wait_for(3)
        await backlog_is(store, 0)
        await run.finish()

    assert {r.event_id: r.body for r in delivered} == {e.id: e.body() for e in outcome.events}
    assert len(hook.requests) == 3
    assert run.sample(DELIVERIES) == 3
    assert run.sample(FAILURES, reason="http_5xx") == 0
    assert run.runner.failing is None


async def test_a_failing_receiver_gets_every_event_once_it_answers_2xx(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = WrappedStore(await open_outbox(make_store))
    first = started("main", 1, 2)
    await store.commit("main", 0, first)
    hook.fail_next = 3

    async with running_sink(fast_config(hook.url), store, http) as run:
        delivered = await hook.wait_for(2)
        await backlog_is(store, 0)
        await run.finish()

    ids = sorted(e.id for e in first.events)
    assert sorted(r.event_id for r in delivered) == ids  # each 2xx once: no duplicate
    assert [r.status for r in hook.requests].count(503) == 3
    assert run.sample(FAILURES, reason="http_5xx") == 3
    assert run.sample(DELIVERIES) == 2  # once per event, not per attempt
    # Each entry left the outbox once, and only after its 2xx.
    assert sorted(event_id for event_id, _ in store.log.acked) == ids
    for event_id, acked_at in store.log.acked:
        (success,) = [r for r in delivered if r.event_id == event_id]
        assert acked_at >= success.at


async def test_a_receiver_down_for_a_while_loses_nothing(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    first = started("main", 1, 2, 3)
    await store.commit("main", 0, first)
    hook.down = True

    async with running_sink(fast_config(hook.url), store, http) as run:
        await eventually(lambda: len(hook.requests) >= 12)
        assert await store.backlog("ops") == 3  # nothing leaves the outbox without a 2xx
        assert run.sample(DELIVERIES) == 0
        assert failing(run) == "http_5xx"
        hook.down = False
        delivered = await hook.wait_for(3)
        await backlog_is(store, 0)
        await run.finish()

    assert sorted(r.event_id for r in delivered) == sorted(e.id for e in first.events)
    failed = [r for r in hook.requests if r.status == 503]
    assert run.sample(FAILURES, reason="http_5xx") == len(failed)
    assert run.sample(DELIVERIES) == 3
    assert failing(run) is None
    attempts = len(hook.requests)
    assert run.sample("conference_monitor_delivery_duration_seconds_count") == attempts
    bodies = {e.id: e.body() for e in first.events}
    for request in failed:  # every retry carried the event's own id and bytes
        assert request.body == bodies[request.event_id]


async def test_retry_after_is_honoured(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    await store.commit("main", 0, started("main", 1))
    hook.fail_next, hook.fail_status, hook.retry_after = 1, 429, "1"

    async with running_sink(fast_config(hook.url), store, http) as run:
        await hook.wait_for(1)
        await run.finish()

    refused, accepted = hook.requests
    assert (refused.status, accepted.status) == (429, 200)
    # Without Retry-After the backoff here is at most 10 ms; the receiver asked for 1 s.
    assert accepted.at - refused.at >= 1.0
    assert run.sample(FAILURES, reason="throttled") == 1


async def test_each_conference_is_delivered_in_order_under_concurrency(
    make_store: StoreFactory, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    ids = list(range(1, 41))
    first = started("main", *ids)
    await store.commit("main", 0, first)
    second = ended("main", first.state, *ids)
    await store.commit("main", 1, second)
    assert len(second.events) == len(ids)

    rng = random.Random(20261124)  # noqa: S311 - seeded delays, not cryptography
    async with (
        JitteryReceiver(rng, max_delay=0.02, failure_rate=0.2) as hook,
        running_sink(fast_config(hook.url), store, http) as run,
    ):
        await hook.wait_for(2 * len(ids))
        await backlog_is(store, 0)
        await run.finish()

    log = [(r.json["data"]["conference"]["id"], r.json["type"], r.status) for r in hook.requests]
    assert any(status == 503 for *_, status in log)  # failures did happen, and were retried
    for cid in ids:
        mine = [(kind, status) for c, kind, status in log if c == cid]
        started_ok = mine.index(("conference.started", 200))
        first_ended = next(i for i, (kind, _) in enumerate(mine) if kind == "conference.ended")
        assert started_ok < first_ended, f"conference {cid}: {mine}"
        delivered = [kind for kind, status in mine if status == 200]
        assert delivered == ["conference.started", "conference.ended"]
    assert run.sample(DELIVERIES) == 2 * len(ids)


async def test_an_events_filter_sends_only_those_and_acknowledges_the_rest(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    first = started("main", 1, 2, 3)
    await store.commit("main", 0, first)
    second = ended("main", first.state, 1, 2)
    await store.commit("main", 1, second)
    config = fast_config(hook.url, events=frozenset({EventType.ENDED}))

    async with running_sink(config, store, http) as run:
        delivered = await hook.wait_for(2)
        await backlog_is(store, 0)  # the three started events were acknowledged unsent
        await run.finish()

    assert {r.json["type"] for r in hook.requests} == {"conference.ended"}
    assert sorted(r.event_id for r in delivered) == sorted(e.id for e in second.events)
    assert len(hook.requests) == 2
    assert run.sample(DELIVERIES) == 2


async def test_graceful_stop_then_redelivery_with_the_same_ids(
    make_store: StoreFactory,
    hook: Receiver,
    http: aiohttp.ClientSession,
) -> None:
    store = await open_outbox(make_store)
    first = started("main", 1, 2, 3)
    await store.commit("main", 0, first)
    hook.down = True
    grace = 0.3

    config = fast_config(hook.url)
    async with running_sink(config, store, http, grace=grace, timings=REAL_READS) as run:
        await eventually(lambda: len({r.event_id for r in hook.requests}) == 3)
        took = await run.finish()
    # The feed notices the stop at once, not after its read (``read_wait``, 5 s) has timed out;
    # retries in flight get `grace`, no more.
    assert took <= grace + 0.3
    assert run.sample(DELIVERIES) == 0
    refused = {r.event_id: r.body for r in hook.requests}
    assert sorted(refused) == sorted(e.id for e in first.events)

    # The process is gone; its deliveries are still owed (invariant 2).
    restarted = await open_outbox(make_store)
    assert await restarted.backlog("ops") == 3
    hook.down = False
    tried = len(hook.requests)
    async with running_sink(fast_config(hook.url), restarted, http) as again:
        delivered = await hook.wait_for(3)
        await backlog_is(restarted, 0)
        await again.finish()

    # The same ids and bytes as before the restart (invariant 3): receivers can de-duplicate.
    assert {r.event_id: r.body for r in delivered} == refused
    assert len(hook.requests) == tried + 3
    assert again.sample(DELIVERIES) == 3


async def test_graceful_stop_is_bounded_while_the_store_refuses_acks(
    make_store: StoreFactory,
    hook: Receiver,
    http: aiohttp.ClientSession,
) -> None:
    store = WrappedStore(await open_outbox(make_store))
    await store.commit("main", 0, started("main", 1))  # filtered out: acknowledged unsent
    store.ack_down = True  # the store went away between the read and the ack
    config = fast_config(hook.url, events=frozenset({EventType.ENDED}))
    grace = 0.3

    async with running_sink(config, store, http, grace=grace) as run:
        await store.ack_attempted.wait()
        took = await run.finish(within=grace + QUICK_READ + 1.0)
    assert took <= grace + QUICK_READ + 1.0
    assert hook.requests == []
