"""Pacing against a real receiver: a sink's ``rate`` spaces its requests, and a 429 with
``Retry-After`` holds the whole sink that long, without losing or reordering anything."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp

from tests.support.delivery_helpers import (
    StoreFactory,
    backlog_is,
    ended,
    eventually,
    fast_config,
    open_outbox,
    running_sink,
    started,
)
from tests.support.receiver import Receiver

#: How much earlier than the throttle's spacing a request may be seen by the receiver: the
#: throttle stamps when a request may go, the receiver when it arrived (loopback jitter).
ARRIVAL_JITTER = 0.005


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_a_rate_spaces_requests(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    outcome = started("main", 1, 2, 3, 4, 5, 6)  # six conferences: eight workers could race
    await store.commit("main", 0, outcome)

    async with running_sink(fast_config(hook.url, rate=5.0), store, http) as run:
        await hook.wait_for(6)
        await backlog_is(store, 0)
        await run.finish()

    spacing = gaps([r.at for r in hook.requests])
    assert len(spacing) == 5
    assert min(spacing) >= 0.2 - ARRIVAL_JITTER, spacing
    assert hook.requests[-1].at - hook.requests[0].at < 5 * 0.2 + 0.3  # and not much slower


async def test_a_429_holds_the_whole_sink_then_the_event_is_retried(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    first = started("main", 1)
    throttled = first.events[0]
    hook.script[throttled.id] = [429, 200]
    hook.retry_after = "1"

    async with running_sink(fast_config(hook.url), store, http) as run:
        await store.commit("main", 0, first)
        await eventually(lambda: len(hook.requests) == 1)
        more = started("main", 2, 3)  # other conferences, after the 429
        await store.commit("main", 1, more)
        end = ended("main", first.state, 1)  # and the end of the throttled one
        await store.commit("main", 2, end)
        await hook.wait_for(4)
        await backlog_is(store, 0)
        await run.finish()

    refused = hook.requests[0]
    assert (refused.event_id, refused.status) == (throttled.id, 429)
    later = hook.requests[1:]
    assert min(r.at for r in later) - refused.at >= 1.0  # nothing went out meanwhile
    assert [s for s, _ in hook.for_event(throttled.id)] == [429, 200]
    order = [r.event_id for r in hook.delivered]
    assert sorted(order) == sorted([throttled.id, *(e.id for e in more.events), end.events[0].id])
    assert order.index(throttled.id) < order.index(end.events[0].id)  # not reordered
    assert await store.count_dead("ops") == 0
    assert run.sample("conference_monitor_delivery_failures_total", reason="throttled") == 1


async def test_a_429_holds_a_paced_sink_too(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    outcome = started("main", 1, 2, 3, 4)
    hook.script[outcome.events[0].id] = [429, 200]
    hook.retry_after = "1"
    await store.commit("main", 0, outcome)

    async with running_sink(fast_config(hook.url, rate=5.0), store, http) as run:
        await hook.wait_for(4)
        await backlog_is(store, 0)
        await run.finish()

    refused = hook.requests[0]
    assert refused.status == 429
    early = [round(r.at - refused.at, 3) for r in hook.requests[1:] if r.at - refused.at < 1.0]
    assert early == [], f"requests {early} s after the 429 asked for 1 s"


async def test_a_paced_sink_sends_nothing_after_a_410(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    hook.default = 410
    outcome = started("main", 1, 2, 3, 4)
    await store.commit("main", 0, outcome)

    async with running_sink(fast_config(hook.url, rate=5.0), store, http) as run:
        await eventually(lambda: run.runner.disabled is not None)
        await backlog_is(store, 0)
        await asyncio.sleep(1.0)  # the queued ones' turns come and go
        await run.finish()

    assert await store.count_dead("ops") == 4
    assert len(hook.requests) == 1, [r.status for r in hook.requests]
