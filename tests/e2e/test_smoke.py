"""The service in one piece: a conference goes live and ends, and a webhook hears both."""

from __future__ import annotations

import aiohttp

from monitor.simulator import Simulator
from tests.support.receiver import Receiver
from tests.support.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)


async def test_live_then_ended_reaches_the_webhook(redis_url: str) -> None:
    async with Simulator() as sim, Receiver() as hook:
        settings = settings_for(
            (source_config(sim.url),), (webhook_config(hook.url),), state_url=redis_url
        )
        async with running(settings) as service, aiohttp.ClientSession() as http:
            conf = sim.world.create_conference(title="Algebra")
            await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
            sim.world.start(conf.id)
            (started,) = await hook.wait_for(1)
            live = await until(
                lambda: get_json(http, f"{service.url}/api/v1/live"),
                lambda r: r["sources"][0]["count"] == 1,
            )
            assert [c["id"] for c in live["sources"][0]["conferences"]] == [conf.id]
            sim.world.end(conf.id)
            _, ended = await hook.wait_for(2)
            # The API shows this replica's view; it catches up with the commit within a moment.
            await until(
                lambda: get_json(http, f"{service.url}/api/v1/live"),
                lambda r: r["sources"][0]["count"] == 0,
            )
    assert started.json["type"] == "conference.started"
    assert started.json["data"]["conference"]["title"] == "Algebra"
    assert ended.json["type"] == "conference.ended"
    assert ended.json["data"]["reason"] == "ended"
    assert ended.json["data"]["ended_at"] is not None
    assert ended.event_id != started.event_id
