"""Order under failures: a conference whose ``started`` keeps failing holds back its own
``ended`` and nothing else (memory and Redis); and events of two sources committed in the same
millisecond both arrive (Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from monitor.store.redis import keys
from tests.support.delivery_helpers import (
    StoreFactory,
    backlog_is,
    ended,
    eventually,
    fast_config,
    open_outbox,
    running_sink,
    started,
    store_factory,
)
from tests.support.receiver import Receiver


async def test_a_failing_started_holds_back_its_ended_and_nothing_else(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    schedule = (0.0, 0.15, 0.15, 0.15, 0.15, 0.15)
    store = await open_outbox(make_store)
    first = started("main", 1, 2, 3, 4, 5)
    second = ended("main", first.state, 1, 2, 3, 4, 5)
    by_conference = {
        cid: (first.events[i].id, second.events[i].id) for i, cid in enumerate(range(1, 6))
    }
    stuck_started, stuck_ended = by_conference[1]
    hook.script[stuck_started] = [503, 503, 503, 200]  # only this event fails, for a while

    async with running_sink(fast_config(hook.url, retry_schedule=schedule), store, http) as run:
        await store.commit("main", 0, first)
        await store.commit("main", 1, second)  # the ends are there before the start is through
        await hook.wait_for(10)
        await backlog_is(store, 0)
        await run.finish()

    assert [s for s, _ in hook.for_event(stuck_started)] == [503, 503, 503, 200]
    started_at = hook.for_event(stuck_started)[-1][1]
    ((status, ended_at),) = hook.for_event(stuck_ended)  # never tried before its start went
    assert status == 200
    assert ended_at >= started_at
    for cid in range(2, 6):  # the other conferences flowed meanwhile, each in order
        (_, began), (_, finished) = (hook.for_event(e)[0] for e in by_conference[cid])
        assert began <= finished < started_at, f"conference {cid} was held up"
    assert await store.count_dead("ops") == 0


async def test_outbox_entries_with_the_same_stream_id_in_two_sources_are_both_delivered(
    redis_url: str, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    raw = aioredis.Redis.from_url(redis_url)
    expected: list[str] = []
    collisions = 0
    try:
        async with store_factory("redis", redis_url) as make_store:
            store = make_store()
            await store.open_outbox(["ops"], ["main", "other"])
            async with running_sink(fast_config(hook.url), store, http) as run:
                version = 0
                while collisions < 3 and version < 200:  # same-ms commits: the real case
                    # Both sources commit at once, as they do on one tick: the two XADDs land
                    # in the same millisecond (most times), however slow the machine.
                    outcomes = [started(source, version + 1) for source in ("main", "other")]
                    await asyncio.gather(
                        *(store.commit(o.events[0].source, version, o) for o in outcomes)
                    )
                    expected += [o.events[0].id for o in outcomes]
                    version += 1
                    streams: list[Any] = [
                        await raw.xrange(keys.outbox(s)) for s in ("main", "other")
                    ]
                    ids = [{entry_id for entry_id, _ in stream} for stream in streams]
                    collisions = len(ids[0] & ids[1])
                    await asyncio.sleep(0.03)  # the runner reads each pair while it waits
                assert collisions >= 3, "no two entries shared a stream id: nothing shown"
                await eventually(
                    lambda: {r.event_id for r in hook.delivered} >= set(expected), within=10
                )
                delivered = {r.event_id for r in hook.delivered}
                await run.finish()
    finally:
        await raw.aclose()
    assert sorted(set(expected) - delivered) == []
