"""``GET /api/v1/events`` on both stores: newest first, each event as delivered plus its id,
``limit``, ``since`` (an id or a time), repeatable ``type`` and ``source``, and a 400 that
names a bad parameter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from monitor.store.roles import Store
from tests.support.delivery_helpers import StoreFactory
from tests.support.factories import NOW
from tests.support.history_helpers import Committer, web_client


async def events(client: TestClient[Any, Any], query: str = "") -> list[dict[str, Any]]:
    async with client.get(f"/api/v1/events{query}") as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    assert isinstance(body["events"], list)
    return body["events"]


async def test_newest_first_as_delivered_with_the_id(make_store: StoreFactory) -> None:
    store = make_store()
    main, other = Committer(store), Committer(store, "other")
    first = await main.start(1)
    second = await other.start(2)
    async with web_client(store) as client:
        found = await events(client)
        assert [e["id"] for e in found] == [*second, *first]
        newest = found[0]
        assert set(newest) == {"id", "type", "timestamp", "data"}
        (kept,) = await store.history(1)
        assert {k: v for k, v in newest.items() if k != "id"} == json.loads(kept.body)
        assert newest["type"] == "conference.started"


async def test_limit_type_and_source(make_store: StoreFactory) -> None:
    store = make_store()
    main, other = Committer(store), Committer(store, "other")
    await main.start(1, 2, 3)
    await other.start(4)
    await main.poll(1, 2)  # 3 ended
    async with web_client(store) as client:
        assert len(await events(client, "?limit=2")) == 2
        assert len(await events(client)) == 5
        ended = await events(client, "?type=conference.ended")
        assert [e["type"] for e in ended] == ["conference.ended"]
        both = await events(client, "?type=conference.ended&type=conference.started")
        assert len(both) == 5
        assert {e["data"]["source"] for e in await events(client, "?source=other")} == {"other"}
        assert len(await events(client, "?source=other&source=main&limit=1000")) == 5
        assert await events(client, "?source=nowhere") == []


async def test_since_an_event_id_or_a_time(make_store: StoreFactory) -> None:
    store = make_store()
    main = Committer(store)
    (first,) = await main.start(1)
    later = await main.start(2, 3)
    async with web_client(store) as client:
        newer = await events(client, f"?since={first}")
        assert [e["id"] for e in newer] == list(reversed(later))
        assert await events(client, f"?since={later[-1]}") == []
        # the made-up polls detect at NOW; a time is compared with the detection time
        past = (NOW - timedelta(hours=1)).isoformat()
        assert len(await events(client, "?since=" + past.replace("+", "%2B"))) == 3
        assert await events(client, f"?since={NOW:%Y-%m-%dT%H:%M:%SZ}") == []
        future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
        assert await events(client, f"?since={future}") == []  # naive: UTC


async def test_bad_values_are_400_naming_them(make_store: StoreFactory) -> None:
    store: Store = make_store()
    await Committer(store).start(1)
    async with web_client(store) as client:
        for query, named in (
            ("?limit=0", "limit"),
            ("?limit=1001", "limit"),
            ("?limit=ten", "limit"),
            ("?limit=-1", "limit"),
            ("?since=", "since"),
            ("?since=evt_not_in_history", "since"),
            ("?type=", "type"),
            ("?source=", "source"),
        ):
            async with client.get(f"/api/v1/events{query}") as response:
                assert response.status == 400, query
                body = await response.json()
                assert body["error"].startswith(f"{named}:"), (query, body)
