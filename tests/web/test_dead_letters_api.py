"""Dead letters over HTTP on both stores: the list with each event, replay (some or all; the
sink enabled again, as ``dlq replay`` does), purge, 404 for an unknown sink, the token, and
POSTs refused when a browser says they come from another site."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient

from monitor.store.roles import Store
from monitor.store.values import OutboxEntry, SinkDisabled
from tests.support.delivery_helpers import StoreFactory
from tests.support.history_helpers import Committer, web_client
from tests.support.service import webhook_config

OPS = (webhook_config("http://127.0.0.1:9/hook"),)
BASE = "/api/v1/sinks/ops/dead-letters"
TOKEN = "dlq-token-Hs82nQ"


async def bury(store: Store, *ids: int, committer: Committer | None = None) -> list[str]:
    """Commit starts of ``ids`` and dead-letter them for ``ops``; their event ids."""
    if committer is None:
        await store.open_outbox(["ops"], ["main"])
    events = await (committer or Committer(store)).start(*ids)
    entries: list[OutboxEntry] = []
    while len(entries) < len(ids):
        entries += await store.read("ops", 10, 0.1)
    await store.dead_letter("ops", entries, "http 410: gone", 4)
    return events


async def listed(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    async with client.get(BASE) as response:
        assert response.status == 200
        body = await response.json()
    assert body["sink"] == "ops"
    return body["dead_letters"]  # type: ignore[no-any-return]


async def test_list_replay_and_purge(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    main = Committer(store)
    ids = await bury(store, 1, 2, 3, committer=main)
    await store.disable_sink("ops", SinkDisabled("http 410: gone", time.time(), "f"))
    async with web_client(store, sinks=OPS) as client:
        letters = await listed(client)
        assert sorted(d["id"] for d in letters) == sorted(ids)
        first = letters[0]
        assert first["type"] == "conference.started"
        assert first["reason"] == "http 410: gone"
        assert first["attempts"] == 4
        assert first["dead_at"].endswith("Z")
        assert first["event"]["id"] == first["id"]
        assert first["event"]["data"]["source"] == "main"

        async with client.post(f"{BASE}/replay", json={"ids": [ids[0]]}) as response:
            assert (await response.json()) == {"replayed": 1}
        assert await store.sink_disabled("ops") is None  # replaying enables, as dlq does
        assert ids[0] not in {d["id"] for d in await listed(client)}
        async with client.post(f"{BASE}/replay", json={"ids": ["evt_unknown"]}) as response:
            assert (await response.json()) == {"replayed": 0}
        async with client.post(f"{BASE}/replay") as response:  # no body: all
            assert (await response.json()) == {"replayed": 2}
        assert await listed(client) == []
        async with client.post(f"{BASE}/purge") as response:
            assert (await response.json()) == {"purged": 0}


async def test_purge_forgets_the_ids_named_and_keeps_the_rest(make_store: StoreFactory) -> None:
    store = make_store()
    ids = await bury(store, 1, 2, 3)
    async with web_client(store, sinks=OPS) as client:
        named = {"ids": [ids[0], ids[2], "evt_unknown"]}
        async with client.post(f"{BASE}/purge", json=named) as response:
            assert (await response.json()) == {"purged": 2}
        assert [d["id"] for d in await listed(client)] == [ids[1]]
        async with client.post(f"{BASE}/purge", json={"ids": "all"}) as response:
            assert response.status == 400
        async with client.post(f"{BASE}/purge", json={}) as response:  # no ids: all
            assert (await response.json()) == {"purged": 1}
        assert await listed(client) == []


async def test_unknown_sinks_and_bad_bodies(make_store: StoreFactory) -> None:
    async with web_client(make_store(), sinks=OPS) as client:
        for method, path in (
            ("GET", "/api/v1/sinks/nope/dead-letters"),
            ("POST", "/api/v1/sinks/nope/dead-letters/replay"),
            ("POST", "/api/v1/sinks/nope/dead-letters/purge"),
        ):
            async with client.request(method, path) as response:
                assert response.status == 404
                assert "nope" in (await response.json())["error"]
        for body, named in (("{", "body"), ("[1]", "body"), ('{"ids": "x"}', "ids")):
            async with client.post(f"{BASE}/replay", data=body) as response:
                assert response.status == 400
                assert (await response.json())["error"].startswith(named)


async def test_posts_from_another_site_are_refused(make_store: StoreFactory) -> None:
    store = make_store()
    await bury(store, 1)
    async with web_client(store, sinks=OPS) as client:
        own = f"http://{client.host}:{client.port}"
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site", "Origin": own},
        ):
            for action in ("replay", "purge"):
                async with client.post(f"{BASE}/{action}", headers=headers) as response:
                    assert response.status == 403, headers
        assert len(await listed(client)) == 1  # nothing happened
        headers = {"Origin": own, "Sec-Fetch-Site": "same-origin"}
        async with client.post(f"{BASE}/purge", headers=headers) as response:
            assert (await response.json()) == {"purged": 1}


async def test_the_token_is_required_when_set(make_store: StoreFactory) -> None:
    store = make_store()
    await bury(store, 1)
    async with web_client(store, sinks=OPS, api_token=TOKEN) as client:
        for method, path in (("GET", BASE), ("POST", f"{BASE}/replay"), ("POST", f"{BASE}/purge")):
            async with client.request(method, path) as response:
                assert response.status == 401
            async with client.request(method, path, params={"access_token": TOKEN}) as response:
                assert response.status == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with client.post(f"{BASE}/purge", headers=auth) as response:
            assert (await response.json()) == {"purged": 1}
