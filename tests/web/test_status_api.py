"""``GET /api/v1/status`` with the whole service: each source's polls and watch, each sink's
health (a disabled one named), this replica's name; and no secret in it (invariant 6)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import aiohttp

from monitor.core.secret import Secret
from monitor.simulator import Simulator, World
from monitor.store.memory import MemoryStore
from monitor.store.values import SinkDisabled
from tests.support.receiver import Receiver
from tests.support.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)

HOOK_SECRET = "hook-path-Yt61"


async def test_sources_and_sinks(hook: Receiver) -> None:
    store = MemoryStore()
    gone_url = f"{hook.url}/other"
    fingerprint = hashlib.sha256(gone_url.encode()).hexdigest()[:16]  # as sink_switch keeps it
    why = SinkDisabled("http 410: endpoint gone", time.time(), fingerprint)
    await store.disable_sink("gone", why)
    sinks = (
        webhook_config(f"{hook.url}/{HOOK_SECRET}"),
        webhook_config(gone_url, name="gone"),
    )
    async with Simulator() as sim:
        settings = settings_for((source_config(sim.url),), sinks)
        async with (
            running(settings, store=store, replica="status-a") as service,
            aiohttp.ClientSession() as http,
        ):
            url = f"{service.url}/api/v1/status"
            body = await until(
                lambda: get_json(http, url),
                lambda b: b["sources"][0]["last_successful_poll"] is not None,
            )
            text = await (await http.get(url)).text()
    (source,) = body["sources"]
    assert source["name"] == "main"
    assert source["polled_here"] is True
    assert source["last_successful_poll"].endswith("Z")
    assert source["interval"] == settings.poll_interval
    assert source["failing"] is None
    assert source["error"] is None
    assert source["coverage"] is None
    assert source["watch"] is None  # no accounts: no watch of an institution
    by_name = {sink["name"]: sink for sink in body["sinks"]}
    assert by_name["ops"] == {
        "name": "ops",
        "type": "webhook",
        "up": True,
        "backlog": 0,
        "dead_letters": 0,
        "disabled": None,
        "failing": None,
    }
    assert by_name["gone"]["up"] is False
    assert by_name["gone"]["disabled"] == "http 410: endpoint gone"
    assert body["replica"] == "status-a"
    assert body["standby"] is None
    assert HOOK_SECRET not in text
    assert "sim-token" not in text


def settled(watch: dict[str, Any] | None) -> bool:
    """Discovery done, and a step has placed the courses it found in their tiers."""
    if watch is None or (watch["discovered_courses"] or 0) < 3:
        return False
    return bool(sum(watch["tiers"].values()) >= 3 and watch["requests_per_second"])


async def test_a_source_that_watches_an_institution(http: aiohttp.ClientSession) -> None:
    async with Simulator(World()) as sim:
        for course in (5001, 5002, 5003):
            sim.world.add_course(course, name=f"Course {course}", course_code=f"C-{course}")
        source = source_config(sim.url, token=Secret("admin-token"), accounts=(1,))
        async with running(settings_for((source,))) as service:
            url = f"{service.url}/api/v1/status"
            body = await until(
                lambda: get_json(http, url),
                lambda b: settled(b["sources"][0]["watch"]),
            )
    watch = body["sources"][0]["watch"]
    assert set(watch["tiers"]) == {"live", "pinned", "waiting", "quiet", "dormant"}
    assert sum(watch["tiers"].values()) >= 3
    assert watch["rate_limit"] == source.rate_limit
    assert watch["requests_per_second"] > 0
    assert watch["sweep_period"] is None or watch["sweep_period"] > 0
