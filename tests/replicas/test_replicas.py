"""Several replicas of the whole service on one Redis: work is shared, none of it twice."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from monitor.config.settings import Settings
from monitor.simulator import Simulator
from monitor.store.redis import keys
from tests.support.receiver import Receiver
from tests.support.service import (
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


async def unacknowledged(redis_url: str, sink: str = "ops") -> int:
    """Entries of the two sources' outboxes that ``sink`` has read and not acknowledged."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        pending = [await client.xpending(keys.outbox(s), sink) for s in ("north", "south")]
    finally:
        await client.aclose()
    return sum(int(p["pending"]) for p in pending)


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
            # Every delivery acknowledged: a second replica's copy would have been sent by now.
            await until(lambda: unacknowledged(redis_url), lambda n: n == 0)
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


async def test_state_lost_while_the_outbox_remains_is_rebaselined_quietly(redis_url: str) -> None:
    """Redis evicted or lost the state of a source but kept its outbox, and the process restarted
    as well: the next poll is a baseline that announces nothing, even with
    ``announce_existing``, and says so; transitions after it are reported as usual."""
    async with Simulator() as sim, Receiver() as hook, aiohttp.ClientSession() as http:
        settings = dataclasses.replace(
            two_sources(sim, hook, redis_url),
            sources=(source_config(sim.url, name="north", announce_existing=True),),
        )
        live = sim.world.create_conference(title="live before")
        sim.world.start(live.id)
        async with running(settings, replica="first"):
            await hook.wait_for(1, within=10)
        client = aioredis.Redis.from_url(redis_url)
        await client.delete(keys.meta("north"), keys.tracked("north"), keys.tombstones("north"))
        assert await client.exists(keys.outbox("north"))
        await client.aclose()
        async with running(settings, replica="second") as service:
            await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"], 10)
            sim.world.end(live.id)
            await hook.wait_for(2, within=10)
            async with http.get(f"{service.url}/metrics") as response:
                metrics = await response.text()
    kinds = [(r.json["type"], r.json["data"]["conference"]["title"]) for r in hook.delivered]
    assert kinds == [
        ("conference.started", "live before"),  # announced once, not again after the loss
        ("conference.ended", "live before"),
    ]
    assert 'conference_monitor_state_resets_total{how="rebaselined",source="north"} 1.0' in metrics


async def test_readiness_answers_only_for_the_sources_polled_here(redis_url: str) -> None:
    """Each replica's ``/readyz`` vouches for the sources it polls and defers the others."""
    async with Simulator() as sim, Receiver() as hook, aiohttp.ClientSession() as http:
        settings = two_sources(sim, hook, redis_url)
        async with (
            running(settings, replica="replica-a") as a,
            running(settings, replica="replica-b") as b,
        ):

            async def both() -> list[Any]:
                return [await get_json(http, f"{s.url}/readyz") for s in (a, b)]

            def split(bodies: list[Any]) -> bool:
                here = [polled_here(body) for body in bodies]
                return (
                    all(body["ready"] for body in bodies)
                    and here[0] | here[1] == {"source:north", "source:south"}
                    and not here[0] & here[1]
                )

            bodies = await until(both, split, 10)
    for body in bodies:
        elsewhere = [c for c in body["checks"] if c.get("polled_here") is False]
        assert all(check["ok"] for check in elsewhere)


def polled_here(readyz: Any) -> set[str]:
    return {
        check["name"]
        for check in readyz["checks"]
        if check["name"].startswith("source:") and check.get("polled_here", True)
    }
