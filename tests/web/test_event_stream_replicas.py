"""The event stream with the whole service: two replicas on one Redis (what one commits
reaches the other's streams), and a stop with streams open is as quick as without."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from monitor.simulator import Simulator
from tests.support.history_helpers import frames
from tests.support.service import get_json, running, settings_for, source_config, until

STREAM = "/api/v1/events/stream"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


async def polled(http: aiohttp.ClientSession, url: str) -> bool:
    """Has some replica polled the source (by this one's live answer)?"""
    body = await get_json(http, f"{url}/api/v1/status")
    return any(s["polled_here"] and s["last_successful_poll"] for s in body["sources"])


async def test_what_one_replica_commits_reaches_both_streams(
    sim: Simulator, redis_url: str
) -> None:
    settings = settings_for((source_config(sim.url),), state_url=redis_url)
    async with (
        running(settings, replica="one") as one,
        running(settings, replica="two") as two,
        aiohttp.ClientSession() as http,
    ):
        await until(
            lambda: asyncio.gather(polled(http, one.url), polled(http, two.url)),
            any,
            within=10,
        )
        streams = [await http.get(service.url + STREAM) for service in (one, two)]
        for response in streams:
            (hello,) = await frames(response, 1, comments=True)
            assert hello.comment
        conference = sim.world.create_conference(title="Seen everywhere")
        sim.world.start(conference.id)
        got = [(await frames(response, 1, within=10))[0] for response in streams]
        assert {f.event for f in got} == {"conference.started"}
        assert got[0].id == got[1].id
        assert got[0].json()["data"]["conference"]["title"] == "Seen everywhere"
        for response in streams:
            response.close()


async def test_a_stop_with_open_streams_is_prompt(sim: Simulator) -> None:
    settings = settings_for((source_config(sim.url),))
    async with aiohttp.ClientSession() as http:
        async with running(settings) as service:
            streams = [await http.get(service.url + STREAM) for _ in range(3)]
            for response in streams:
                await frames(response, 1, comments=True)
            service.stop.set()
            began = time.monotonic()
            await asyncio.wait_for(asyncio.shield(service.task), 10)
            assert time.monotonic() - began < 3.0  # well inside aiohttp's own 60 s
        for response in streams:
            assert await asyncio.wait_for(response.content.read(), 2.0) == b""
