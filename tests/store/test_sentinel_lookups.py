"""Concurrent lookups of the primary keep every sentinel: the order of the sentinels (the one
that answered is asked first next time) is changed by where a sentinel is now, not where it was
when a lookup reached it. Regression: a swap by a stale index put one sentinel in the list
twice and lost another, whose connections were then never closed.

The sentinels' answers are scripted per client, because the race needs one lookup's answer to
arrive while another lookup is between its question and its answer, which real sentinels do not
produce on demand; ``test_redis_sentinel`` runs real ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from monitor.store.redis.sentinel import Sentinels

PRIMARY = {"ip": "127.0.0.1", "port": 6390, "is_master": True, "is_sdown": False}
UP = {**PRIMARY, "is_odown": False, "num-other-sentinels": 2}


async def test_concurrent_lookups_keep_each_sentinel_once() -> None:
    group = Sentinels([("127.0.0.1", port) for port in (26001, 26002, 26003)])
    first, second, third = group.sentinels
    calls = {"third": 0}

    async def down() -> Any:
        raise RedisConnectionError("down")

    async def third_answers() -> Any:  # slowly to the first lookup, at once to the second
        calls["third"] += 1
        if calls["third"] == 1:
            await asyncio.sleep(0.05)
        return {"mymaster": UP}

    for client, answer in ((first, down), (second, down), (third, third_answers)):
        client.sentinel_masters = answer  # type: ignore[method-assign]

    slow = asyncio.create_task(group.discover_master("mymaster"))
    await asyncio.sleep(0.01)  # the slow lookup waits on the third sentinel
    assert await group.discover_master("mymaster") == ("127.0.0.1", 6390)
    assert await slow == ("127.0.0.1", 6390)

    assert group.sentinels[0] is third  # the one that answered is asked first
    assert sorted(map(id, group.sentinels)) == sorted(map(id, (first, second, third)))
    await group.aclose()
