"""``GET /api/v1/events/stream`` on both stores: live events as they are committed, resume
with ``Last-Event-ID`` (header or query), one ``reset`` when the id is gone, heartbeats, the
client limit, the token (header, or ``?access_token=`` on this path only), and a server stop
that ends every open stream at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from monitor.core.timings import Timings
from monitor.store.memory import MemoryStore
from monitor.store.values import HistoryBounds
from tests.support.delivery_helpers import StoreFactory
from tests.support.history_helpers import Committer, frames, web_client

STREAM = "/api/v1/events/stream"
TOKEN = "stream-token-Pq7Rw2"


async def connected(response: aiohttp.ClientResponse) -> None:
    """Wait for the stream's first comment: from then on it sees every commit."""
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    (hello,) = await frames(response, 1, comments=True)
    assert hello.comment


async def test_live_events_in_order(make_store: StoreFactory) -> None:
    store = make_store()
    main = Committer(store)
    await main.start(1)  # before the client: not sent (live only)
    async with web_client(store) as client, client.get(STREAM) as response:
        await connected(response)
        ids = await main.start(2, 3)
        got = await frames(response, 2)
        assert [f.id for f in got] == ids
        assert {f.event for f in got} == {"conference.started"}
        assert got[0].json()["id"] == ids[0]
        assert got[0].json()["data"]["conference"]["id"] in (2, 3)


async def test_resume_with_last_event_id(make_store: StoreFactory) -> None:
    store = make_store()
    main = Committer(store)
    (seen,) = await main.start(1)
    missed = await main.start(2, 3)
    async with web_client(store) as client:
        for how in ({"headers": {"Last-Event-ID": seen}}, {"params": {"last_event_id": seen}}):
            async with client.get(STREAM, **how) as response:  # type: ignore[arg-type]
                await connected(response)
                assert [f.id for f in await frames(response, 2)] == missed
        async with client.get(STREAM, headers={"Last-Event-ID": seen}) as response:
            await connected(response)
            await frames(response, 2)
            later = await main.start(4)
            assert [f.id for f in await frames(response, 1)] == later  # then live


async def test_an_id_no_longer_kept_gets_one_reset() -> None:
    store = MemoryStore(HistoryBounds(max_events=2))
    main = Committer(store)
    (gone,) = await main.start(1)
    await main.start(2, 3)  # pushes 1 out of the history
    async with (
        web_client(store) as client,
        client.get(STREAM, headers={"Last-Event-ID": gone}) as response,
    ):
        assert response.status == 200
        (reset,) = await frames(response, 1)
        assert reset.event == "reset"
        assert reset.json()["last_event_id"] == gone
        ids = await main.start(4)
        assert [f.id for f in await frames(response, 1)] == ids


async def test_heartbeat_on_an_idle_stream(make_store: StoreFactory) -> None:
    timings = Timings.for_tests(stream_heartbeat=0.1)
    async with web_client(make_store(), timings=timings) as client, client.get(STREAM) as r:
        await connected(r)
        pings = await frames(r, 3, within=2.0, comments=True)
        assert {f.data for f in pings} == {"ping"}


async def test_clients_beyond_the_limit_get_503(make_store: StoreFactory) -> None:
    async with web_client(make_store(), max_streams=2) as client:
        first = await client.get(STREAM)
        second = await client.get(STREAM)
        await connected(first)
        await connected(second)
        async with client.get(STREAM) as refused:
            assert refused.status == 503
            assert int(refused.headers["Retry-After"]) > 0
            assert "too many" in (await refused.json())["error"]
        first.close()
        await asyncio.sleep(0)

        async def another() -> int:
            async with client.get(STREAM) as response:
                return response.status

        # a closed stream frees its place once the server notices (at its next read slice)
        deadline = time.monotonic() + 10
        while (status := await asyncio.wait_for(another(), 1.0)) == 503:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert status == 200
        second.close()


async def test_the_token_in_the_header_or_the_query(make_store: StoreFactory) -> None:
    async with web_client(make_store(), api_token=TOKEN) as client:
        async with client.get(STREAM) as response:
            assert response.status == 401
        async with client.get(STREAM, params={"access_token": TOKEN + "x"}) as response:
            assert response.status == 401
            assert TOKEN not in await response.text()
        async with client.get(STREAM, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            await connected(r)
        async with client.get(STREAM, params={"access_token": TOKEN}) as response:
            await connected(response)
        # the query form is for the stream alone
        async with client.get("/api/v1/events", params={"access_token": TOKEN}) as response:
            assert response.status == 401
        for path in ("/api/v1/events", "/api/v1/status"):
            async with client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 200


async def test_a_stop_ends_open_streams_at_once(make_store: StoreFactory) -> None:
    timings = Timings.for_tests(stream_heartbeat=30.0)
    async with web_client(make_store(), timings=timings) as client:
        streams = [await client.get(STREAM) for _ in range(3)]
        for response in streams:
            await connected(response)
        began = time.monotonic()
        await close_server(client)
        assert time.monotonic() - began < 2.0
        for response in streams:
            assert await asyncio.wait_for(response.content.read(), 2.0) == b""


async def close_server(client: TestClient[Any, Any]) -> None:
    await client.server.close()
