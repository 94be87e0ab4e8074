"""Several replicas of the whole service on one Redis: work is shared, none of it twice."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import aiohttp
import redis.asyncio as aioredis

from monitor.config import Settings
from monitor.simulator import Simulator
from tests.receiver import Receiver
from tests.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)

TTL = 1.5  # leases: a silent replica's work moves within this


def two_sources(sim: Simulator, hook: Receiver, redis_url: str) -> Settings:
    settings = settings_for(
        (source_config(sim.url, name="north"), source_config(sim.url, name="south")),
        (webhook_config(hook.url),),
        state_url=redis_url,
    )
    return dataclasses.replace(settings, lease_ttl=TTL)


async def leaders(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    found = {}
    for line in text.splitlines():
        if line.startswith(("conference_monitor_leader{", "conference_monitor_sink_leader{")):
            labels, value = line.rsplit(" ", 1)
            found[labels] = float(value)
    return found


async def test_two_replicas_deliver_every_transition_exactly_once(redis_url: str) -> None:
    async with Simulator() as sim, Receiver() as hook, aiohttp.ClientSession() as http:
        settings = two_sources(sim, hook, redis_url)
        async with (
            running(settings, replica="replica-a") as a,
            running(settings, replica="replica-b") as b,
        ):
            conferences = [sim.world.create_conference(title=f"C{i}") for i in range(4)]
            await until(lambda: get_json(http, f"{a.url}/readyz"), lambda r: r["ready"], 10)
            await until(lambda: get_json(http, f"{b.url}/readyz"), lambda r: r["ready"], 10)
            for conference in conferences:
                sim.world.start(conference.id)
            await hook.wait_for(8, within=10)  # 4 starts, seen by each of the two sources
            for conference in conferences[:2]:
                sim.world.end(conference.id)
            await hook.wait_for(12, within=10)
            await asyncio.sleep(1.0)  # room for a duplicate, should one come
            held_a, held_b = await leaders(http, a.url), await leaders(http, b.url)

    ids = [request.event_id for request in hook.delivered]
    assert len(ids) == 12
    assert len(set(ids)) == 12  # no transition delivered twice
    kinds = Counter((r.json["data"]["source"], r.json["type"]) for r in hook.delivered)
    assert kinds == {
        ("north", "conference.started"): 4,
        ("south", "conference.started"): 4,
        ("north", "conference.ended"): 2,
        ("south", "conference.ended"): 2,
    }
    # Each source and the sink had exactly one leader across the two replicas.
    for labels in held_a:
        assert held_a[labels] + held_b[labels] == 1, labels


async def test_a_stopping_replica_hands_its_work_over(redis_url: str) -> None:
    async with Simulator() as sim, Receiver() as hook, aiohttp.ClientSession() as http:
        settings = two_sources(sim, hook, redis_url)
        async with running(settings, replica="stays") as stays:
            async with running(settings, replica="leaves") as leaves:
                await until(lambda: get_json(http, f"{leaves.url}/readyz"), lambda r: r["ready"])
                await until(lambda: get_json(http, f"{stays.url}/readyz"), lambda r: r["ready"])
                first = sim.world.create_conference(title="before")
                sim.world.start(first.id)
                await hook.wait_for(2, within=10)
            # "leaves" stopped gracefully: "stays" takes everything over and goes on.
            second = sim.world.create_conference(title="after")
            sim.world.start(second.id)
            sim.world.end(first.id)
            await hook.wait_for(6, within=10)
            held = await leaders(http, stays.url)
    assert all(value == 1 for value in held.values()), held
    ids = [request.event_id for request in hook.delivered]
    assert len(ids) == len(set(ids)) == 6


async def test_a_wiped_store_is_rebuilt_from_memory_without_false_events(redis_url: str) -> None:
    async with Simulator() as sim, Receiver() as hook, aiohttp.ClientSession() as http:
        settings = dataclasses.replace(
            two_sources(sim, hook, redis_url),
            sources=(source_config(sim.url, name="north", announce_existing=True),),
        )
        async with running(settings, replica="only") as service:
            live = sim.world.create_conference(title="live through the wipe")
            sim.world.start(live.id)
            await hook.wait_for(1, within=10)
            client = aioredis.Redis.from_url(redis_url)
            await client.flushall()  # Redis restarted without persistence
            await client.aclose()
            ends = sim.world.create_conference(title="starts after")
            sim.world.start(ends.id)
            await hook.wait_for(2, within=10)
            sim.world.end(live.id)
            await hook.wait_for(3, within=10)
            async with http.get(f"{service.url}/metrics") as response:
                metrics = await response.text()
    kinds = [(r.json["type"], r.json["data"]["conference"]["title"]) for r in hook.delivered]
    assert kinds == [
        ("conference.started", "live through the wipe"),  # announced once, not again
        ("conference.started", "starts after"),
        ("conference.ended", "live through the wipe"),  # its end was not missed
    ]
    assert 'conference_monitor_state_resets_total{how="from_memory",source="north"} 1.0' in metrics
