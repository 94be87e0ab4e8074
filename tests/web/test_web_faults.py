"""The history API and the stream under abuse: what a review found, kept as tests (each failed
before its fix): a client that stops reading, a DNS-rebinding page, a cursor that skipped
events, a store that is down, an odd ``limit``."""

from __future__ import annotations

import asyncio
import socket
import time

from aiohttp import web

from monitor.core.secret import Secret
from monitor.store.memory import MemoryStore
from monitor.store.redis.store import RedisStore
from monitor.web.server import create_app
from tests.support.history_helpers import Committer, bare_service, web_client
from tests.web.test_dead_letters_api import BASE, OPS, bury


async def test_a_client_that_stops_reading_does_not_hold_up_a_stop() -> None:
    store = MemoryStore()
    app = create_app(bare_service(store))
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=8.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.3)
        committer = Committer(store)
        ids = list(range(1, 4001))
        for i in range(0, len(ids), 200):
            await committer.start(*ids[i : i + 200])
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # never read: the server's write waits for room
        began = time.monotonic()
        await runner.cleanup()
        took = time.monotonic() - began
    assert took < 2.0, f"the stop waited {took:.1f}s for a client that does not read"


async def test_without_a_token_a_rebound_page_cannot_purge() -> None:
    store = MemoryStore()
    await store.open_outbox(["ops"], ["main"])
    await bury(store, 1, 2, committer=Committer(store))
    async with web_client(store, sinks=OPS) as client:
        evil = "rebind.attacker.example:9464"  # its name now resolves to 127.0.0.1
        headers = {"Host": evil, "Origin": f"http://{evil}", "Sec-Fetch-Site": "same-origin"}
        async with client.post(f"{BASE}/purge", headers=headers) as answer:
            assert answer.status == 403
            assert "api_token" in (await answer.json())["error"]
        local = "127.0.0.1:9464"
        headers = {"Host": local, "Origin": f"http://{local}", "Sec-Fetch-Site": "same-origin"}
        async with client.post(f"{BASE}/purge", headers=headers) as answer:
            assert answer.status == 200
            assert (await answer.json())["purged"] == 2


async def test_since_an_id_pages_forward_without_losing_events() -> None:
    store = MemoryStore()
    committer = Committer(store)
    (seen,) = await committer.start(1)
    newer = await committer.start(*range(2, 8))  # six events after ``seen``
    got: list[str] = []
    async with web_client(store) as client:
        cursor, more = seen, True
        while more:
            params = {"since": cursor, "limit": "4"}
            async with client.get("/api/v1/events", params=params) as answer:
                body = await answer.json()
            page = [e["id"] for e in body["events"]]
            assert page, body
            got += page
            cursor, more = page[0], body["more"]  # newest first: the newest id is the cursor
    assert sorted(got) == sorted(newer)
    assert len(got) == len(set(got))


async def test_an_odd_limit_is_a_400_and_a_store_down_a_503() -> None:
    async with (
        web_client(MemoryStore()) as client,
        client.get("/api/v1/events", params={"limit": "²"}) as answer,
    ):
        assert answer.status == 400
    store = RedisStore.from_url(Secret("redis://127.0.0.1:1/0"), consumer="x")
    try:
        async with web_client(store) as client, client.get("/api/v1/events") as answer:
            assert answer.status == 503
            assert "Retry-After" in answer.headers
    finally:
        await store.close()
